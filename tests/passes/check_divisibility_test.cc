#include <doctest/doctest.h>

#include "test_util.h"

namespace tpc {
namespace {

using test::CheckTexts;
using test::kTinyLlama;

// The Hugging Face llama plan, flat from the root (tiny llama: 8 heads, 2 KV heads, head_dim 8).
const char* kHfLlama =
    "model.layers.*.self_attn.q_proj: colwise\n"
    "model.layers.*.self_attn.k_proj: colwise\n"
    "model.layers.*.self_attn.v_proj: colwise\n"
    "model.layers.*.self_attn.o_proj: rowwise\n"
    "model.layers.*.mlp.gate_proj: colwise\n"
    "model.layers.*.mlp.up_proj: colwise\n"
    "model.layers.*.mlp.down_proj: rowwise\n"
    "lm_head: colwise_gather_output\n";

TEST_SUITE("divisibility") {
  TEST_CASE("kv heads fewer than tp is an error unless kv replication is on") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", kHfLlama, test::Opts(4));
    REQUIRE(run.loaded);
    CHECK(run.text ==
          "plan.yaml:2:34: error: num_key_value_heads (2) is not divisible by tp (4) (--kv-replication would "
          "replicate each KV head over 2 ranks); tp sizes that work: 1, 2 (in all 2 layers) [kv-heads-not-divisible]\n"
          "model.layers.*.self_attn.k_proj: colwise\n"
          "                                 ^~~~~~~\n"
          "config.json:5:3: note: num_key_value_heads is set here\n"
          "  \"num_key_value_heads\": 2,\n"
          "  ^~~~~~~~~~~~~~~~~~~~~\n");
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", kHfLlama, test::Opts(4, Dialect::kHfV5, true)).ok);
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", kHfLlama, test::Opts(8, Dialect::kHfV5, true)).ok);
  }

  TEST_CASE("heads, kv heads and vocab at a tp that divides none of them") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", kHfLlama, test::Opts(3));
    REQUIRE(run.loaded);
    // 192 = 3 * 64 splits; 8 heads, 2 KV heads and 1000 vocab rows do not.
    CHECK(run.codes == std::vector<std::string>{"heads-not-divisible", "kv-heads-not-divisible", "vocab-uneven"});
    CHECK(run.text.find("error: num_attention_heads (8) is not divisible by tp (3); tp sizes that work: 1, 2 "
                        "(in all 2 layers) [heads-not-divisible]") != std::string::npos);
    CHECK(run.text.find("plan.yaml:8:10: warning: vocab_size (1000) is not divisible by tp (3): torch.chunk gives "
                        "ranks 334 rows and the last rank 332 [vocab-uneven]\n"
                        "lm_head: colwise_gather_output\n"
                        "         ^~~~~~~~~~~~~~~~~~~~~\n") != std::string::npos);
    CHECK(run.errors == 2);
    CHECK(run.warnings == 1);
  }

  TEST_CASE("gathered attention is not checked for head counts") {
    // q/k/v gathered back (phi3/olmo2 style): attention runs on all heads, so 2 KV heads at tp 4 is fine.
    const char* gathered =
        "model.layers.*.self_attn.q_proj: colwise_gather_output\n"
        "model.layers.*.self_attn.k_proj: colwise_gather_output\n"
        "model.layers.*.self_attn.v_proj: colwise_gather_output\n"
        "model.layers.*.self_attn.o_proj: rowwise_split_input\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", gathered, test::Opts(4));
    CHECK(run.ok);
    CHECK(run.text.empty());
  }

  TEST_CASE("a gathered projection still needs its rows to split") {
    const char* gathered = "model.layers.*.self_attn.k_proj: colwise_gather_output\n"
                           "model.layers.*.self_attn.q_proj: colwise_gather_output\n"
                           "model.layers.*.self_attn.v_proj: colwise_gather_output\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", gathered, test::OptsUnder(32, "5.7"));
    // k_proj and v_proj have 2 * 8 = 16 rows and fail at tp 32 under 5.7; q_proj has 64 = 2 * 32 and splits.
    CHECK(run.codes == std::vector<std::string>{"dim-not-divisible", "dim-not-divisible", "release-dependent"});
    CHECK(run.text.find("error: out_features of 'model.layers.*.self_attn.k_proj' (16) is not divisible by tp (32), "
                        "and transformers 5.7 shards and gathers in equal chunks, so a rank crashes and the others "
                        "die in the collective; tp sizes that work: 1, 2, 4, 8, 16 [dim-not-divisible]") !=
          std::string::npos);
    // 5.24 runs the uneven gather: 16 rows over 32 ranks is one row on ranks 0-15, none on 16-31.
    run = CheckTexts(kTinyLlama, "plan.yaml", gathered, test::OptsUnder(32, "5.24"));
    CHECK(run.ok);
    CHECK(run.text.find("warning: out_features of 'model.layers.*.self_attn.k_proj' (16) is not divisible by tp (32): "
                        "ranks get 1 row on ranks 0-15, 0 on ranks 16-31, the largest 100.00% above the mean; "
                        "transformers 5.24.0 runs it with torch.chunk's uneven shards and pads the collectives "
                        "[uneven-shard]") != std::string::npos);
  }

  TEST_CASE("intermediate size must split for gate, up and down") {
    std::string cfg = kTinyLlama;
    cfg.replace(cfg.find("192"), 3, "196");  // 196 = 4 * 49: not a multiple of 8
    CheckOptions opts = test::OptsUnder(8, "5.7");
    opts.kv_replication = true;
    test::CheckRun run = CheckTexts(cfg, "plan.yaml", kHfLlama, opts);
    CHECK(run.codes == std::vector<std::string>{"dim-not-divisible", "dim-not-divisible", "dim-not-divisible",
                                                "release-dependent"});
    CHECK(run.text.find("plan.yaml:7:31: error: in_features of 'model.layers.*.mlp.down_proj' (196) is not divisible "
                        "by tp (8), and transformers 5.7 shards and gathers in equal chunks, so a rank crashes and "
                        "the others die in the collective; tp sizes that work: 1, 2, 4, 7, 14, 28, 49 "
                        "[dim-not-divisible]") != std::string::npos);
  }

  TEST_CASE("block_configs give every layer its own kv heads") {
    // Synthetic DeciLM: layer 0 groups 8 query heads per KV head (64 / 8 = 8 KV heads), layer 1
    // groups 16 (4 KV heads), layer 2 has no attention and layer 3 a linear one.
    const char* plan =
        "model.layers.*.self_attn.q_proj: colwise\n"
        "model.layers.*.self_attn.k_proj: colwise\n"
        "model.layers.*.self_attn.v_proj: colwise\n"
        "model.layers.*.self_attn.o_proj: rowwise\n";
    test::CheckRun run =
        test::CheckText(test::SourcePath("tests/data/configs/synthetic__decilm-4layer"), "plan.yaml", plan, test::Opts(8));
    CHECK(run.text ==
          "plan.yaml:2:34: error: num_key_value_heads (4) is not divisible by tp (8) (--kv-replication would "
          "replicate each KV head over 2 ranks); tp sizes that work: 1, 2, 4 (in layer 1) [kv-heads-not-divisible]\n"
          "model.layers.*.self_attn.k_proj: colwise\n"
          "                                 ^~~~~~~\n");
    CHECK(test::CheckText(test::SourcePath("tests/data/configs/synthetic__decilm-4layer"), "plan.yaml", plan, test::Opts(4)).ok);
  }

  TEST_CASE("expert parallelism needs the expert count to split") {
    // Mixtral has 8 experts: grouped_gemm hands each rank a contiguous block of 8 / tp experts.
    const char* plan =
        "base_model_tp_plan:\n"
        "  layers.*.mlp.experts.gate_up_proj: grouped_gemm\n"
        "  layers.*.mlp.experts.down_proj: grouped_gemm\n"
        "  layers.*.mlp.experts: moe_tp_experts\n";
    const std::string mixtral = test::SourcePath("tests/data/configs/mistralai__Mixtral-8x7B-Instruct-v0.1");
    test::CheckRun run = test::CheckText(mixtral, "plan.yaml", plan, test::Opts(3));
    CHECK(run.codes == std::vector<std::string>{"experts-not-divisible", "experts-not-divisible"});
    CHECK(run.text.rfind("plan.yaml:2:38: error: 8 experts cannot be split evenly over 3 ranks for expert "
                         "parallelism; sizes that work: 1, 2, 4, 8 [experts-not-divisible]\n",
                         0) == 0);
    CHECK(test::CheckText(mixtral, "plan.yaml", plan, test::Opts(8)).ok);
  }

  TEST_CASE("tp 1 checks nothing") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", kHfLlama, test::Opts(1));
    CHECK(run.ok);
    CHECK(run.text.empty());
  }
}

}  // namespace
}  // namespace tpc
