#include <doctest/doctest.h>

#include "frontend/releases.h"
#include "test_util.h"

namespace tpc {
namespace {

using test::CheckTexts;
using test::kTinyLlama;

TEST_SUITE("styles") {
  TEST_CASE("a misspelt style gets a suggestion") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.self_attn.q_proj: colwize\n",
                                    test::Opts(2, Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:1:34: error: unknown style 'colwize' for dialect hf-v5; did you mean 'colwise'? [unknown-style]\n"
          "model.layers.*.self_attn.q_proj: colwize\n"
          "                                 ^~~~~~~\n");
  }

  TEST_CASE("the v4 vocabulary under hf-v5 names the rename") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.mlp.down_proj: local_rowwise\n",
                                    test::Opts(2, Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:1:31: error: unknown style 'local_rowwise' for dialect hf-v5; transformers 5.1 renamed it "
          "'rowwise' [unknown-style]\n"
          "model.layers.*.mlp.down_proj: local_rowwise\n"
          "                              ^~~~~~~~~~~~~\n");
    test::CheckRun v4 = CheckTexts(kTinyLlama, "plan.yaml", "lm_head: colwise_gather_output\n", test::Opts(2, Dialect::kHfV4));
    CHECK(v4.text.find("unknown style 'colwise_gather_output' for dialect hf-v4; before transformers 5.1 it was "
                       "'colwise_rep'") != std::string::npos);
  }

  TEST_CASE("the hf-v5 vocabulary is the release's: colwise_rep from 5.24, ep_router until it") {
    CheckOptions o57 = test::Opts(2, Dialect::kHfV5);
    std::string why;
    o57.transformers = *FindTransformersRelease("5.7", &why);
    test::CheckRun old = CheckTexts(kTinyLlama, "plan.yaml", "lm_head: colwise_rep\n", o57);
    CHECK(old.text ==
          "plan.yaml:1:10: error: style 'colwise_rep' is not in the vocabulary of transformers 5.7.0: the first "
          "release tpc knows with it is 5.24.0; transformers 5.1 renamed it 'colwise_gather_output' [unknown-style]\n"
          "lm_head: colwise_rep\n"
          "         ^~~~~~~~~~~\n");
    // 5.24 registers colwise_rep again, as colwise_gather_output: the logits gathered, nothing to say.
    test::CheckRun now = CheckTexts(kTinyLlama, "plan.yaml", "lm_head: colwise_rep\n", test::Opts(2, Dialect::kHfV5));
    CHECK(now.ok);
    CHECK(now.text.empty());
    test::CheckRun router = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.mlp: ep_router\n",
                                       test::Opts(2, Dialect::kHfV5));
    CHECK(router.text.rfind("plan.yaml:1:21: error: style 'ep_router' is not in the vocabulary of transformers "
                            "5.24.0: transformers 5.24.0 no longer has it [unknown-style]\n",
                            0) == 0);
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.mlp: ep_router\n", o57).ok);
  }

  TEST_CASE("a style of another dialect says which") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.embed_tokens: embedding_rowwise\n",
                                    test::Opts(2, Dialect::kTorch));
    CHECK(run.text.find("unknown style 'embedding_rowwise' for dialect torch; it is a style of hf-v5 (--dialect)") !=
          std::string::npos);
  }

  TEST_CASE("a linear style on a norm is rejected") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.input_layernorm: colwise\n",
                                    test::Opts(2, Dialect::kHfV5));
    REQUIRE_FALSE(run.codes.empty());
    CHECK(run.codes[0] == "style-wrong-module");
    CHECK(run.text.rfind(
              "plan.yaml:1:33: error: style 'colwise' cannot apply to 'model.layers.*.input_layernorm', a norm; it "
              "applies to linear layers and expert parameters [style-wrong-module]\n",
              0) == 0);
  }

  TEST_CASE("NeMo drops HF MoE styles with a warning") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.mlp: gather\n", test::Opts(2, Dialect::kTorch));
    CHECK(run.text ==
          "plan.yaml:1:21: warning: NeMo AutoModel skips style 'gather': HF MoE styles are skipped before "
          "translation, so the module stays replicated [style-skipped]\n"
          "model.layers.*.mlp: gather\n"
          "                    ^~~~~~\n");
  }

  TEST_CASE("a local_rowwise bias inside a gather block is added tp times") {
    const char* biased = R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8,
      "num_key_value_heads": 2, "intermediate_size": 192, "num_hidden_layers": 2, "vocab_size": 1000,
      "mlp_bias": true})";
    std::string plan = "model.layers.*.mlp.gate_proj: local_colwise\n"
                       "model.layers.*.mlp.up_proj: local_colwise\n"
                       "model.layers.*.mlp.down_proj: local_rowwise\n"
                       "model.layers.*.mlp: gather\n";
    test::CheckRun run = CheckTexts(biased, "plan.yaml", plan, test::Opts(4, Dialect::kHfV4));
    CHECK(run.text ==
          "plan.yaml:3:31: error: 'model.layers.*.mlp.down_proj' (local_rowwise) adds the whole bias to every "
          "rank's partial sum, so the reduction after it counts the bias 4 times; give "
          "'model.layers.*.mlp.down_proj.bias' its own `local` entry (IsolatedParallel divides it by tp) or use "
          "'rowwise', which adds it after the reduction [bias-added-per-rank]\n"
          "model.layers.*.mlp.down_proj: local_rowwise\n"
          "                              ^~~~~~~~~~~~~\n");
    CHECK(CheckTexts(biased, "plan.yaml", plan + "model.layers.*.mlp.down_proj.bias: local\n",
                     test::Opts(4, Dialect::kHfV4)).ok);
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(4, Dialect::kHfV4)).ok);  // no bias, no problem
  }

  TEST_CASE("style objects are a torch feature") {
    const char* plan = "lm_head: {style: colwise, output_layouts: [replicate]}\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kHfV5));
    CHECK(run.codes == std::vector<std::string>{"object-style-dialect"});
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kTorch)).ok);
  }
}

}  // namespace
}  // namespace tpc
