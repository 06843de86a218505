#ifndef TPC_PASSES_TRANSLATE_LORA_H_
#define TPC_PASSES_TRANSLATE_LORA_H_

#include <string_view>

#include "ir/plan.h"
#include "support/diagnostics.h"

namespace tpc {

/// Which sections of a plan TranslateToLora rewrites.
enum class LoraSections {
  kPlanOnly,     ///< the entries in effect (compile --lora); the SP section is dropped
  kWithSpPlan,   ///< also the sequence-parallel section, so the result keeps its SP variant
};

/// translate-lora: NeMo AutoModel's translate_to_lora over a torch-dialect plan (automodel.md §3).
/// The map is keyed by exact type: colwise and rowwise (with their _rep forms, the same classes
/// with other layouts) and sequence_parallel become colwise_lora, rowwise_lora and
/// sequence_parallel_lora. Every other style stays as it is, and each entry holding a subclass
/// style gets a lora-unconverted note saying what that costs (a lora-unplaced warning when it
/// shards a linear: the seed has no placement for that linear's adapters). Styles the torch
/// runtime drops, and the LoRA styles themselves, pass through silently, so translating twice
/// changes no style.
Plan TranslateToLora(const Plan& plan, LoraSections sections, Diagnostics& diags);

/// True for colwise_lora, rowwise_lora and sequence_parallel_lora.
bool IsLoraStyle(std::string_view style);

}  // namespace tpc

#endif  // TPC_PASSES_TRANSLATE_LORA_H_
