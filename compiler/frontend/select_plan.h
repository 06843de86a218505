#ifndef TPC_FRONTEND_SELECT_PLAN_H_
#define TPC_FRONTEND_SELECT_PLAN_H_

#include <optional>
#include <string>

#include "ir/model_graph.h"
#include "ir/release.h"
#include "ir/plan.h"
#include "support/diagnostics.h"

namespace tpc {

/// What decides which plan a model gets.
struct PlanRequest {
  std::string plan;       ///< --plan: a file, a bundled plan's name, or "" / "auto"
  int tp = 1;
  bool sequence_parallel = false;
  RuntimeRelease transformers;  ///< --transformers: the release whose _tp_plan the model carries
  bool transformers_given = false;  ///< --transformers was given (else `transformers` is the newest)
};

/// The release whose behaviour the checks model: the one asked for, or when none was asked and
/// the plan speaks transformers 4's dialect (hf-v4), the newest 4.x release tpc knows.
RuntimeRelease EffectiveRelease(const PlanRequest& req, Dialect dialect);

/// The plan `--plan ARG` names: a file, else a bundled plan, else an unknown-plan error (with a
/// did-you-mean over the bundled names) and nullopt.
std::optional<Plan> LoadPlanArg(const std::string& arg, Diagnostics& diags);

/// The bundled Hugging Face plan of `model_type` under `release`: its own folder's file, else (for
/// an older release of the newest major, whose folder keeps only the plans that differ) hf/'s.
std::string HfPlanName(const std::string& model_type, const RuntimeRelease& release);

/// Chooses a plan the way NeMo AutoModel's _get_parallel_plan does (automodel.md §1.4): an explicit
/// plan, the named llama_nemotron_super_tp_plan, the optimized plan registered for the model's
/// class (falling back to the model's Hugging Face plan when it refuses), the Hugging Face plan as
/// AutoModel translates it, and the default base plan, which the seed refuses to use for
/// custom-code models at tp > 1. Reports one plan-chosen note saying which plan and why, applies
/// the plan's sequence-parallel variant when asked, and returns nullopt (with an error) when the
/// seed would raise.
std::optional<Plan> SelectPlan(const ModelGraph& model, const PlanRequest& req, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_FRONTEND_SELECT_PLAN_H_
