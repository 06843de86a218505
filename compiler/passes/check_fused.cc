// check-fused: a fused projection stores segments back to back ([Q|K|V], [gate|up]). Splitting its
// rows into tp contiguous chunks hands rank 0 only Q rows and the last rank only V rows: silently
// wrong unless the output is gathered again or the style packs each segment (automodel.md P4).
#include "ir/program.h"
#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {

// "q[0:1152]" or "k[1024:2048] + v[0:128]": which segment rows the chunk [begin, end) holds.
std::string Contents(const std::vector<Segment>& segs, int64_t begin, int64_t end) {
  std::vector<std::string> parts;
  int64_t offset = 0;
  for (const Segment& s : segs) {
    int64_t lo = std::max(begin, offset), hi = std::min(end, offset + s.rows);
    if (lo < hi) parts.push_back(s.name + "[" + std::to_string(lo - offset) + ":" + std::to_string(hi - offset) + "]");
    offset += s.rows;
  }
  return Join(parts, " + ");
}

// What works instead: packed styles split two equal halves each on their own; nothing splits
// more segments, or unequal ones, so then the output must be gathered (or kept a DTensor).
std::string Remedy(const Analysis& a, const Module& mod, bool equal_halves, const std::string& gather) {
  if (equal_halves) return "split each half on its own (a packed style) or gather the output with '" + gather + "'";
  std::string what = mod.segments.size() == 2 ? std::string("two unequal halves")
                                              : std::to_string(mod.segments.size()) + " segments";
  std::string out = "no style splits " + what + " each on its own, so gather the output with '" + gather + "'";
  if (a.opts.dialect == Dialect::kTorch) out += " or keep it a DTensor (use_local_output: false), as NeMo's phi3 plan does";
  return out;
}

}  // namespace

bool CheckFused(const Analysis& a, Diagnostics& diags) {
  int before = diags.errors();
  const int64_t tp = a.opts.tp;
  if (tp <= 1) return true;
  LayerAggregator agg;
  const std::vector<Module>& mods = a.model.modules();
  for (size_t m = 0; m < mods.size(); ++m) {
    const Module& mod = mods[m];
    if (mod.fused != FusedLayout::kConcat || mod.segments.size() < 2 || mod.params.empty()) continue;
    int entry = a.param_entry[m][0];
    const StyleInfo* s = a.EffectiveStyle(entry);
    Placement pl = a.ParamPlacementOf(static_cast<int>(m), 0);
    if (!s || pl.kind != Placement::kShard || pl.dim != 0) continue;  // only row splits mix segments
    const PlanEntry& pe = a.plan.entries[entry];
    Layout out = s->out;
    if (pe.output_layouts && !pe.output_layouts->empty() && pe.output_layouts->front().kind == LayoutSpec::kReplicate)
      out = Layout::kReplicate;
    if (out == Layout::kReplicate) continue;  // gathered back whole before anyone slices it
    // A DTensor output (use_local_output: false) keeps global semantics: the model's chunk(2) or
    // split of it redistributes as needed, at a cost, but right (NeMo's phi3 plan, automodel.md §2.10).
    if (a.opts.dialect == Dialect::kTorch && pe.use_local_output == false) continue;
    bool equal_halves = mod.segments.size() == 2 && mod.segments[0].rows == mod.segments[1].rows;
    if (s->packed && equal_halves) continue;  // rank r takes block r of each half
    int64_t rows = mod.params[0].shape[0];
    int64_t chunk = ChunkRange(rows, tp, 0).size();
    int64_t last_begin = ChunkRange(rows, tp, tp - 1).begin;
    std::vector<std::string> names;
    for (const Segment& sg : mod.segments) names.push_back(sg.name);
    std::string gather(GatherStyle(a.opts.dialect));
    std::string detail = "rank 0 of " + std::to_string(tp) + " gets rows [0, " + std::to_string(chunk) + ") = " +
                         Contents(mod.segments, 0, chunk) + " and rank " + std::to_string(tp - 1) + " gets rows [" +
                         std::to_string(last_begin) + ", " + std::to_string(rows) + ") = " +
                         Contents(mod.segments, last_begin, rows) + "; " + Remedy(a, mod, equal_halves, gather);
    if (s->packed)
      detail = "packed styles interleave two equal halves, and '" + GenericName(mod.name) + "' has " +
               (mod.segments.size() == 2 ? std::string("two halves of unequal size")
                                         : std::to_string(mod.segments.size()) + " segments") +
               "; " + detail;
    agg.Add("fused|" + std::to_string(entry), DiagId::kFusedNaiveSplit, a.EntryLoc(entry),
            {pe.style, Join(names, "|"), GenericName(mod.name), detail}, {}, mod.layer);
  }
  agg.Flush(diags, a.model.num_layers);
  return diags.errors() == before;
}

}  // namespace tpc
