// Fuzz target: an architecture template (what --arch-dir reads), added over the bundled ones and
// used to expand small real configs of three model types (dense, MoE, fused projections), each
// then checked and compiled with that model type's Hugging Face plan.
#include <string>

#include "frontend/model_loader.h"
#include "frontend/plan_loader.h"
#include "fuzz/fuzz_pipeline.h"

namespace {

struct Case {
  std::string config;
  std::string plan;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tpc;
  static const Case kCases[] = {
      {fuzz::SmallConfig("meta-llama__Llama-3.1-8B", 2), fuzz::SourceText("plans/hf/llama.yaml")},
      {fuzz::SmallConfig("Qwen__Qwen3-30B-A3B", 1), fuzz::SourceText("plans/hf/qwen3_moe.yaml")},
      {fuzz::SmallConfig("microsoft__Phi-3-mini-4k-instruct", 1), fuzz::SourceText("plans/hf/phi3.yaml")}};
  std::string text(reinterpret_cast<const char*>(data), size);
  for (const Case& c : kCases) {
    // One SourceManager per run: the template's file id must stay valid for its diagnostics.
    SourceManager sm;
    Diagnostics diags(sm);
    ArchRegistry registry = fuzz::Registry();
    if (!registry.Add("arch/fuzz.yaml", text, diags)) {
      fuzz::RenderAll(diags);
      return 0;
    }
    std::optional<ModelGraph> model = ParseModel("config.json", c.config, registry, diags);
    std::optional<Plan> plan;
    if (model) plan = ParsePlan("plan.yaml", c.plan, diags);
    if (plan) fuzz::RunPipeline(*model, *plan, diags);
    else fuzz::RenderAll(diags);
  }
  return 0;
}
