// Plans written back to YAML must read back as the same plan (keys, styles, layouts, sections).
#include <doctest/doctest.h>

#include "backend/emit_plan.h"
#include "frontend/bundled_plans.h"
#include "frontend/plan_loader.h"
#include "passes/translate_lora.h"

namespace tpc {
namespace {

struct Reread {
  std::optional<Plan> plan;
  size_t diagnostics = 0;
};

Reread Parse(const std::string& name, const std::string& text) {
  SourceManager sm;
  Diagnostics diags(sm);
  Reread r;
  r.plan = ParsePlan(name, text, diags);
  r.diagnostics = diags.all().size();
  return r;
}

bool SameLayouts(const std::optional<std::vector<LayoutSpec>>& a, const std::optional<std::vector<LayoutSpec>>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  if (a->size() != b->size()) return false;
  for (size_t i = 0; i < a->size(); ++i)
    if ((*a)[i].kind != (*b)[i].kind || (*a)[i].dim != (*b)[i].dim) return false;
  return true;
}

void CheckSame(const std::vector<PlanEntry>& got, const std::vector<PlanEntry>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("entry " << i << ": " << want[i].key);
    CHECK(got[i].key == want[i].key);
    CHECK(got[i].base_relative == want[i].base_relative);
    CHECK(got[i].style == want[i].style);
    CHECK(SameLayouts(got[i].input_layouts, want[i].input_layouts));
    CHECK(SameLayouts(got[i].output_layouts, want[i].output_layouts));
    CHECK(got[i].use_local_output == want[i].use_local_output);
  }
}

TEST_SUITE("emit plan") {
  TEST_CASE("a translated bundled plan reads back whole: metadata, plan and sp_plan") {
    SourceManager sm;
    Diagnostics diags(sm);
    std::optional<Plan> base = LoadBundledPlan("nemo/qwen", diags);
    REQUIRE(base);
    Plan lora = TranslateToLora(*base, LoraSections::kWithSpPlan, diags);
    std::string text = EmitPlanYaml(lora, "first line\nsecond line");
    CHECK(text.rfind("# first line\n# second line\nname: nemo/qwen\n", 0) == 0);
    Reread r = Parse("lora.yaml", text);
    REQUIRE(r.plan);
    CHECK(r.diagnostics == 0);
    CHECK(r.plan->meta.name == "nemo/qwen");
    CHECK(r.plan->meta.seed == "NeMo AutoModel");
    CHECK(r.plan->meta.sp_mode == SpMode::kReplace);
    CHECK(r.plan->meta.architectures == base->meta.architectures);
    CHECK(r.plan->meta.dialect == Dialect::kTorch);
    CheckSame(r.plan->entries, lora.entries);
    CheckSame(r.plan->sp_entries, lora.sp_entries);
  }

  TEST_CASE("an SP mode whose section is gone is left out, so the file still loads") {
    SourceManager sm;
    Diagnostics diags(sm);
    std::optional<Plan> base = LoadBundledPlan("nemo/llama", diags);
    REQUIRE(base);
    std::string text = EmitPlanYaml(TranslateToLora(*base, LoraSections::kPlanOnly, diags), "");
    CHECK(text.find("sequence_parallel:") == std::string::npos);
    Reread r = Parse("plan_only.yaml", text);
    REQUIRE(r.plan);
    CHECK(r.diagnostics == 0);
    CHECK(r.plan->meta.sp_mode == SpMode::kNone);
    CHECK(r.plan->entries.size() == 11);
  }

  TEST_CASE("base-relative keys go back to base_model_tp_plan; keys YAML must quote are quoted") {
    Reread in = Parse("plan.yaml",
                      "base_model_tp_plan:\n"
                      "  layers.*.self_attn.q_proj: colwise\n"
                      "  '*.mlp.up_proj': colwise\n"
                      "causal_lm_tp_plan:\n"
                      "  lm_head: {style: colwise, output_layouts: [shard(-1)], use_local_output: false}\n");
    REQUIRE(in.plan);
    std::string text = EmitPlanYaml(*in.plan, "");
    CHECK(text.find("base_model_tp_plan:\n") != std::string::npos);
    CHECK(text.find("causal_lm_tp_plan:\n") != std::string::npos);
    CHECK(text.find("name:") == std::string::npos);  // no metadata invented
    Reread out = Parse("again.yaml", text);
    REQUIRE(out.plan);
    CHECK(out.diagnostics == 0);
    CheckSame(out.plan->entries, in.plan->entries);
  }
}

}  // namespace
}  // namespace tpc
