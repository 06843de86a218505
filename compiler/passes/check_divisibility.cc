// check-divisibility: every dimension the plan really splits must split evenly over tp. Heads are
// checked only where attention runs head-sharded (found by propagate-placements), so a plan that
// gathers attention (phi3) is not rejected for its head counts (NeMo's validate_tp_mesh is:
// Automodel #799). Vocab splits unevenly but legally (torch.chunk), so that is a warning.
#include <numeric>

#include "ir/program.h"
#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {

constexpr int64_t kMaxListedTp = 64;

std::string Sizes(const std::vector<int64_t>& v) { return v.empty() ? "none up to 64" : JoinInts(v); }

// The tp sizes up to 64 that satisfy `ok`.
template <typename F>
std::vector<int64_t> Working(F ok) {
  std::vector<int64_t> out;
  for (int64_t t = 1; t <= kMaxListedTp; ++t)
    if (ok(t)) out.push_back(t);
  return out;
}

std::string DimName(const Module& m, const Param& p, int dim) {
  bool experts = m.kind == ModuleKind::kExperts && p.shape.size() == 3;
  if (experts && dim == 0) return "the expert count";
  int rank = static_cast<int>(p.shape.size());
  std::string prefix = experts ? "per-expert " : "";
  if (p.name == "bias") return "the bias size";
  return prefix + (dim == rank - 2 ? "out_features" : "in_features");
}

}  // namespace

bool CheckDivisibility(const Analysis& a, Diagnostics& diags) {
  int before = diags.errors();
  const int64_t tp = a.opts.tp;
  if (tp <= 1) return true;
  const std::vector<Module>& mods = a.model.modules();

  // Heads, where attention really is head-sharded.
  std::vector<char> layer_head_sharded(std::max(a.model.num_layers, 0), 0);
  LayerAggregator heads;
  for (size_t m = 0; m < mods.size(); ++m) {
    const Module& att = mods[m];
    if (att.kind != ModuleKind::kAttention || !a.head_sharded[m]) continue;
    if (att.layer >= 0) layer_head_sharded[att.layer] = 1;
    // Point at the entries of the projections that feed it (q first, k for the kv heads).
    int q_entry = -1, kv_entry = -1;
    for (int in : att.inputs) {
      for (int src = in; src >= 0;) {
        int e = a.EntryFor(src);
        if (e >= 0) {
          if (q_entry < 0) q_entry = e;
          else if (kv_entry < 0) kv_entry = e;
          break;
        }
        src = mods[src].inputs.empty() ? -1 : mods[src].inputs[0];  // through q_norm / k_norm
      }
    }
    if (kv_entry < 0) kv_entry = q_entry;
    const int64_t h = att.heads, kv = att.kv_heads;
    const bool rep = a.opts.kv_replication;
    auto kv_ok = [&](int64_t t) { return kv % t == 0 || (rep && kv > 0 && kv < t && t % kv == 0); };
    auto works = Working([&](int64_t t) { return h % t == 0 && kv_ok(t); });
    if (h > 0 && h % tp != 0) {
      std::vector<Note> notes;
      if (auto it = a.model.field_locs.find("num_attention_heads"); it != a.model.field_locs.end())
        notes.push_back({it->second, "num_attention_heads is set here"});
      heads.Add("h|" + std::to_string(h), DiagId::kHeadsNotDivisible, a.EntryLoc(q_entry),
                {std::to_string(h), std::to_string(tp), "", Sizes(works)}, notes, att.layer);
    }
    if (kv > 0 && !kv_ok(tp)) {
      std::string how = (!rep && kv < tp && tp % kv == 0)
                            ? " (--kv-replication would replicate each KV head over " + std::to_string(tp / kv) + " ranks)"
                            : "";
      std::vector<Note> notes;
      if (auto it = a.model.field_locs.find("num_key_value_heads"); it != a.model.field_locs.end())
        notes.push_back({it->second, "num_key_value_heads is set here"});
      heads.Add("kv|" + std::to_string(kv), DiagId::kKvHeadsNotDivisible, a.EntryLoc(kv_entry),
                {std::to_string(kv), std::to_string(tp), how, Sizes(works)}, notes, att.layer);
    }
  }
  heads.Flush(diags, a.model.num_layers);

  // Every other split dimension, once per plan entry and size.
  LayerAggregator dims;
  for (size_t m = 0; m < mods.size(); ++m) {
    const Module& mod = mods[m];
    bool attn_proj = IsAttentionRole(mod.role) && mod.layer >= 0 && layer_head_sharded[mod.layer];
    for (size_t p = 0; p < mod.params.size(); ++p) {
      int entry = a.param_entry[m][p];
      const StyleInfo* s = a.EffectiveStyle(entry);
      Placement pl = a.ParamPlacementOf(static_cast<int>(m), static_cast<int>(p));
      if (!s || pl.kind != Placement::kShard) continue;
      const Param& param = mod.params[p];
      int64_t size = param.shape[pl.dim];
      auto where_fn = [&] { return GenericName(mod.name + (param.name == "weight" ? "" : "." + param.name)); };
      SourceLoc loc = a.EntryLoc(entry);
      bool vocab = (mod.role == Role::kEmbed || mod.role == Role::kLmHead) && pl.dim == 0;
      if (vocab) {
        if (size % tp == 0) continue;
        int64_t chunk = ChunkRange(size, tp, 0).size();
        int64_t last = ChunkRange(size, tp, tp - 1).size();
        dims.Add("vocab|" + std::to_string(entry), DiagId::kVocabUneven, loc,
                 {std::to_string(size), std::to_string(tp), std::to_string(chunk), std::to_string(last)}, {}, -1);
        continue;
      }
      if (attn_proj && param.name == "weight") continue;  // the head check above covers it
      if (mod.kind == ModuleKind::kExperts && pl.dim == 0) {
        if (size % tp == 0) continue;
        dims.Add("ep|" + std::to_string(entry), DiagId::kExpertsNotDivisible, loc,
                 {std::to_string(size), std::to_string(tp), Sizes(Working([&](int64_t t) { return size % t == 0; }))},
                 {}, -1);
        continue;
      }
      if (s->packed && mod.segments.size() != 1 && size % 2 == 0) {
        // Packed styles take block r of each half: each half must split.
        int64_t half = size / 2;
        if (half % tp == 0) continue;
        std::string where = where_fn();
        dims.Add("packed|" + std::to_string(entry) + "|" + std::to_string(half), DiagId::kDimNotDivisible, loc,
                 {"each packed half", where, std::to_string(half), std::to_string(tp),
                  Sizes(Working([&](int64_t t) { return half % t == 0; }))},
                 {}, -1);
        continue;
      }
      if (size % tp == 0) continue;
      std::string where = where_fn();
      dims.Add("dim|" + std::to_string(entry) + "|" + where + "|" + std::to_string(size), DiagId::kDimNotDivisible,
               loc,
               {DimName(mod, param, pl.dim), where, std::to_string(size), std::to_string(tp),
                Sizes(Working([&](int64_t t) { return size % t == 0; }))},
               {}, -1);
    }
  }
  dims.Flush(diags, a.model.num_layers);
  return diags.errors() == before;
}

}  // namespace tpc
