// insert-redistributions: walks the dataflow in forward order and applies each module's layout rule
// (passes/layout_rules.cc) to the layouts the runtime really has: wherever what arrives differs from
// what a module computes in, or what its maths produces from what it hands on, the reshard is
// lowered as DTensor does (sota.md §1.2): P->R all-reduce, P->S reduce-scatter, S->R all-gather,
// S(i)->S(j) all-to-all, R->S a local slice. The check passes have already proven the plan
// consistent, so every reshard here is one the runtime really performs. Under --sp (NeMo's
// rewrite, automodel.md §1.7) the residual stream is Shard(1): reductions feeding it become
// reduce-scatters and whatever needs whole sequences (the projections, attention, the router,
// lm_head) gets one all-gather per activation.
#include <map>
#include <set>
#include <tuple>

#include "passes/layout_rules.h"
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

class Redistributor {
 public:
  Redistributor(const Lowering& l, Program& p, Diagnostics& diags)
      : l_(l), p_(p), diags_(diags), mods_(l.mods), sp_(l.opts.sequence_parallel) {}

  void Run() {
    out_.assign(mods_.size(), R);
    for (int m : l_.order) Visit(m);
  }

 private:
  const Lowering& l_;
  Program& p_;
  Diagnostics& diags_;
  const std::vector<Module>& mods_;
  bool sp_;
  std::vector<Layout> out_;    // per module: the layout its consumers receive before their own reshard
  std::map<std::tuple<int, Layout, int>, int> resharded_;  // (producer, layout, own hook) -> collective or -1
  std::set<std::string> reported_;

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
    // An uneven last-dim split (a release that runs uneven shards): every piece is padded to the
    // largest for the collective and trimmed after it.
    int64_t tp = l_.a.opts.tp;
    if ((from == S || to == S) && tp > 1 && width % tp != 0) c.padded_elements_per_token = (width + tp - 1) / tp * tp;
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

  // Where a DTensor style's input hook redistributes nothing although what arrives is not what it
  // declares (declared == desired): a plain tensor is re-wrapped as the declared layout unchecked,
  // and a sequence-sharded DTensor stops DTensor's flatten ("Attempted to flatten sharded dimension
  // 1", Automodel #652). No collective runs; propagate-placements has reported the plan. Other DTensor
  // mismatches are redistributed by DTensor's own op rules, as Reshard lowers them.
  static bool Unchecked(const Behaviour& b, const Activation& x, Layout need) {
    return b.styled && b.rewraps && b.in == need && x.layout != need && (x.local || x.layout == Q);
  }

  void Visit(int m) {
    const Module& mod = mods_[m];
    Behaviour b = BehaviourOf(l_.a, m);
    ModuleStep step;
    step.module = m;
    std::vector<Activation> in;
    for (int producer : mod.inputs) in.push_back({out_[producer], l_.a.output[producer].local, producer});
    LayoutStep rule = ApplyRule(l_.a, m, in);
    for (size_t i = 0; i < in.size(); ++i) {
      Layout have = in[i].layout, need = rule.need[i];
      if (Unchecked(b, in[i], need)) {  // a rejected plan (tpc verify): the tensor goes in as it is
        p_.edges.push_back({in[i].producer, m, have, -1});
        continue;
      }
      bool own_hook = b.styled && b.rewraps && b.in == have && have != need;
      int c = ReshardInput(in[i].producer, m, have, need, own_hook, step);
      p_.edges.push_back({in[i].producer, m, need, c});
    }
    step.in = rule.need.empty() ? R : rule.need[0];
    Layout raw = rule.raw;
    if (l_.HasLora(m)) Lora(m, step);
    Layout t = SequenceParallel(m, raw, rule.out);
    step.output_sliced = raw == R && (t == S || t == Q);
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
    int c = ReducingBlockLeft(l_.a, m);
    if (c < 0 || !ReducesOnce(c, {t, true, m}, nullptr)) return t;  // the check reported a non-partial one
    Layout to = SequenceParallel(m, P, R);
    int k = Reshard(mods_[c].name, FirstUser(m), mods_[m].layer, P, to, l_.width[m], step);
    if (k >= 0) step.collectives.push_back(k);
    return to;
  }

};

}  // namespace

bool InsertRedistributions(const Lowering& l, Program& p, Diagnostics& diags) {
  int before = diags.errors();
  Redistributor(l, p, diags).Run();
  return diags.errors() == before;
}

}  // namespace tpc
