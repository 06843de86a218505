// insert-redistributions: walks the dataflow in forward order with one rule per module kind. Each
// module states the layout it computes in (Need), what its maths produces (Raw) and what its style
// hands on (Target); wherever two differ, the reshard is lowered as DTensor does (sota.md §1.2):
// P->R all-reduce, P->S reduce-scatter, S->R all-gather, S(i)->S(j) all-to-all, R->S a local slice.
// The check passes have already proven the plan consistent, so every reshard here is one the
// runtime really performs. Under --sp (NeMo's rewrite, automodel.md §1.7) the residual stream is
// Shard(1): reductions feeding it become reduce-scatters and whatever needs whole sequences (the
// projections, attention, the router, lm_head) gets one all-gather per activation.
#include <map>
#include <set>
#include <tuple>

#include "passes/lowering.h"

namespace tpc {
namespace {

using namespace layouts;  // R, S, Q, P

std::optional<CollectiveKind> KindFor(Layout from, Layout to) {
  if (from == P && to == R) return CollectiveKind::kAllReduce;
  if (from == P && (to == S || to == Q)) return CollectiveKind::kReduceScatter;
  if ((from == S || from == Q) && to == R) return CollectiveKind::kAllGather;
  if ((from == S && to == Q) || (from == Q && to == S)) return CollectiveKind::kAllToAll;
  return std::nullopt;
}

bool Weighted(ModuleKind k) {
  return k == ModuleKind::kLinear || k == ModuleKind::kEmbedding || k == ModuleKind::kRouter ||
         k == ModuleKind::kMixer;
}

class Redistributor {
 public:
  Redistributor(const Lowering& l, Program& p, Diagnostics& diags)
      : l_(l), p_(p), diags_(diags), mods_(l.mods), sp_(l.opts.sequence_parallel) {}

  void Run() {
    out_.assign(mods_.size(), R);
    for (size_t c = 0; c < mods_.size(); ++c)
      if (mods_[c].kind == ModuleKind::kContainer && BehaviourOf(l_.a, static_cast<int>(c)).reduces)
        reducing_.push_back(static_cast<int>(c));
    for (int m : l_.order) Visit(m);
  }

 private:
  const Lowering& l_;
  Program& p_;
  Diagnostics& diags_;
  const std::vector<Module>& mods_;
  bool sp_;
  std::vector<Layout> out_;    // per module: the layout its consumers receive before their own reshard
  std::vector<int> reducing_;  // containers whose style reduces their output (gather, moe_tp_experts)
  std::map<std::tuple<int, Layout, int>, int> resharded_;  // (producer, layout, own hook) -> collective or -1
  std::set<std::string> reported_;

  Layout Need(int m, Layout have, const Behaviour& b, bool any_seq) const {
    const Module& mod = mods_[m];
    bool active = b.styled && !b.passthrough;
    switch (mod.kind) {
      case ModuleKind::kLinear:
      case ModuleKind::kEmbedding:
      case ModuleKind::kRouter:
      case ModuleKind::kMixer:
        if (active) return mod.kind == ModuleKind::kLinear && b.split == WeightSplit::kIn ? S : R;
        return have == Q ? R : have;
      case ModuleKind::kNorm: return active && b.in == Q ? Q : have;
      case ModuleKind::kAttention: return have == Q ? R : have;
      case ModuleKind::kAdd: return any_seq && have == R ? Q : have;
      case ModuleKind::kExperts: return R;
      case ModuleKind::kMul:
      case ModuleKind::kContainer: break;
    }
    return have;
  }

  Layout Raw(int m, const std::vector<Layout>& in, const Behaviour& b) const {
    const Module& mod = mods_[m];
    Layout first = in.empty() ? R : in[0];
    switch (mod.kind) {
      case ModuleKind::kLinear:
        if (!b.styled || b.passthrough) return first;
        return b.split == WeightSplit::kOut ? S : b.split == WeightSplit::kIn ? P : R;
      case ModuleKind::kEmbedding: {
        if (mod.params.empty()) return R;
        Placement w = l_.a.ParamPlacementOf(m, 0);
        if (w.kind != Placement::kShard) return R;
        return w.dim == 0 ? P : S;  // vocab rows give masked partial sums; hidden columns a slice
      }
      case ModuleKind::kExperts:
        for (size_t i = 0; i < mod.params.size(); ++i)
          if (l_.a.ParamPlacementOf(m, static_cast<int>(i)).kind == Placement::kShard) return P;
        return R;
      case ModuleKind::kAdd: {
        bool all_partial = !in.empty();
        for (Layout x : in) all_partial &= x == P;
        return all_partial ? P : first;
      }
      case ModuleKind::kRouter:
      case ModuleKind::kMixer: return R;
      default: return first;
    }
  }

  Layout Target(int m, Layout raw, const Behaviour& b) const {
    const Module& mod = mods_[m];
    Layout t = raw;
    if (b.styled && !b.passthrough && Weighted(mod.kind)) t = b.out;
    // A sequence-parallel norm style hands on what it declares (NeMo's all-gathering variant: R).
    if (b.styled && !b.passthrough && mod.kind == ModuleKind::kNorm && b.in == Q) t = b.out;
    if (mod.kind == ModuleKind::kExperts && b.reduces && raw == P) t = R;
    return SequenceParallel(m, raw, t);
  }

  // NeMo's SP: a replicated result that only feeds the residual stream is kept as sequence shards.
  Layout SequenceParallel(int m, Layout raw, Layout t) const {
    if (sp_ && t == R && (raw == P || raw == R) && l_.SequenceLocalUsers(m)) return Q;
    return t;
  }

  std::string FirstUser(int m) const { return l_.users[m].empty() ? "output" : mods_[l_.users[m][0]].name; }

  // Records the reshard of `producer`'s output from `from` to `to`; returns the collective's index,
  // or -1 when none runs (equal layouts, or a local slice).
  int Reshard(const std::string& after, const std::string& before, int layer, Layout from, Layout to,
              int64_t width, ModuleStep& step) {
    if (from == to) return -1;
    if (to == S || to == Q) {
      if (from == R) {
        step.local_slice = true;
        return -1;
      }
    }
    std::optional<CollectiveKind> kind = KindFor(from, to);
    if (!kind) {
      std::string key = GenericName(after) + "|" + GenericName(before);
      if (reported_.insert(key).second)
        diags_.Report(DiagId::kNoRedistribution, {l_.a.plan.file, 0, 0, 0},
                      {GenericName(after), GenericName(before), Describe(from), Describe(to)});
      return -1;
    }
    Collective c{*kind, after, before, layer, from, to, width, 0, 0, 0};
    p_.collectives.push_back(c);
    return static_cast<int>(p_.collectives.size()) - 1;
  }

  // Input side: one reshard per (producer, layout), shared by every consumer that needs it (NeMo's
  // all-gathering norms) -- unless the consumer's own DTensor style declares the input layout, whose
  // input hook redistributes for that module alone (torch ColwiseParallel(input_layouts=Shard(1))).
  int ReshardInput(int producer, int consumer, Layout from, Layout to, bool own_hook, ModuleStep& step) {
    auto key = std::make_tuple(producer, to, own_hook ? consumer : -1);
    if (auto it = resharded_.find(key); it != resharded_.end()) return it->second;
    int c = Reshard(mods_[producer].name, mods_[consumer].name, mods_[consumer].layer, from, to,
                    l_.width[producer], step);
    resharded_[key] = c;
    if (c >= 0) step.collectives.push_back(c);
    return c;
  }

  void Visit(int m) {
    const Module& mod = mods_[m];
    Behaviour b = BehaviourOf(l_.a, m);
    ModuleStep step;
    step.module = m;
    bool any_seq = false;
    for (int in : mod.inputs) any_seq |= out_[in] == Q;
    std::vector<Layout> in;
    for (int producer : mod.inputs) {
      Layout have = out_[producer];
      Layout need = Need(m, have, b, any_seq);
      bool own_hook = b.styled && b.rewraps && b.in == have && have != need;
      int c = ReshardInput(producer, m, have, need, own_hook, step);
      p_.edges.push_back({producer, m, need, c});
      in.push_back(need);
    }
    step.in = in.empty() ? R : in[0];
    Layout raw = Raw(m, in, b);
    if (l_.HasLora(m)) Lora(m, step);
    Layout t = Target(m, raw, b);
    int c = Reshard(mod.name, FirstUser(m), mod.layer, raw, t, l_.width[m], step);
    if (c >= 0) step.collectives.push_back(c);
    out_[m] = ReduceBlocks(m, t, step);
    step.out = out_[m];
    p_.steps.push_back(std::move(step));
  }

  // LoRA adapters: colwise all-gathers lora_A's rank-sharded output; rowwise reduce-scatters it.
  void Lora(int m, ModuleStep& step) {
    Placement w = l_.a.ParamPlacementOf(m, 0);
    if (w.kind != Placement::kShard) return;
    const Module& mod = l_.mods[m];
    std::string a = mod.name + ".lora_A";
    Layout from = w.dim == 0 ? S : P, to = w.dim == 0 ? R : S;
    int c = Reshard(a, mod.name + ".lora_B", mod.layer, from, to, l_.opts.lora_rank, step);
    if (c >= 0) step.collectives.push_back(c);
  }

  // A reducing style on a block (hf gather, moe_tp_experts) reduces what leaves the block.
  Layout ReduceBlocks(int m, Layout t, ModuleStep& step) {
    for (int c : reducing_) {
      if (t != P || !Inside(m, c)) continue;
      bool leaves = l_.users[m].empty();
      for (int u : l_.users[m]) leaves |= !Inside(u, c);
      if (!leaves) continue;
      Layout to = SequenceParallel(m, P, R);
      int k = Reshard(mods_[c].name, FirstUser(m), mods_[m].layer, P, to, l_.width[m], step);
      if (k >= 0) step.collectives.push_back(k);
      return to;
    }
    return t;
  }

  bool Inside(int m, int container) const {
    for (int p = mods_[m].parent; p >= 0; p = mods_[p].parent)
      if (p == container) return true;
    return false;
  }
};

}  // namespace

bool InsertRedistributions(const Lowering& l, Program& p, Diagnostics& diags) {
  int before = diags.errors();
  Redistributor(l, p, diags).Run();
  return diags.errors() == before;
}

}  // namespace tpc
