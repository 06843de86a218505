// Plan selection in NeMo AutoModel's order (automodel.md §1.4), one test per branch, on small configs
// written here so each branch's trigger (class name, model_type, auto_map) is visible.
#include <doctest/doctest.h>

#include "frontend/bundled_plans.h"
#include "frontend/model_loader.h"
#include "frontend/releases.h"
#include "frontend/select_plan.h"
#include "test_util.h"

namespace tpc {
namespace {

// A tiny llama-shaped config with the class, model_type and extra fields a branch needs.
std::string Config(const std::string& model_type, const std::string& arch, const std::string& extra = "") {
  return R"({"model_type": ")" + model_type + "\"" + (arch.empty() ? "" : R"(, "architectures": [")" + arch + "\"]") +
         R"(, "hidden_size": 64, "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 192,
            "num_hidden_layers": 2, "vocab_size": 1000, "tie_word_embeddings": false)" +
         extra + "}";
}

struct Selected {
  std::optional<Plan> plan;
  std::vector<std::string> codes;
  std::string message;  ///< the first diagnostic's text: the plan-chosen note or the refusal
};

Selected Select(const std::string& config, const std::string& plan, int tp, const std::string& transformers, bool sp) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<ModelGraph> model = ParseModel("config.json", config, test::Registry(), diags);
  REQUIRE(model);
  PlanRequest req;
  req.plan = plan;
  req.tp = tp;
  std::string why;
  req.transformers = *FindTransformersRelease(transformers, &why);
  req.sequence_parallel = sp;
  Selected s;
  s.plan = SelectPlan(*model, req, diags);
  for (const Diagnostic& d : diags.all()) s.codes.push_back(d.code);
  if (!diags.all().empty()) s.message = diags.all()[0].message;
  return s;
}

Selected Select(const std::string& config, const std::string& plan, int tp = 2, int transformers = 5, bool sp = false) {
  return Select(config, plan, tp, std::to_string(transformers), sp);
}

const PlanEntry* Entry(const Plan& p, const std::string& key) {
  for (const PlanEntry& e : p.entries)
    if (e.key == key) return &e;
  return nullptr;
}

TEST_SUITE("select-plan") {
  TEST_CASE("an explicit plan file is used as it is, without a note") {
    Selected s = Select(Config("llama", "LlamaForCausalLM"), test::SourcePath("plans/hf/llama.yaml"));
    REQUIRE(s.plan);
    CHECK(s.codes.empty());
    CHECK(s.plan->meta.name == "hf/llama");
    CHECK(s.plan->entries.size() == 9);  // lm_head, embed_tokens (5.24 adds it), 7 in the layers
  }

  TEST_CASE("hf/<type> by name is the plan of the release asked for: plans/hf57 under 5.7") {
    Selected now = Select(Config("llama", "LlamaForCausalLM"), "hf/llama");
    REQUIRE(now.plan);
    CHECK(now.plan->meta.name == "hf/llama");
    CHECK(now.codes.empty());
    REQUIRE(Entry(*now.plan, "embed_tokens"));
    CHECK(Entry(*now.plan, "embed_tokens")->style == "embedding_rowwise");
    Selected old = Select(Config("llama", "LlamaForCausalLM"), "hf/llama", 2, "5.7", false);
    REQUIRE(old.plan);
    CHECK(old.plan->meta.name == "hf57/llama");
    CHECK(old.message == "plan hf57/llama: what hf/llama names for transformers 5.7.0");
    // 5.7 applies the 7 base keys only: no embedding (not injected), no lm_head (post_init drops it).
    CHECK(old.plan->entries.size() == 7);
    CHECK_FALSE(Entry(*old.plan, "embed_tokens"));
    CHECK_FALSE(Entry(*old.plan, "lm_head"));
    // A name no older set overrides stays as it is; other names are never mapped.
    Selected nemo = Select(Config("llama", "LlamaForCausalLM"), "nemo/llama", 2, "5.7", false);
    REQUIRE(nemo.plan);
    CHECK(nemo.plan->meta.name == "nemo/llama");
  }

  TEST_CASE("auto under 5.7: NeMo reads the class's lm_head plan that 5.7 itself leaves out") {
    // hf57/mistral applies only the base plan, but get_hf_tp_shard_plan merges type(model)._tp_plan
    // first (automodel.md §1.3): its lm_head colwise_gather_output is rejected as under 5.24.
    Selected s = Select(Config("mistral", "MistralForCausalLM"), "auto", 2, "5.7", false);
    REQUIRE(s.plan);
    CHECK(s.plan->meta.name == "nemo/default");
    CHECK(s.message == "plan nemo/default: NeMo AutoModel's default base plan, because no optimized plan is "
                       "registered for 'MistralForCausalLM' and the Hugging Face plan hf57/mistral uses style "
                       "'colwise_gather_output' on 'lm_head', which NeMo AutoModel's translator rejects (Unknown "
                       "parallel style)");
  }

  TEST_CASE("a bundled plan by name, even one registered for another class") {
    Selected s = Select(Config("llama", "LlamaForCausalLM"), "nemo/phi3");
    REQUIRE(s.plan);
    CHECK(s.plan->meta.name == "nemo/phi3");
    CHECK(s.codes.empty());
  }

  TEST_CASE("an unknown name is fatal and suggests the closest bundled plan") {
    Selected s = Select(Config("llama", "LlamaForCausalLM"), "nemo/lama");
    CHECK_FALSE(s.plan);
    CHECK(s.codes == std::vector<std::string>{"unknown-plan"});
    CHECK(s.message == "--plan 'nemo/lama' is neither a readable file nor a bundled plan (did you mean 'nemo/llama'?); "
                       "'tpc plans' lists the bundled plans");
  }

  TEST_CASE("llama_nemotron_super_tp_plan: the DeciLM plan for nemotron-nas, the llama plan otherwise") {
    std::string nas = test::ReadFile(test::SourcePath("tests/data/configs/synthetic__decilm-4layer/config.json"));
    Selected a = Select(nas, "llama_nemotron_super_tp_plan");
    REQUIRE(a.plan);
    CHECK(a.plan->meta.name == "nemo/decilm_nemotron");
    CHECK(a.codes == std::vector<std::string>{"plan-chosen"});
    Selected b = Select(Config("llama", "LlamaForCausalLM"), "llama_nemotron_super_tp_plan");
    REQUIRE(b.plan);
    CHECK(b.plan->meta.name == "nemo/llama");
  }

  TEST_CASE("auto: the optimized plan registered for the config's class") {
    Selected s = Select(Config("qwen2", "Qwen2ForCausalLM"), "");
    REQUIRE(s.plan);
    CHECK(s.plan->meta.name == "nemo/qwen");
    CHECK(s.message == "plan nemo/qwen: the optimized plan NeMo AutoModel registers for 'Qwen2ForCausalLM'");
  }

  TEST_CASE("auto: a config without architectures finds the optimized plan by model_type") {
    Selected s = Select(Config("phi3", ""), "auto");
    REQUIRE(s.plan);
    CHECK(s.plan->meta.name == "nemo/phi3");
    CHECK(s.message == "plan nemo/phi3: the optimized plan NeMo AutoModel registers for the phi3 model class");
  }

  TEST_CASE("auto: an optimized plan that refuses the checkpoint falls back to the HF plan, translated") {
    // DeciLMForCausalLM is registered, but its plan refuses any model_type but nemotron-nas.
    Selected s = Select(Config("llama", "DeciLMForCausalLM"), "auto", 2, 4);
    REQUIRE(s.plan);
    CHECK(s.plan->meta.name == "hf4/llama");
    CHECK(s.message ==
          "plan hf4/llama as NeMo AutoModel translates it: the optimized plan nemo/decilm_nemotron refuses this "
          "checkpoint (DeciLM TP plan is only registered for Nemotron-NAS checkpoints: model_type is 'llama'), so the "
          "seed falls back to the model's Hugging Face plan");
    CHECK(s.plan->meta.dialect == Dialect::kTorch);
    // Base keys get the base prefix; lm_head colwise_rep becomes vocab-sharded logits; the
    // embedding the HF plan lacks is added as rowwise_rep.
    const PlanEntry* q = Entry(*s.plan, "model.layers.*.self_attn.q_proj");
    REQUIRE(q);
    CHECK(q->style == "colwise");
    const PlanEntry* lm = Entry(*s.plan, "lm_head");
    REQUIRE(lm);
    CHECK(lm->style == "colwise");
    REQUIRE(lm->output_layouts);
    CHECK(lm->output_layouts->front().kind == LayoutSpec::kShard);
    CHECK(lm->output_layouts->front().dim == -1);
    CHECK(lm->use_local_output == false);
    const PlanEntry* emb = Entry(*s.plan, "model.embed_tokens");
    REQUIRE(emb);
    CHECK(emb->style == "rowwise_rep");
    CHECK(s.plan->entries.size() == 9);  // 7 base keys, lm_head, embed_tokens
  }

  TEST_CASE("auto: when the fallback HF plan fails too, the seed raises") {
    Selected s = Select(Config("llama", "DeciLMForCausalLM"), "auto", 2, 5);
    CHECK_FALSE(s.plan);
    CHECK(s.codes == std::vector<std::string>{"no-usable-plan"});
    CHECK(s.message.find("the Hugging Face plan hf/llama it falls back to uses style 'colwise_gather_output' on "
                         "'lm_head', which NeMo AutoModel's translator rejects") != std::string::npos);
  }

  TEST_CASE("auto: no optimized plan, a usable HF plan (transformers 4.57)") {
    Selected s = Select(Config("mistral", "MistralForCausalLM"), "auto", 2, 4);
    REQUIRE(s.plan);
    CHECK(s.plan->meta.name == "hf4/mistral");
    CHECK(s.message == "plan hf4/mistral as NeMo AutoModel translates it: no optimized plan is registered for "
                       "'MistralForCausalLM', and the model's Hugging Face plan is usable");
  }

  TEST_CASE("auto: the HF plan unusable (transformers 5), so the default base plan") {
    Selected s = Select(Config("mistral", "MistralForCausalLM"), "auto", 2, 5);
    REQUIRE(s.plan);
    CHECK(s.plan->meta.name == "nemo/default");
    CHECK(s.message == "plan nemo/default: NeMo AutoModel's default base plan, because no optimized plan is "
                       "registered for 'MistralForCausalLM' and the Hugging Face plan hf/mistral uses style "
                       "'colwise_gather_output' on 'lm_head', which NeMo AutoModel's translator rejects (Unknown "
                       "parallel style)");
  }

  TEST_CASE("auto: custom code with no usable plan is refused at tp > 1, default at tp 1") {
    std::string remote = Config("mistral", "MistralForCausalLM", R"(, "auto_map": {"AutoModelForCausalLM": "modeling_x.X"})");
    Selected refused = Select(remote, "auto", 2, 5);
    CHECK_FALSE(refused.plan);
    CHECK(refused.codes == std::vector<std::string>{"no-usable-plan"});
    CHECK(refused.message.rfind("no tensor-parallel plan for the custom-code architecture 'MistralForCausalLM' (its "
                                "config has an auto_map, so it loads with trust_remote_code)", 0) == 0);
    CHECK(refused.message.find("Give a plan with --plan, or run at tp 1") != std::string::npos);
    Selected single = Select(remote, "auto", 1, 5);
    REQUIRE(single.plan);
    CHECK(single.plan->meta.name == "nemo/default");
    // A custom-code model whose HF plan is usable is not refused.
    Selected usable = Select(remote, "auto", 2, 4);
    REQUIRE(usable.plan);
    CHECK(usable.plan->meta.name == "hf4/mistral");
  }

  TEST_CASE("--sp applies the plan's variant: update keeps key order and appends, replace swaps the plan") {
    Selected llama = Select(Config("llama", "LlamaForCausalLM"), "auto", 2, 5, true);
    REQUIRE(llama.plan);
    // plans/nemo/llama.yaml: 11 keys; SP overrides 4 (embedding, o_proj, down_proj, lm_head) and adds 3.
    REQUIRE(llama.plan->entries.size() == 14);
    CHECK(llama.plan->entries[0].key == "model.embed_tokens");
    CHECK(llama.plan->entries[0].style == "vocab_parallel_embedding");
    CHECK(llama.plan->entries[10].key == "lm_head");
    CHECK(llama.plan->entries[11].key == "model.norm");
    CHECK(llama.plan->entries[13].key == "model.layers.*.post_attention_layernorm");
    Selected qwen = Select(Config("qwen2", "Qwen2ForCausalLM"), "auto", 2, 5, true);
    REQUIRE(qwen.plan);
    CHECK(qwen.plan->entries.size() == 14);  // the SP plan of plans/nemo/qwen.yaml, whole
    CHECK(qwen.plan->entries[2].key == "model.norm");
  }
}

}  // namespace
}  // namespace tpc
