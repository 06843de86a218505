// check-tied: with tie_word_embeddings the embedding and the lm_head share one tensor, so both
// styles must place it the same way: vocab-parallel embedding (dim 0) with a colwise lm_head (dim 0)
// agree; a replicated embedding under a sharded lm_head does not (automodel.md §6.5, hf #47503).
#include "passes/analysis.h"

namespace tpc {

bool CheckTied(const Analysis& a, Diagnostics& diags) {
  int before = diags.errors();
  if (a.opts.tp <= 1) return true;
  const std::vector<Module>& mods = a.model.modules();
  for (size_t m = 0; m < mods.size(); ++m) {
    int other = mods[m].tied_to;
    if (other < 0 || mods[m].params.empty() || mods[other].params.empty()) continue;
    Placement here = a.ParamPlacementOf(static_cast<int>(m), 0);
    Placement there = a.ParamPlacementOf(other, 0);
    if (here == there) continue;
    int e_here = a.param_entry[m][0], e_there = a.param_entry[other][0];
    SourceLoc loc = e_here >= 0 ? a.EntryLoc(e_here) : a.EntryLoc(e_there);
    Diagnostic& d = diags.Report(DiagId::kTiedMismatch, loc,
                                 {mods[m].name + ".weight", mods[other].name + ".weight", ToString(here), ToString(there)});
    if (e_here >= 0 && e_there >= 0) diags.AddNote(d, a.plan.entries[e_there].key_loc, "'" + mods[other].name + "' is placed here");
    else diags.AddNote(d, {}, "'" + mods[e_here >= 0 ? other : m].name + "' has no plan entry, so it stays replicated");
  }
  return diags.errors() == before;
}

}  // namespace tpc
