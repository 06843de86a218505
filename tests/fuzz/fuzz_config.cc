// Fuzz target: a model config (config.json, or YAML), expanded with the bundled architecture
// templates, given the plan tpc would choose for it, then checked and compiled.
#include <string>

#include "frontend/model_loader.h"
#include "frontend/select_plan.h"
#include "fuzz/fuzz_pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tpc;
  std::string text(reinterpret_cast<const char*>(data), size);
  SourceManager sm;
  Diagnostics diags(sm);
  ArchRegistry registry = fuzz::Registry();
  std::optional<ModelGraph> model = ParseModel("config.json", text, registry, diags);
  if (model) {
    PlanRequest req;
    req.tp = 2;
    if (std::optional<Plan> plan = SelectPlan(*model, req, diags)) fuzz::RunPipeline(*model, *plan, diags);
  }
  fuzz::RenderAll(diags);
  return 0;
}
