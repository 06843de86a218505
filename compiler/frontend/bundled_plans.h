#ifndef TPC_FRONTEND_BUNDLED_PLANS_H_
#define TPC_FRONTEND_BUNDLED_PLANS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/plan.h"
#include "support/diagnostics.h"

namespace tpc {

/// The plans compiled in from plans/{nemo,rl,hf,hf4}/*.yaml, by the name each file gives itself.
/// Names are the file's `name:` field: nemo/llama, rl/qwen, hf/phi3, hf4/phi3, nemo/default.
std::vector<std::string> BundledPlanNames();

/// True when `name` names a bundled plan.
bool IsBundledPlan(std::string_view name);

/// Parses a bundled plan (its source path is plans/<file>, so diagnostics point into it); nullopt
/// when there is no such plan. Bundled plans are tested to parse cleanly.
std::optional<Plan> LoadBundledPlan(std::string_view name, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_FRONTEND_BUNDLED_PLANS_H_
