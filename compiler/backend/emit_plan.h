#ifndef TPC_BACKEND_EMIT_PLAN_H_
#define TPC_BACKEND_EMIT_PLAN_H_

#include <string>

#include "ir/plan.h"

namespace tpc {

/// A plan as a YAML file tpc (and, for a named plan, schemas/plan.schema.json) reads back: the
/// metadata fields it has, then its entries under `plan` (or under base_model_tp_plan and
/// causal_lm_tp_plan when some keys are relative to the base model) and its SP section under
/// `sp_plan`. `header` becomes comment lines at the top.
std::string EmitPlanYaml(const Plan& plan, const std::string& header);

}  // namespace tpc

#endif  // TPC_BACKEND_EMIT_PLAN_H_
