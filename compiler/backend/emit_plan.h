#ifndef TPC_BACKEND_EMIT_PLAN_H_
#define TPC_BACKEND_EMIT_PLAN_H_

#include <string>

#include "ir/plan.h"

namespace tpc {

/// A plan as a YAML file tpc (and schemas/plan.schema.json) reads back: the metadata fields and the
/// `plan` and `sp_plan` sections of a bundled plan when it has a name, else a flat map (or
/// base_model_tp_plan and causal_lm_tp_plan when some keys are relative to the base model).
/// `header` becomes comment lines at the top.
std::string EmitPlanYaml(const Plan& plan, const std::string& header);

}  // namespace tpc

#endif  // TPC_BACKEND_EMIT_PLAN_H_
