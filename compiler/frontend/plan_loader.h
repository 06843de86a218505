#ifndef TPC_FRONTEND_PLAN_LOADER_H_
#define TPC_FRONTEND_PLAN_LOADER_H_

#include <optional>
#include <string>

#include "ir/plan.h"
#include "support/diagnostics.h"

namespace tpc {

/// Loads a YAML or JSON plan: flat keys from the root module, or {"base_model_tp_plan": {...}}
/// (keys relative to the base model) optionally with "causal_lm_tp_plan" (keys from the root).
/// Values are style strings or objects {style, input_layouts, output_layouts, use_local_output}.
/// A bundled plan file wraps its entries as {name, seed, ..., plan: {...}, sp_plan: {...}}.
/// Malformed input is a fatal diagnostic and nullopt.
std::optional<Plan> LoadPlan(const std::string& path, Diagnostics& diags);
/// The same, from text already in memory.
std::optional<Plan> ParsePlan(const std::string& path, std::string text, Diagnostics& diags);

/// Applies the file's SP variant as its seed does (SpMode); a no-op for kNone and kIgnored.
void ApplySequenceParallel(Plan& plan);

/// Parses "replicate", "Shard(-1)", "partial()"; nullopt if it is none of them.
std::optional<LayoutSpec> ParseLayout(std::string_view text);

}  // namespace tpc

#endif  // TPC_FRONTEND_PLAN_LOADER_H_
