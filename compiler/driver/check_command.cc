#include "driver/check_command.h"

#include "backend/render_diagnostics.h"
#include "driver/load_inputs.h"

namespace tpc {
namespace {

void Emit(const Diagnostics& diags, const CheckRequest& req, const std::string& context, std::ostream& out) {
  switch (req.format) {
    case OutputFormat::kJson: out << RenderJson(diags, req.plan.transformers.version); break;
    case OutputFormat::kSarif: out << RenderSarif(diags, req.plan.transformers.version); break;
    case OutputFormat::kText: out << RenderText(diags, req.color) << Summary(diags, context); break;
  }
}

}  // namespace

int RunCheckCommand(const CheckRequest& req, std::ostream& out, std::ostream& err) {
  SourceManager sources;
  Diagnostics diags(sources);
  PlanRequest plan_req = req.plan;
  plan_req.tp = req.options.tp;
  std::optional<Inputs> in = LoadInputs(req.model_path, plan_req, req.arch_dir, diags);
  if (!in) {
    // Like compile: input that cannot be loaded is an error message, not a check report. JSON and
    // SARIF stay on stdout, where their consumers read.
    Emit(diags, req, "", req.format == OutputFormat::kText ? err : out);
    return LoadFailureCode(diags);
  }
  CheckOptions options = req.options;
  options.dialect = ChooseDialect(in->plan, req.dialect_given, options.dialect);
  options.sequence_parallel = plan_req.sequence_parallel;
  options.transformers = EffectiveRelease(plan_req, options.dialect);
  RunCheck(in->model, in->plan, options, diags);
  Emit(diags, req, RunContext(in->model, options.tp, options.dialect, options.transformers), out);
  return diags.has_errors() ? kExitErrors : kExitOk;
}

}  // namespace tpc
