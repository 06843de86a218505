#include "driver/check_command.h"

#include "backend/render_diagnostics.h"
#include "frontend/model_loader.h"
#include "frontend/plan_loader.h"

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
  ArchRegistry registry;
  if (!registry.Load(req.arch_dir, diags)) {
    Emit(diags, req, "", out);
    return kExitUsage;
  }
  std::optional<ModelGraph> model = LoadModel(req.model_path, registry, diags);
  std::optional<Plan> plan;
  if (model) plan = LoadPlan(req.plan_path, diags);
  if (!model || !plan || diags.has_fatal()) {
    Emit(diags, req, "", out);
    return kExitUsage;
  }
  RunCheck(*model, *plan, req.options, diags);
  std::string context = model->model_type + ", " + std::to_string(model->num_layers) +
                        (model->num_layers == 1 ? " layer, tp " : " layers, tp ") +
                        std::to_string(req.options.tp) + ", dialect " + DialectName(req.options.dialect);
  Emit(diags, req, context, out);
  return diags.has_errors() ? kExitErrors : kExitOk;
}

}  // namespace tpc
