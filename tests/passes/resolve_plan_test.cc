#include <doctest/doctest.h>

#include "test_util.h"

namespace tpc {
namespace {

using test::CheckTexts;
using test::kTinyLlama;

CheckOptions Opts(Dialect d, int tp = 2) {
  CheckOptions o;
  o.tp = tp;
  o.dialect = d;
  return o;
}

TEST_SUITE("resolve") {
  TEST_CASE("a key that matches nothing warns with the closest module") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml",
                                    "base_model_tp_plan:\n"
                                    "  layers.*.mlp.up_prj: colwise\n",
                                    Opts(Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:2:3: warning: plan key 'layers.*.mlp.up_prj' matches no module or parameter of this llama "
          "model; the runtime skips it; did you mean 'layers.*.mlp.up_proj'? [unmatched-key]\n"
          "  layers.*.mlp.up_prj: colwise\n"
          "  ^~~~~~~~~~~~~~~~~~~\n");
    CHECK(run.ok);  // a warning, as the runtimes only warn
  }

  TEST_CASE("base_model_tp_plan keys are prefixed with the base model path") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml",
                                    "base_model_tp_plan:\n"
                                    "  layers.*.mlp.gate_proj: colwise\n"
                                    "  layers.*.mlp.up_proj: colwise\n"
                                    "  layers.*.mlp.down_proj: rowwise\n",
                                    Opts(Dialect::kHfV5));
    CHECK(run.ok);
    CHECK(run.text.empty());
  }

  TEST_CASE("hf-v4 never applies a key with a digit inside a name") {
    // transformers 4.x turns `fc1` into `fc*` before the exact lookup (hf_tp.md §1.4).
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.mlp.w1: colwise\n", Opts(Dialect::kHfV4));
    CHECK(run.text ==
          "plan.yaml:1:1: warning: hf-v4 never applies key 'model.layers.*.mlp.w1': transformers 4.x turns every "
          "digit run of a module name into '*' before the exact lookup, so 'w1' is looked up as 'w*', so these "
          "layers stay replicated [dialect-never-applies]\n"
          "model.layers.*.mlp.w1: colwise\n"
          "^~~~~~~~~~~~~~~~~~~~~\n");
  }

  TEST_CASE("hf-v4 and hf-v5 do not glob: a star matches a numeric segment only") {
    // `*` in place of `mlp` is a literal name under the HF dialects, and a glob under torch.
    const char* plan = "model.layers.*.*.up_proj: colwise\nmodel.layers.*.*.gate_proj: colwise\nmodel.layers.*.*.down_proj: rowwise\n";
    test::CheckRun hf = CheckTexts(kTinyLlama, "plan.yaml", plan, Opts(Dialect::kHfV5));
    CHECK(hf.codes == std::vector<std::string>{"unmatched-key", "unmatched-key", "unmatched-key"});
    test::CheckRun torch = CheckTexts(kTinyLlama, "plan.yaml", plan, Opts(Dialect::kTorch));
    CHECK(torch.ok);
    CHECK(torch.text.empty());
  }

  TEST_CASE("torch matches each segment with fnmatch") {
    // [0] matches layer 0 only: layer 1's gate/up stay replicated and feed a rowwise down_proj? No:
    // down_proj matches both layers, so layer 1 gets a replicated input into a rowwise layer.
    const char* plan =
        "model.layers.[0].mlp.gate_proj: colwise\n"
        "model.layers.[0].mlp.up_proj: colwise\n"
        "model.layers.*.mlp.down_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, Opts(Dialect::kTorch));
    CHECK(run.codes == std::vector<std::string>{"layout-mismatch"});
    CHECK(run.text.find("(in layer 1) [layout-mismatch]") != std::string::npos);
  }

  TEST_CASE("under torch a later key overrides an earlier one on shared modules") {
    const char* plan =
        "model.layers.*.mlp.*: colwise\n"
        "model.layers.*.mlp.down_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, Opts(Dialect::kTorch));
    // The glob matches gate_proj, up_proj and down_proj in 2 layers; down_proj is taken over.
    CHECK(run.text ==
          "plan.yaml:1:1: warning: plan key 'model.layers.*.mlp.*' is overridden by a later key on 2 of its 6 "
          "matches [shadowed-key]\n"
          "model.layers.*.mlp.*: colwise\n"
          "^~~~~~~~~~~~~~~~~~~~\n"
          "plan.yaml:2:1: note: overridden by this key\n"
          "model.layers.*.mlp.down_proj: rowwise\n"
          "^~~~~~~~~~~~~~~~~~~~~~~~~~~~\n");
  }

  TEST_CASE("hf-v5 parameter keys shard weights without installing hooks") {
    // `.weight` keys slice the tensors; with no module hooks the maths stays local, so a rowwise
    // parameter key leaves partial sums that nothing all-reduces.
    const char* plan =
        "model.layers.*.mlp.gate_proj.weight: colwise\n"
        "model.layers.*.mlp.up_proj.weight: colwise\n"
        "model.layers.*.mlp.down_proj.weight: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, Opts(Dialect::kHfV5));
    CHECK(run.codes == std::vector<std::string>{"unreduced-partial"});
  }
}

TEST_SUITE("styles") {
  TEST_CASE("a misspelt style gets a suggestion") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.self_attn.q_proj: colwize\n",
                                    Opts(Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:1:34: error: unknown style 'colwize' for dialect hf-v5; did you mean 'colwise'? [unknown-style]\n"
          "model.layers.*.self_attn.q_proj: colwize\n"
          "                                 ^~~~~~~\n");
  }

  TEST_CASE("the v4 vocabulary under hf-v5 names the rename") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "lm_head: colwise_rep\n", Opts(Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:1:10: error: unknown style 'colwise_rep' for dialect hf-v5; transformers 5.1 renamed it "
          "'colwise_gather_output' [unknown-style]\n"
          "lm_head: colwise_rep\n"
          "         ^~~~~~~~~~~\n");
    test::CheckRun v4 = CheckTexts(kTinyLlama, "plan.yaml", "lm_head: colwise_gather_output\n", Opts(Dialect::kHfV4));
    CHECK(v4.text.find("unknown style 'colwise_gather_output' for dialect hf-v4; before transformers 5.1 it was "
                       "'colwise_rep'") != std::string::npos);
  }

  TEST_CASE("a style of another dialect says which") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.embed_tokens: embedding_rowwise\n",
                                    Opts(Dialect::kTorch));
    CHECK(run.text.find("unknown style 'embedding_rowwise' for dialect torch; it is a style of hf-v5 (--dialect)") !=
          std::string::npos);
  }

  TEST_CASE("a linear style on a norm is rejected") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.input_layernorm: colwise\n",
                                    Opts(Dialect::kHfV5));
    REQUIRE_FALSE(run.codes.empty());
    CHECK(run.codes[0] == "style-wrong-module");
    CHECK(run.text.rfind(
              "plan.yaml:1:33: error: style 'colwise' cannot apply to 'model.layers.*.input_layernorm', a norm; it "
              "applies to linear layers and expert parameters [style-wrong-module]\n",
              0) == 0);
  }

  TEST_CASE("NeMo drops HF MoE styles with a warning") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.mlp: gather\n", Opts(Dialect::kTorch));
    CHECK(run.text ==
          "plan.yaml:1:21: warning: NeMo AutoModel skips style 'gather': HF MoE styles are skipped before "
          "translation, so the module stays replicated [style-skipped]\n"
          "model.layers.*.mlp: gather\n"
          "                    ^~~~~~\n");
  }

  TEST_CASE("style objects are a torch feature") {
    const char* plan = "lm_head: {style: colwise, output_layouts: [replicate]}\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, Opts(Dialect::kHfV5));
    CHECK(run.codes == std::vector<std::string>{"object-style-dialect"});
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", plan, Opts(Dialect::kTorch)).ok);
  }
}

TEST_SUITE("tied") {
  const char* kTied = R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8,
    "num_key_value_heads": 2, "intermediate_size": 192, "num_hidden_layers": 1, "vocab_size": 1000,
    "tie_word_embeddings": true})";

  TEST_CASE("a sharded lm_head tied to a replicated embedding is an error") {
    test::CheckRun run = CheckTexts(kTied, "plan.yaml", "lm_head: colwise_gather_output\n", Opts(Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:1:10: error: 'lm_head.weight' and 'model.embed_tokens.weight' share one tensor "
          "(tie_word_embeddings) but end up shard(0) and replicate [tied-placement-mismatch]\n"
          "lm_head: colwise_gather_output\n"
          "         ^~~~~~~~~~~~~~~~~~~~~\n"
          "note: 'model.embed_tokens' has no plan entry, so it stays replicated\n");
  }

  TEST_CASE("a vocab-parallel embedding and a colwise lm_head agree") {
    const char* plan = "model.embed_tokens: embedding_rowwise\nlm_head: colwise_gather_output\n";
    CHECK(CheckTexts(kTied, "plan.yaml", plan, Opts(Dialect::kHfV5)).ok);
    // torch: RowwiseParallel on an embedding is vocab-parallel (dim 0), ColwiseParallel is dim 1.
    CHECK(CheckTexts(kTied, "plan.yaml", "model.embed_tokens: rowwise\nlm_head: colwise_rep\n", Opts(Dialect::kTorch)).ok);
    test::CheckRun bad =
        CheckTexts(kTied, "plan.yaml", "model.embed_tokens: colwise\nlm_head: colwise_rep\n", Opts(Dialect::kTorch));
    // lm_head first: its weight is shard(0), the embedding's shard(1).
    CHECK(bad.text.find("'lm_head.weight' and 'model.embed_tokens.weight' share one tensor (tie_word_embeddings) but "
                        "end up shard(0) and shard(1)") != std::string::npos);
  }

  TEST_CASE("untied weights may differ") {
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", "lm_head: colwise_gather_output\n", Opts(Dialect::kHfV5)).ok);
  }
}

}  // namespace
}  // namespace tpc
