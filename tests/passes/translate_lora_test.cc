// translate-lora: the seed's exact-type map (automodel.md §3) over user and bundled plans, and what
// compile --lora makes of the result under torch. Expected styles and counts come from the map's
// table and the plan files, by hand.
#include <doctest/doctest.h>

#include <algorithm>

#include "frontend/bundled_plans.h"
#include "frontend/plan_loader.h"
#include "passes/translate_lora.h"
#include "test_util.h"

namespace tpc {
namespace {

struct Translated {
  Plan plan;
  std::vector<std::string> codes;
  std::vector<std::string> messages;
  std::vector<int> lines;
};

Translated Run(const Plan& in, LoraSections sections) {
  SourceManager sm;
  Diagnostics diags(sm);
  Translated t{TranslateToLora(in, sections, diags), {}, {}, {}};
  for (const Diagnostic& d : diags.all()) {
    t.codes.push_back(d.code);
    t.messages.push_back(d.message);
    t.lines.push_back(d.loc.line);
  }
  return t;
}

Plan Parse(const std::string& text) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<Plan> p = ParsePlan("plan.yaml", text, diags);
  REQUIRE(p);
  REQUIRE(diags.all().empty());
  return *p;
}

Plan Bundled(const std::string& name) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<Plan> p = LoadBundledPlan(name, diags);
  REQUIRE(p);
  return *p;
}

const std::vector<std::string> kUnconverted2 = {"lora-unconverted", "lora-unconverted"};

TEST_SUITE("translate-lora") {
  TEST_CASE("exact types convert, the _rep forms spell out their layouts, subclasses stay with a note") {
    Plan in = Parse(
        "model.layers.*.self_attn.q_proj: colwise\n"
        "model.layers.*.self_attn.o_proj: rowwise\n"
        "model.layers.*.self_attn.q_norm: replicated_with_grad_allreduce\n"
        "model.embed_tokens: rowwise_rep\n"
        "lm_head: colwise_rep\n"
        "model.norm: sequence_parallel\n"
        "model.layers.*.input_layernorm: {style: sequence_parallel_all_gather, use_local_output: false}\n"
        "model.rotary_emb: rotary_embed_parallel\n"
        "model.layers.*.mlp.up_proj: colwise_lora\n");
    Translated t = Run(in, LoraSections::kWithSpPlan);
    const std::vector<PlanEntry>& e = t.plan.entries;
    REQUIRE(e.size() == 9);
    CHECK(e[0].style == "colwise_lora");
    CHECK_FALSE(e[0].is_object);
    CHECK(e[1].style == "rowwise_lora");
    CHECK(e[2].style == "replicated_with_grad_allreduce");  // dropped by the runtime before the map
    // RowwiseParallel(input_layouts=Replicate()) and ColwiseParallel(output_layouts=Replicate()).
    CHECK(e[3].style == "rowwise_lora");
    CHECK(e[3].is_object);
    REQUIRE(e[3].input_layouts);
    CHECK(e[3].input_layouts->size() == 1);
    CHECK((*e[3].input_layouts)[0].kind == LayoutSpec::kReplicate);
    CHECK_FALSE(e[3].output_layouts);
    CHECK(e[4].style == "colwise_lora");
    REQUIRE(e[4].output_layouts);
    CHECK((*e[4].output_layouts)[0].kind == LayoutSpec::kReplicate);
    CHECK_FALSE(e[4].input_layouts);
    CHECK(e[5].style == "sequence_parallel_lora");
    CHECK(e[6].style == "sequence_parallel_all_gather");
    CHECK(e[6].use_local_output == false);
    CHECK(e[7].style == "rotary_embed_parallel");
    CHECK(e[8].style == "colwise_lora");
    CHECK(t.plan.meta.name.empty());  // an unnamed plan stays unnamed

    CHECK(t.codes == kUnconverted2);
    CHECK(t.lines == std::vector<int>{7, 8});
    CHECK(t.messages[0] ==
          "translate_to_lora leaves 'sequence_parallel_all_gather' on 'model.layers.*.input_layernorm' as it is: it "
          "converts exact types only, and SequenceParallelAllGatherActivation subclasses SequenceParallel; its "
          "parameters are re-registered as plain nn.Parameters, so frozen base weights become trainable (#547; the "
          "LoRA styles keep requires_grad)");
    CHECK(t.messages[1].find("RotaryEmbedParallel subclasses SequenceParallel; the module has no parameters") !=
          std::string::npos);

    // A second pass changes no style (the LoRA classes are not keys of the map).
    Translated again = Run(t.plan, LoraSections::kWithSpPlan);
    for (size_t i = 0; i < e.size(); ++i) CHECK(again.plan.entries[i].style == e[i].style);
    CHECK(again.codes == kUnconverted2);
  }

  TEST_CASE("nemo/llama: every plan entry converts; under SP the embedding and the two norms stay") {
    Translated t = Run(Bundled("nemo/llama"), LoraSections::kWithSpPlan);
    CHECK(t.plan.meta.name == "nemo/llama");  // the command renames; compile keeps the name
    REQUIRE(t.plan.entries.size() == 11);
    for (const PlanEntry& e : t.plan.entries) CHECK(IsLoraStyle(e.style));
    REQUIRE(t.plan.sp_entries.size() == 7);
    CHECK(t.plan.sp_entries[0].style == "vocab_parallel_embedding");
    CHECK(t.plan.sp_entries[1].style == "sequence_parallel_lora");  // model.norm
    CHECK(t.plan.sp_entries[2].style == "sequence_parallel_all_gather");
    CHECK(t.plan.sp_entries[3].style == "rowwise_lora");  // o_proj, reduce-scattering
    CHECK(t.codes == std::vector<std::string>(3, "lora-unconverted"));
    CHECK(t.lines == std::vector<int>{29, 31, 33});  // plans/nemo/llama.yaml
    CHECK(t.messages[0].find("VocabParallelEmbedding subclasses RowwiseParallel") != std::string::npos);

    // What compile --lora runs on: the entries in effect, no SP section, nothing to say.
    Translated plain = Run(Bundled("nemo/llama"), LoraSections::kPlanOnly);
    CHECK(plain.plan.sp_entries.empty());
    CHECK(plain.codes.empty());
  }

  TEST_CASE("rl/qwen under SP: RotaryEmbedParallel and both Qwen3QKNorm entries stay, plain SP norms convert") {
    Translated t = Run(Bundled("rl/qwen"), LoraSections::kWithSpPlan);
    CHECK(t.codes == std::vector<std::string>(3, "lora-unconverted"));
    CHECK(t.messages[1].find("'qwen3_qk_norm' on 'model.layers.*.self_attn.q_norm'") != std::string::npos);
    CHECK(t.messages[1].find("NeMo RL's Qwen3QKNorm subclasses SequenceParallel") != std::string::npos);
    int sp_lora = 0;
    for (const PlanEntry& e : t.plan.sp_entries) sp_lora += e.style == "sequence_parallel_lora";
    CHECK(sp_lora == 3);  // model.norm, input_layernorm, post_attention_layernorm
  }

  TEST_CASE("nemo/gemma4: its own row-parallel style leaves o_proj and down_proj adapters unplaced") {
    Translated t = Run(Bundled("nemo/gemma4"), LoraSections::kPlanOnly);
    CHECK(t.codes == std::vector<std::string>{"lora-unconverted", "lora-unplaced", "lora-unplaced"});
    CHECK(t.messages[1] ==
          "translate_to_lora leaves 'gemma4_rowwise' on 'model.language_model.layers.*.self_attn.o_proj' as it is: it "
          "converts exact types only, and _Gemma4RowwiseParallel is Gemma4's own style; the seed has no placement for "
          "these linears' lora_A/lora_B, so compile --lora gives them no adapters");
    CHECK(t.plan.entries.back().style == "colwise_lora");  // lm_head
  }
}

TEST_SUITE("compile --lora under torch") {
  const ProgramParam* Find(const Program& p, const std::string& name) {
    for (const ProgramParam& param : p.params)
      if (param.name == name) return &param;
    return nullptr;
  }

  TEST_CASE("nemo/llama translated: NeMo's adapter placements on all seven linears") {
    CompileOptions o;
    o.check = test::Opts(2, Dialect::kTorch);
    o.lora = true;
    o.lora_rank = 16;
    test::CompileRun c = test::CompileFiles("meta-llama__Llama-3.1-8B", "plans/nemo/llama.yaml", o);
    REQUIRE(c.program);
    const Program& p = *c.program;
    const ProgramParam* qa = Find(p, "model.layers.0.self_attn.q_proj.lora_A.weight");
    REQUIRE(qa);
    CHECK(qa->placement == Placement{Placement::kShard, 0});  // ColwiseParallelLora: the rank dim
    CHECK(qa->LocalShape(0) == std::vector<int64_t>{8, 4096});
    const ProgramParam* ob = Find(p, "model.layers.0.self_attn.o_proj.lora_B.weight");
    REQUIRE(ob);
    CHECK(ob->placement == Placement{Placement::kShard, 1});  // RowwiseParallelLora: the rank dim
    CHECK(ob->LocalShape(0) == std::vector<int64_t>{4096, 8});
    int adapters = 0;
    for (const ProgramParam& param : p.params) adapters += !param.adapter.empty();
    CHECK(adapters == 32 * 7 * 2);
  }

  TEST_CASE("a linear under a style the map leaves alone gets no adapters, and a warning says so") {
    CompileOptions o;
    o.check = test::Opts(2, Dialect::kTorch);
    o.lora = true;
    o.lora_rank = 4;
    test::CompileRun c = test::CompileTexts(test::kTinyLlama,
                                            "model.layers.*.self_attn.q_proj: colwise\n"
                                            "model.layers.*.self_attn.k_proj: colwise\n"
                                            "model.layers.*.self_attn.v_proj: colwise\n"
                                            "model.layers.*.self_attn.o_proj: gemma4_rowwise\n",
                                            o);
    REQUIRE(c.program);
    CHECK(std::count(c.codes.begin(), c.codes.end(), "lora-unplaced") == 1);
    const Program& p = *c.program;
    CHECK_FALSE(Find(p, "model.layers.0.self_attn.o_proj.lora_A.weight"));
    CHECK_FALSE(Find(p, "model.layers.1.self_attn.o_proj.lora_B.weight"));
    const ProgramParam* qa = Find(p, "model.layers.0.self_attn.q_proj.lora_A.weight");
    REQUIRE(qa);
    CHECK(qa->LocalShape(0) == std::vector<int64_t>{2, 64});  // rank 4 over 2 ranks, hidden 64
    // The unplanned MLP keeps whole adapters beside its whole weights.
    const ProgramParam* ga = Find(p, "model.layers.0.mlp.gate_proj.lora_A.weight");
    REQUIRE(ga);
    CHECK(ga->placement == Placement{});
    CHECK(ga->LocalShape(1) == std::vector<int64_t>{4, 64});
    int adapters = 0;
    for (const ProgramParam& param : p.params) adapters += !param.adapter.empty();
    CHECK(adapters == 2 * 6 * 2);  // q, k, v, gate, up, down in 2 layers; o_proj none

    // At tp 1 NeMo parallelizes nothing and translates nothing: every linear keeps its adapters.
    o.check.tp = 1;
    test::CompileRun one = test::CompileTexts(test::kTinyLlama,
                                              "model.layers.*.self_attn.q_proj: colwise\n"
                                              "model.layers.*.self_attn.k_proj: colwise\n"
                                              "model.layers.*.self_attn.v_proj: colwise\n"
                                              "model.layers.*.self_attn.o_proj: gemma4_rowwise\n",
                                              o);
    REQUIRE(one.program);
    CHECK(std::count(one.codes.begin(), one.codes.end(), "lora-unplaced") == 0);
    CHECK(Find(*one.program, "model.layers.0.self_attn.o_proj.lora_A.weight"));
  }
}

}  // namespace
}  // namespace tpc
