// check-styles: every style must exist in the dialect, fit the module it lands on, and be applied
// by the runtime (NeMo drops some HF styles on the floor).
#include <algorithm>

#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {

bool Fits(const StyleInfo& s, const Module& m, int param, Dialect d) {
  if (param >= 0 && m.kind == ModuleKind::kExperts)
    return s.target == Target::kLinearLike || s.target == Target::kExpertParam;
  switch (s.target) {
    case Target::kAny: return true;
    case Target::kLinearLike:
      return m.kind == ModuleKind::kLinear || m.kind == ModuleKind::kRouter ||
             (m.kind == ModuleKind::kEmbedding && d != Dialect::kHfV5);
    case Target::kEmbedding: return m.kind == ModuleKind::kEmbedding;
    case Target::kBlock: return m.kind == ModuleKind::kContainer || m.kind == ModuleKind::kExperts;
    case Target::kExpertParam: return m.kind == ModuleKind::kExperts;
  }
  return false;
}

const char* TargetName(Target t, Dialect d) {
  switch (t) {
    case Target::kAny: return "any module";
    case Target::kLinearLike:
      return d == Dialect::kHfV5 ? "linear layers and expert parameters" : "linear layers and embeddings";
    case Target::kEmbedding: return "embeddings";
    case Target::kBlock: return "parent blocks whose partial output it reduces";
    case Target::kExpertParam: return "MoE expert parameters";
  }
  return "?";
}

// A row split without hooks adds its bias on every rank; true when module `m` has a bias that its
// own entry does not divide by tp.
bool BiasAddedPerRank(const Resolved& a, int m) {
  const Module& mod = a.model.at(m);
  for (size_t p = 0; p < mod.params.size(); ++p) {
    if (mod.params[p].name != "bias") continue;
    const StyleInfo* own = a.EffectiveStyle(a.param_entry[m][p]);
    return !(own && own->divides_by_tp);
  }
  return false;
}

}  // namespace

bool CheckStyles(const Resolved& a, Diagnostics& diags) {
  bool ok = true;
  const Dialect d = a.opts.dialect;
  for (size_t e = 0; e < a.plan.entries.size(); ++e) {
    const PlanEntry& pe = a.plan.entries[e];
    if (pe.is_object && d != Dialect::kTorch) {
      diags.Report(DiagId::kObjectStyleDialect, pe.style_loc, {DialectName(d), pe.key});
      ok = false;
      continue;
    }
    const StyleInfo* s = a.entry_style[e];
    if (!s) {
      diags.Report(DiagId::kUnknownStyle, pe.style_loc, {pe.style, DialectName(d), UnknownStyleHint(pe.style, d)});
      ok = false;
      continue;
    }
    std::string why;
    if (d == Dialect::kHfV5 && !StyleInRelease(*s, a.opts.transformers.version, &why)) {
      // The release's _validate_parallel_plan raises "Unsupported `tp_plan` styles" before sharding.
      diags.Report(DiagId::kStyleNotInRelease, pe.style_loc,
                   {pe.style, a.opts.transformers.version, why, RenameHint(pe.style, d)});
      ok = false;
      continue;
    }
    if (s->skipped) {
      diags.Report(DiagId::kStyleSkipped, pe.style_loc, {"NeMo AutoModel", pe.style, s->skipped});
      continue;
    }
    if (s->bias_per_rank && a.opts.tp > 1) {
      for (const Match& t : a.matches[e]) {
        if (t.param >= 0 || !BiasAddedPerRank(a, t.module)) continue;
        std::string name = GenericName(a.model.at(t.module).name);
        diags.Report(DiagId::kBiasPerRank, pe.style_loc,
                     {"'" + name + "' (" + pe.style + ")", std::to_string(a.opts.tp), name, "rowwise"});
        ok = false;
        break;
      }
    }
    for (const Match& t : a.matches[e]) {
      const Module& m = a.model.at(t.module);
      if (Fits(*s, m, t.param, d)) continue;
      std::string what = t.param >= 0 ? m.name + "." + m.params[t.param].name : m.name;
      diags.Report(DiagId::kStyleWrongModule, pe.style_loc,
                   {pe.style, GenericName(what), KindName(m.kind), TargetName(s->target, d)});
      ok = false;
      break;
    }
  }
  return ok;
}

}  // namespace tpc
