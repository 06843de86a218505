// translate-lora: the seed's translate_to_lora (automodel.md §3). It sets
// `style.__class__ = CLS_MAP.get(type(style), style.__class__)`, so only the three exact classes are
// converted; the LoRA classes place lora_A/lora_B and keep requires_grad through redistribution
// (the fix for #547). Subclasses keep their class, and what that costs depends on the subclass.
#include "passes/translate_lora.h"


namespace tpc {
namespace {

// What a subclass style loses by staying unconverted.
enum class Cost {
  kRegrad,    ///< plain torch partitioning: parameters re-registered with requires_grad=True
  kNothing,   ///< no parameters to lose anything
  kOwnCode,   ///< the style's own code distributes the weight
  kUnplaced,  ///< a linear whose adapters get no LoRA placement
};

struct Subclass {
  std::string_view style;
  const char* what;  ///< "X subclasses Y"
  Cost cost;
};

constexpr Subclass kSubclasses[] = {
    {"vocab_parallel_embedding", "VocabParallelEmbedding subclasses RowwiseParallel", Cost::kRegrad},
    {"sequence_parallel_all_gather", "SequenceParallelAllGatherActivation subclasses SequenceParallel", Cost::kRegrad},
    {"qwen3_qk_norm", "NeMo RL's Qwen3QKNorm subclasses SequenceParallel", Cost::kRegrad},
    {"rotary_embed_parallel", "RotaryEmbedParallel subclasses SequenceParallel", Cost::kNothing},
    {"gemma4_vocab_parallel_embedding", "_Gemma4VocabParallelEmbedding is Gemma4's own style", Cost::kOwnCode},
    {"gemma4_rowwise", "_Gemma4RowwiseParallel is Gemma4's own style", Cost::kUnplaced},
};

const char* CostText(Cost c) {
  switch (c) {
    case Cost::kRegrad:
      return "its parameters are re-registered as plain nn.Parameters, so frozen base weights become trainable "
             "(#547; the LoRA styles keep requires_grad)";
    case Cost::kNothing: return "the module has no parameters, so nothing is lost";
    case Cost::kOwnCode: return "Gemma4's code distributes its weight, and embeddings carry no adapters";
    case Cost::kUnplaced: return "";
  }
  return "";
}

// The LoRA form of an exact-type style, with the layouts the _rep shorthands stand for written
// out; false when `e` keeps its style.
bool Convert(PlanEntry& e) {
  LayoutSpec replicate{LayoutSpec::kReplicate, 0};
  if (e.style == "colwise_rep" && !e.output_layouts) e.output_layouts = std::vector<LayoutSpec>{replicate};
  if (e.style == "rowwise_rep" && !e.input_layouts) e.input_layouts = std::vector<LayoutSpec>{replicate};
  if (e.style == "colwise" || e.style == "colwise_rep") e.style = "colwise_lora";
  else if (e.style == "rowwise" || e.style == "rowwise_rep") e.style = "rowwise_lora";
  else if (e.style == "sequence_parallel") e.style = "sequence_parallel_lora";
  else return false;
  e.is_object = e.is_object || e.input_layouts || e.output_layouts || e.use_local_output;
  return true;
}

void Report(const PlanEntry& e, Diagnostics& diags) {
  for (const Subclass& s : kSubclasses) {
    if (s.style != e.style) continue;
    if (s.cost == Cost::kUnplaced)
      diags.Report(DiagId::kLoraUnplaced, e.style_loc, {e.style, e.key, s.what});
    else
      diags.Report(DiagId::kLoraUnconverted, e.style_loc, {e.style, e.key, s.what, CostText(s.cost)});
    return;
  }
}

std::vector<PlanEntry> Translate(const std::vector<PlanEntry>& entries, Diagnostics& diags) {
  std::vector<PlanEntry> out = entries;
  for (PlanEntry& e : out)
    if (!Convert(e)) Report(e, diags);
  return out;
}

}  // namespace

bool IsLoraStyle(std::string_view style) {
  return style == "colwise_lora" || style == "rowwise_lora" || style == "sequence_parallel_lora";
}

Plan TranslateToLora(const Plan& plan, LoraSections sections, Diagnostics& diags) {
  Plan out = plan;
  out.entries = Translate(plan.entries, diags);
  if (sections == LoraSections::kWithSpPlan) out.sp_entries = Translate(plan.sp_entries, diags);
  else out.sp_entries.clear();
  return out;
}

}  // namespace tpc
