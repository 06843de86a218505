// Binding stored tensors to parameters. A parameter may be stored under its module-tree name, as
// its family's rule says (per expert, or as equal parts concatenated along the first dim), or
// either of those under a renamed prefix; the first way whose every tensor exists wins.
#include "frontend/bind_checkpoint.h"

#include <algorithm>

#include "support/strings.h"

namespace tpc {
namespace {

// One stored tensor a way of storing a parameter needs.
struct Want {
  std::string name;
  int expert = -1;
  int64_t offset = 0;
  std::vector<int64_t> shape;
};
using Candidate = std::vector<Want>;

// True when `name` is `pattern` with "{layer}" standing for a decimal index, which goes to *layer.
bool MatchLayer(std::string_view pattern, std::string_view name, std::string* layer) {
  size_t at = pattern.find("{layer}");
  layer->clear();
  if (at == std::string_view::npos) return pattern == name;
  std::string_view head = pattern.substr(0, at), tail = pattern.substr(at + 7);
  if (name.size() <= head.size() + tail.size() || !StartsWith(name, head) || !EndsWith(name, tail)) return false;
  std::string_view digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  layer->assign(digits);
  return true;
}

std::string Fill(const std::string& pattern, const std::string& layer, int64_t expert) {
  std::string s = ReplaceAll(pattern, "{layer}", layer);
  return expert >= 0 ? ReplaceAll(std::move(s), "{expert}", std::to_string(expert)) : s;
}

bool IsFloat(const std::string& dtype) {
  return dtype == "BF16" || dtype == "F16" || dtype == "F32" || dtype == "F64";
}
bool IsFp8(const std::string& dtype) { return dtype == "F8_E4M3" || dtype == "F8_E5M2"; }

class Binder {
 public:
  Binder(const ModelGraph& m, CheckpointBinding& b)
      : m_(m), b_(b), ck_(b.checkpoint), claimed_(b.checkpoint.tensors.size(), 0) {}

  void Run() {
    const std::vector<Module>& mods = m_.modules();
    b_.pieces.resize(mods.size());
    for (size_t i = 0; i < mods.size(); ++i) {
      b_.pieces[i].resize(mods[i].params.size());
      if (mods[i].is_virtual) continue;
      for (size_t p = 0; p < mods[i].params.size(); ++p) Bind(static_cast<int>(i), static_cast<int>(p));
    }
    BindPerHead();
    PairScales();
    for (size_t t = 0; t < ck_.tensors.size(); ++t)
      if (!claimed_[t]) b_.extras.push_back({static_cast<int>(t), ExtraWhat(ck_.tensors[t].name)});
  }

 private:
  const ModelGraph& m_;
  CheckpointBinding& b_;
  const Checkpoint& ck_;
  std::vector<char> claimed_;

  // The ways `tree` of `shape` may be stored, most likely first.
  std::vector<Candidate> Candidates(const std::string& tree, const std::vector<int64_t>& shape) const {
    std::vector<Candidate> out;
    out.push_back({{tree, -1, 0, shape}});
    for (const StoredNames::Rule& r : m_.stored_names.rules) {
      std::string layer;
      if (!MatchLayer(r.tree, tree, &layer)) continue;
      size_t split = r.per_expert ? 1 : 0;  // the dim the stored tensors divide
      int64_t k = static_cast<int64_t>(r.stored.size());
      if (shape.size() <= split || shape[split] % k != 0) break;
      std::vector<int64_t> piece(shape.begin() + static_cast<std::ptrdiff_t>(split), shape.end());
      piece[0] = shape[split] / k;
      int64_t experts = r.per_expert ? shape[0] : 1;
      // More tensors than the checkpoint holds cannot all be there: name the first only.
      if (experts * k > static_cast<int64_t>(ck_.tensors.size())) experts = 1, k = 1;
      Candidate c;
      for (int64_t e = 0; e < experts; ++e)
        for (int64_t j = 0; j < k; ++j)
          c.push_back({Fill(r.stored[j], layer, r.per_expert ? e : -1), r.per_expert ? static_cast<int>(e) : -1,
                       j * piece[0], piece});
      out.push_back(std::move(c));
      break;
    }
    size_t own = out.size();
    for (const StoredNames::Prefix& p : m_.stored_names.prefixes)
      for (size_t i = 0; i < own; ++i) {
        if (!StartsWith(out[i][0].name, p.tree)) continue;
        Candidate c = out[i];
        for (Want& w : c)
          if (StartsWith(w.name, p.tree)) w.name = p.stored + w.name.substr(p.tree.size());
        out.push_back(std::move(c));
      }
    return out;
  }

  size_t Present(const Candidate& c) const {
    size_t n = 0;
    for (const Want& w : c) n += ck_.Find(w.name) >= 0;
    return n;
  }

  void Bind(int mod, int p) {
    const Module& module = m_.modules()[mod];
    const Param& param = module.params[p];
    std::string tree = module.name + "." + param.name;
    std::vector<Candidate> cands = Candidates(tree, param.shape);
    const Candidate* chosen = nullptr;
    const Candidate* closest = &cands[0];
    size_t best = 0;
    for (const Candidate& c : cands) {
      size_t n = Present(c);
      if (n == c.size()) {
        chosen = &c;
        break;
      }
      if (n > best) best = n, closest = &c;
    }
    if (!chosen) {
      if (module.tied_to >= 0) return;  // a tied lm_head reads the embedding's tensor
      BindingProblem pr{BindingProblem::kMissing, mod, p};
      auto missing = std::find_if(closest->begin(), closest->end(), [&](const Want& w) { return ck_.Find(w.name) < 0; });
      pr.stored = missing->name;
      for (const Candidate& c : cands)
        if (&c != closest && c[0].name != pr.stored) {
          pr.also = c[0].name;
          break;
        }
      pr.expected = missing->shape;
      b_.problems.push_back(std::move(pr));
      return;
    }
    bool shape_reported = false;
    for (const Want& w : *chosen) {
      int t = ck_.Find(w.name);
      if (claimed_[t]) continue;  // a rule and the tree name naming one tensor twice
      claimed_[t] = 1;
      b_.pieces[mod][p].push_back({t, w.expert, w.offset});
      const StoredTensor& st = ck_.tensors[t];
      if (st.shape != w.shape && !shape_reported) {
        shape_reported = true;
        b_.problems.push_back({BindingProblem::kShape, mod, p, st.name, "", w.shape, st.shape, ""});
      }
      CheckDtype(mod, p, st);
    }
  }

  void CheckDtype(int mod, int p, const StoredTensor& st) {
    const std::string& method = m_.quant.method;
    if (!method.empty() && method != "fp8") return;  // unsupported-quantization says why
    std::string why;
    if (IsFp8(st.dtype) && method.empty())
      why = "an FP8 weight, but config.json has no quantization_config to say how it is scaled";
    else if (!IsFloat(st.dtype) && !IsFp8(st.dtype))
      why = "not a floating-point dtype, so it cannot hold this parameter";
    if (!why.empty()) b_.problems.push_back({BindingProblem::kDtype, mod, p, st.name, "", {}, {}, why});
  }

  // Tensors with one row per query head, found for each attention module the rule names.
  void BindPerHead() {
    const std::vector<Module>& mods = m_.modules();
    for (const StoredNames::PerHead& rule : m_.stored_names.per_head)
      for (size_t a = 0; a < mods.size(); ++a) {
        const Module& att = mods[a];
        if (att.kind != ModuleKind::kAttention || att.layer < 0) continue;
        std::string layer = std::to_string(att.layer);
        if (!EndsWith(att.name, "." + layer + "." + rule.attention)) continue;
        std::string name = Fill(rule.stored, layer, -1);
        int t = ck_.Find(name);
        if (t < 0 || claimed_[t]) {
          if (t < 0)
            b_.problems.push_back({BindingProblem::kMissing, static_cast<int>(a), -1, name, "", {att.heads}, {}, ""});
          continue;
        }
        claimed_[t] = 1;
        b_.per_head.push_back({t, static_cast<int>(a)});
        if (ck_.tensors[t].shape != std::vector<int64_t>{att.heads})
          b_.problems.push_back({BindingProblem::kShape, static_cast<int>(a), -1, name, "", {att.heads},
                                 ck_.tensors[t].shape, ""});
      }
  }

  // FP8 block quantisation: X.weight_scale_inv holds one scale per block of X.weight.
  void PairScales() {
    const std::vector<int64_t>& block = m_.quant.weight_block;
    if (m_.quant.method != "fp8" || block.size() != 2) return;
    static constexpr std::string_view kSuffix = ".weight_scale_inv";
    for (size_t t = 0; t < ck_.tensors.size(); ++t) {
      const StoredTensor& scale = ck_.tensors[t];
      if (claimed_[t] || !EndsWith(scale.name, kSuffix)) continue;
      int w = ck_.Find(scale.name.substr(0, scale.name.size() - kSuffix.size()) + ".weight");
      if (w < 0 || !claimed_[w]) continue;
      claimed_[t] = 1;
      b_.scales.push_back({static_cast<int>(t), w, block});
      const std::vector<int64_t>& ws = ck_.tensors[w].shape;
      std::vector<int64_t> want = ws;
      for (size_t d = ws.size() >= 2 ? ws.size() - 2 : 0, k = 0; d < ws.size(); ++d, ++k)
        want[d] = (ws[d] + block[k] - 1) / block[k];
      if (scale.shape != want)
        b_.problems.push_back({BindingProblem::kScaleShape, -1, -1, scale.name, ck_.tensors[w].name, want, scale.shape,
                               "one F32 scale per " + ShapeText(block) + " block of " + ShapeText(ws)});
    }
    std::vector<char> scaled(ck_.tensors.size(), 0);
    for (const StoredScale& s : b_.scales) scaled[s.weight] = 1;
    for (size_t t = 0; t < ck_.tensors.size(); ++t) {
      if (!claimed_[t] || !IsFp8(ck_.tensors[t].dtype)) continue;
      if (!scaled[t])
        b_.problems.push_back({BindingProblem::kDtype, -1, -1, ck_.tensors[t].name, "", {}, {},
                               "an FP8 weight without its '" + ck_.tensors[t].name.substr(0, ck_.tensors[t].name.rfind('.')) +
                                   ".weight_scale_inv' block scales"});
    }
  }

  std::string ExtraWhat(const std::string& name) const {
    for (const StoredNames::Extra& e : m_.stored_names.extras)
      if (StartsWith(name, e.prefix)) return e.what;
    return "unknown";
  }
};

}  // namespace

CheckpointBinding BindCheckpoint(const ModelGraph& model, Checkpoint checkpoint) {
  CheckpointBinding b;
  b.checkpoint = std::move(checkpoint);
  Binder(model, b).Run();
  return b;
}

}  // namespace tpc
