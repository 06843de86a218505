// Fuzz target: a plan file (YAML or JSON), checked and compiled on two small real models.
#include <string>

#include "frontend/model_loader.h"
#include "frontend/plan_loader.h"
#include "fuzz/fuzz_pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tpc;
  static const std::string kConfigs[] = {fuzz::SmallConfig("meta-llama__Llama-3.1-8B", 2),
                                         fuzz::SmallConfig("mistralai__Mixtral-8x7B-Instruct-v0.1", 1)};
  std::string text(reinterpret_cast<const char*>(data), size);
  for (const std::string& config : kConfigs) {
    SourceManager sm;
    Diagnostics diags(sm);
    ArchRegistry registry = fuzz::Registry();
    std::optional<ModelGraph> model = ParseModel("config.json", config, registry, diags);
    if (!model) __builtin_trap();  // the fixed configs always load
    std::optional<Plan> plan = ParsePlan("plan.yaml", text, diags);
    if (plan) fuzz::RunPipeline(*model, *plan, diags);
    else fuzz::RenderAll(diags);
  }
  return 0;
}
