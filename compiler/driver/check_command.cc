#include "driver/check_command.h"

#include "backend/render_diagnostics.h"
#include "driver/load_inputs.h"

namespace tpc {
namespace {

void Emit(const Diagnostics& diags, const CheckRequest& req, const std::string& context, std::ostream& out) {
  switch (req.format) {
    case OutputFormat::kJson: out << RenderJson(diags); break;
    case OutputFormat::kSarif: out << RenderSarif(diags); break;
    case OutputFormat::kText: out << RenderText(diags, req.color) << Summary(diags, context); break;
  }
}

}  // namespace

int RunCheckCommand(const CheckRequest& req, std::ostream& out) {
  SourceManager sources;
  Diagnostics diags(sources);
  std::optional<Inputs> in = LoadInputs(req.model_path, req.plan_path, req.arch_dir, diags);
  if (!in) {
    Emit(diags, req, "", out);
    return kExitUsage;
  }
  RunCheck(in->model, in->plan, req.options, diags);
  Emit(diags, req, RunContext(in->model, req.options.tp, req.options.dialect), out);
  return diags.has_errors() ? kExitErrors : kExitOk;
}

}  // namespace tpc
