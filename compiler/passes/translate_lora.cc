// translate-lora: the seed's translate_to_lora (automodel.md §3). It sets
// `style.__class__ = CLS_MAP.get(type(style), style.__class__)`, so only the three exact classes are
// converted; the LoRA classes place lora_A/lora_B and keep requires_grad through redistribution
// (the fix for #547). Subclasses keep their class, and what that costs depends on the subclass.
#include "passes/translate_lora.h"

#include "ir/styles.h"

namespace tpc {
namespace {

const char* CostText(LoraCost c) {
  switch (c) {
    case LoraCost::kRegrad:
      return "its parameters are re-registered as plain nn.Parameters, so frozen base weights become trainable "
             "(#547; the LoRA styles keep requires_grad)";
    case LoraCost::kNothing: return "the module has no parameters, so nothing is lost";
    case LoraCost::kOwnCode: return "Gemma4's code distributes its weight, and embeddings carry no adapters";
    case LoraCost::kNone:
    case LoraCost::kUnplaced: return "";
  }
  return "";
}

// How a plan object writes a layout the style table names.
LayoutSpec SpecOf(Layout l) {
  switch (l) {
    case Layout::kReplicate: return {LayoutSpec::kReplicate, 0};
    case Layout::kShardLast: return {LayoutSpec::kShard, -1};
    case Layout::kShardSeq: return {LayoutSpec::kShard, 1};
    case Layout::kPartial: return {LayoutSpec::kPartial, 0};
  }
  return {};
}

// The LoRA form of an exact-type style, with the layouts a _rep shorthand stands for written out
// (colwise_rep: colwise_lora with a Replicate output); false when `e` keeps its style.
bool Convert(PlanEntry& e) {
  const StyleInfo* s = FindStyle(Dialect::kTorch, e.style);
  const StyleInfo* base = s && !s->shorthand_for.empty() ? FindStyle(Dialect::kTorch, s->shorthand_for) : s;
  if (!base || base->lora.empty()) return false;
  if (s->out != base->out && !e.output_layouts) e.output_layouts = std::vector<LayoutSpec>{SpecOf(s->out)};
  if (s->in != base->in && !e.input_layouts) e.input_layouts = std::vector<LayoutSpec>{SpecOf(s->in)};
  e.style = base->lora;
  e.is_object = e.is_object || e.input_layouts || e.output_layouts || e.use_local_output;
  return true;
}

// A subclass style stays as it is; the table says what that costs.
void Report(const PlanEntry& e, Diagnostics& diags) {
  const StyleInfo* s = FindStyle(Dialect::kTorch, e.style);
  if (!s || !s->subclass) return;
  if (s->lora_cost == LoraCost::kUnplaced)
    diags.Report(DiagId::kLoraUnplaced, e.style_loc, {e.style, e.key, s->subclass});
  else
    diags.Report(DiagId::kLoraUnconverted, e.style_loc, {e.style, e.key, s->subclass, CostText(s->lora_cost)});
}

std::vector<PlanEntry> Translate(const std::vector<PlanEntry>& entries, Diagnostics& diags) {
  std::vector<PlanEntry> out = entries;
  for (PlanEntry& e : out)
    if (!Convert(e)) Report(e, diags);
  return out;
}

}  // namespace

bool IsLoraStyle(std::string_view style) {
  const StyleInfo* s = FindStyle(Dialect::kTorch, style);
  return s && s->lora_class;
}

Plan TranslateToLora(const Plan& plan, LoraSections sections, Diagnostics& diags) {
  Plan out = plan;
  out.entries = Translate(plan.entries, diags);
  if (sections == LoraSections::kWithSpPlan) out.sp_entries = Translate(plan.sp_entries, diags);
  else out.sp_entries.clear();
  return out;
}

}  // namespace tpc
