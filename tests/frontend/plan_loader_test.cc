#include <doctest/doctest.h>

#include "backend/render_diagnostics.h"
#include "frontend/plan_loader.h"
#include "test_util.h"

namespace tpc {
namespace {

struct Loaded {
  std::optional<Plan> plan;
  std::string text;
  bool fatal = false;
};

Loaded Load(const std::string& name, const std::string& text) {
  SourceManager sm;
  Diagnostics diags(sm);
  Loaded out;
  out.plan = ParsePlan(name, text, diags);
  out.text = RenderText(diags, false);
  out.fatal = diags.has_fatal();
  return out;
}

TEST_SUITE("plan loader") {
  TEST_CASE("a flat YAML plan keeps keys, styles and their positions") {
    Loaded l = Load("plan.yaml",
                    "model.layers.*.self_attn.q_proj: colwise\n"
                    "lm_head: colwise_gather_output\n");
    REQUIRE(l.plan);
    REQUIRE(l.plan->entries.size() == 2);
    CHECK(l.plan->entries[0].key == "model.layers.*.self_attn.q_proj");
    CHECK(l.plan->entries[0].style == "colwise");
    CHECK_FALSE(l.plan->entries[0].base_relative);
    CHECK(l.plan->entries[0].style_loc.line == 1);
    CHECK(l.plan->entries[0].style_loc.column == 34);
    CHECK(l.plan->entries[1].key_loc.line == 2);
    CHECK(l.plan->entries[1].key_loc.column == 1);
    CHECK(l.text.empty());
  }

  TEST_CASE("base_model_tp_plan keys are base-relative and causal_lm_tp_plan keys are not") {
    Loaded l = Load("plan.json",
                    R"({"base_model_tp_plan": {"layers.*.mlp.up_proj": "colwise"},
                        "causal_lm_tp_plan": {"lm_head": "colwise_gather_output"}})");
    REQUIRE(l.plan);
    REQUIRE(l.plan->entries.size() == 2);
    CHECK(l.plan->entries[0].base_relative);
    CHECK_FALSE(l.plan->entries[1].base_relative);
    // JSON keys are quoted: the caret covers the quotes too.
    CHECK(l.plan->entries[0].key_loc.column == 25);
    CHECK(l.plan->entries[0].key_loc.length == 22);
  }

  TEST_CASE("a style object carries torch layouts") {
    Loaded l = Load("plan.yaml",
                    "model.layers.*.mlp.down_proj: {style: rowwise, output_layouts: [shard(1)], use_local_output: false}\n");
    REQUIRE(l.plan);
    const PlanEntry& e = l.plan->entries[0];
    CHECK(e.is_object);
    CHECK(e.style == "rowwise");
    REQUIRE(e.output_layouts);
    REQUIRE(e.output_layouts->size() == 1);
    CHECK(e.output_layouts->front().kind == LayoutSpec::kShard);
    CHECK(e.output_layouts->front().dim == 1);
    CHECK(e.use_local_output == false);
    CHECK_FALSE(e.input_layouts);
  }

  TEST_CASE("layouts parse in torch spelling and lower case") {
    CHECK(ParseLayout("Shard(-1)")->dim == -1);
    CHECK(ParseLayout("replicate()")->kind == LayoutSpec::kReplicate);
    CHECK(ParseLayout("Partial")->kind == LayoutSpec::kPartial);
    CHECK_FALSE(ParseLayout("shard(x)"));
    CHECK_FALSE(ParseLayout("sharded"));
  }

  TEST_CASE("malformed JSON names the file, line and column") {
    Loaded l = Load("plan.json", "{\n  \"lm_head\": \"colwise\",\n}\n");
    CHECK_FALSE(l.plan);
    CHECK(l.fatal);
    CHECK(l.text ==
          "plan.json:3:1: error: malformed JSON: syntax error while parsing object key - unexpected '}'; "
          "expected string literal [json-syntax]\n"
          "}\n"
          "^\n");
  }

  TEST_CASE("malformed YAML names the file, line and column") {
    Loaded l = Load("plan.yaml", "lm_head: colwise\n  bad: [\n");
    CHECK_FALSE(l.plan);
    CHECK(l.fatal);
    CHECK(l.text.rfind("plan.yaml:2:", 0) == 0);
    CHECK(l.text.find("[yaml-syntax]") != std::string::npos);
  }

  TEST_CASE("a plan that is not a mapping is rejected") {
    Loaded l = Load("plan.yaml", "- colwise\n- rowwise\n");
    CHECK_FALSE(l.plan);
    CHECK(l.text ==
          "plan.yaml:1:1: error: a plan must be a mapping, got a sequence [not-a-mapping]\n"
          "- colwise\n"
          "^\n");
  }

  TEST_CASE("an unknown field in a style object suggests the right one") {
    Loaded l = Load("plan.yaml", "lm_head: {style: colwise, output_layout: [replicate]}\n");
    CHECK_FALSE(l.plan);
    CHECK(l.text ==
          "plan.yaml:1:27: error: unknown field 'output_layout' in the style object of 'lm_head'; did you mean "
          "'output_layouts'? [bad-plan-entry]\n"
          "lm_head: {style: colwise, output_layout: [replicate]}\n"
          "                          ^\n");
  }

  TEST_CASE("a bad layout string points at itself") {
    Loaded l = Load("plan.yaml", "lm_head: {style: colwise, output_layouts: [sharded]}\n");
    CHECK_FALSE(l.plan);
    CHECK(l.text ==
          "plan.yaml:1:44: error: unknown layout 'sharded'; expected replicate, shard(N) or partial [bad-layout]\n"
          "lm_head: {style: colwise, output_layouts: [sharded]}\n"
          "                                           ^~~~~~~\n");
  }

  TEST_CASE("a key without a style is rejected") {
    Loaded l = Load("plan.yaml", "lm_head:\n");
    CHECK_FALSE(l.plan);
    CHECK(l.text.find("plan key 'lm_head' needs a style string or a style object, got null [bad-plan-entry]") !=
          std::string::npos);
  }

  TEST_CASE("a repeated key warns and the later value wins") {
    Loaded l = Load("plan.yaml", "lm_head: colwise\nlm_head: colwise_gather_output\n");
    REQUIRE(l.plan);
    REQUIRE(l.plan->entries.size() == 1);
    CHECK(l.plan->entries[0].style == "colwise_gather_output");
    CHECK(l.text ==
          "plan.yaml:2:1: warning: plan key 'lm_head' appears twice; the later value wins [duplicate-key]\n"
          "lm_head: colwise_gather_output\n"
          "^~~~~~~\n"
          "plan.yaml:1:1: note: first given here\n"
          "lm_head: colwise\n"
          "^~~~~~~\n");
  }

  TEST_CASE("fields beside base_model_tp_plan are reported and ignored") {
    Loaded l = Load("plan.yaml", "base_model_tp_plan: {layers.*.mlp.up_proj: colwise}\nsource: hf\n");
    REQUIRE(l.plan);
    CHECK(l.text ==
          "plan.yaml:2:1: warning: field 'source' is not part of a plan and is ignored [ignored-plan-field]\n"
          "source: hf\n"
          "^~~~~~\n");
  }

  TEST_CASE("an empty plan is an input error") {
    Loaded l = Load("plan.yaml", "base_model_tp_plan: {}\n");
    CHECK_FALSE(l.plan);
    CHECK(l.text == "plan.yaml: error: the plan has no entries [empty-plan]\n");
  }

  TEST_CASE("a plan file's own fields: metadata read, a malformed one fatal, an unknown one ignored") {
    Loaded ok = Load("plan.yaml", "name: nemo/x\nseed: me\ndialect: torch\nsequence_parallel: ignored\nplan:\n  lm_head: colwise\n");
    REQUIRE(ok.plan);
    CHECK(ok.plan->meta.name == "nemo/x");
    CHECK(ok.plan->meta.dialect == Dialect::kTorch);
    CHECK(ok.plan->meta.sp_mode == SpMode::kIgnored);
    CHECK(ok.text.empty());
    Loaded bad = Load("plan.yaml", "sequence_parallel: maybe\nplan:\n  lm_head: colwise\n");
    CHECK_FALSE(bad.plan);
    CHECK(bad.text.rfind("plan.yaml:1:20: error: 'sequence_parallel' must be update, replace or ignored, got 'maybe' "
                         "[bad-plan-entry]\n", 0) == 0);
    Loaded extra = Load("plan.yaml", "colour: blue\nplan:\n  lm_head: colwise\n");
    REQUIRE(extra.plan);
    CHECK(extra.text.rfind("plan.yaml:1:1: warning: field 'colour' is not part of a plan and is ignored", 0) == 0);
  }
}

}  // namespace
}  // namespace tpc
