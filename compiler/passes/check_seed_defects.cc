// check-seed-defects: what the seed plans get wrong in ways the other passes do not see, kept
// faithful in plans/ and reported here (automodel.md §1.8, §2.3, §5): a plan that ignores a
// requested SP, all-gathered logits, VocabParallelEmbedding's mask fixup on uneven vocabularies,
// and plan keys NeMo's MoE path refuses.
#include <set>

#include "ir/program.h"
#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {

// Tokens per rank the logits memory is quoted for (the cost model's default batch).
constexpr int64_t kLogitTokens = 4096;

void SpIgnored(const Analysis& a, Diagnostics& diags) {
  if (!a.opts.sequence_parallel || a.opts.tp <= 1 || a.plan.meta.sp_mode != SpMode::kIgnored) return;
  std::string who = a.plan.meta.name.empty() ? "this plan" : a.plan.meta.name;
  diags.Report(DiagId::kSpIgnored, {a.plan.file, 0, 0, 0}, {who});
}

// Torch plans only: there a Shard(-1) DTensor output (loss_parallel) is the alternative; the HF
// runtimes have none and always gather.
void ReplicatedLogits(const Analysis& a, Diagnostics& diags) {
  if (a.opts.tp <= 1 || a.opts.dialect != Dialect::kTorch) return;
  const std::vector<Module>& mods = a.model.modules();
  for (size_t m = 0; m < mods.size(); ++m) {
    if (mods[m].role != Role::kLmHead || mods[m].params.empty()) continue;
    Behaviour b = BehaviourOf(a, static_cast<int>(m));
    if (!b.styled || b.split != WeightSplit::kOut || b.out != Layout::kReplicate) continue;
    std::string dtype = a.model.dtype.empty() || !DtypeBytes(a.model.dtype) ? "bfloat16" : a.model.dtype;
    int64_t vocab = mods[m].params[0].shape[0];
    double bytes = static_cast<double>(kLogitTokens) * vocab * DtypeBytes(dtype);
    diags.Report(DiagId::kReplicatedLogits, a.EntryLoc(a.EntryFor(static_cast<int>(m))),
                 {mods[m].name, std::to_string(kLogitTokens), std::to_string(vocab), HumanBytes(bytes), dtype,
                  HumanBytes(bytes / a.opts.tp) + " per rank"});
  }
}

// The rows rank r holds under the balanced split NeMo's mask fixup assumes (the first V % tp ranks
// get one extra row); torch.chunk's (ChunkRange) gives every rank but the last ceil(V / tp).
RowRange BalancedRows(int64_t v, int64_t tp, int64_t r) {
  int64_t base = v / tp, rem = v % tp;
  int64_t begin = r * base + std::min(r, rem);
  return {begin, begin + base + (r < rem ? 1 : 0)};
}

void VpeMask(const Analysis& a, Diagnostics& diags) {
  const int64_t tp = a.opts.tp;
  if (tp <= 1) return;
  for (size_t e = 0; e < a.plan.entries.size(); ++e) {
    // NeMo's styles by name, as the seed's plans spell them (any other dialect lacks them anyway).
    const StyleInfo* style = FindStyle(Dialect::kTorch, a.plan.entries[e].style);
    if (!style || !style->vocab_mask) continue;
    for (const Match& match : a.matches[e]) {
      const Module& mod = a.model.at(match.module);
      if (mod.kind != ModuleKind::kEmbedding || mod.params.empty()) continue;
      int64_t v = mod.params[0].shape[0];
      if (v % tp == 0) continue;
      for (int64_t r = 0; r < tp; ++r) {
        RowRange c = ChunkRange(v, tp, r), b = BalancedRows(v, tp, r);
        if (c.begin == b.begin && c.end == b.end) continue;
        diags.Report(DiagId::kVpeMaskMismatch, a.EntryLoc(static_cast<int>(e)),
                     {mod.name, std::to_string(v), std::to_string(tp), std::to_string(r), std::to_string(c.begin),
                      std::to_string(c.end), std::to_string(b.begin), std::to_string(b.end)});
        break;
      }
      break;
    }
  }
}

// _is_unsafe_moe_tp_module_path: a segment names experts or the router, or the leaf is the whole
// MoE block.
bool UnsafeMoePath(const std::string& path) {
  static const std::set<std::string_view> kSegments = {"experts", "gate_and_up_projs", "down_projs",
                                                       "router",  "shared_expert_gate", "gate"};
  std::vector<std::string_view> segs = Split(path, '.');
  for (std::string_view s : segs)
    if (kSegments.count(s)) return true;
  return !segs.empty() && (segs.back() == "mlp" || segs.back() == "moe");
}

void MoeKeys(const Analysis& a, Diagnostics& diags) {
  if (a.opts.dialect != Dialect::kTorch || a.opts.tp <= 1) return;
  bool moe = false;
  for (const Module& m : a.model.modules()) moe |= m.kind == ModuleKind::kExperts || m.kind == ModuleKind::kRouter;
  if (!moe) return;
  for (size_t e = 0; e < a.plan.entries.size(); ++e)
    for (const Match& match : a.matches[e]) {
      const std::string& name = a.model.at(match.module).name;
      if (!UnsafeMoePath(name)) continue;
      diags.Report(DiagId::kMoeUnsafeKey, a.plan.entries[e].key_loc, {a.full_keys[e], GenericName(name)});
      break;
    }
}

}  // namespace

bool CheckSeedDefects(const Analysis& a, Diagnostics& diags) {
  int before = diags.errors();
  SpIgnored(a, diags);
  ReplicatedLogits(a, diags);
  VpeMask(a, diags);
  MoeKeys(a, diags);
  return diags.errors() == before;
}

}  // namespace tpc
