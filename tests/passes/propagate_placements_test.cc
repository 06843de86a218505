#include <doctest/doctest.h>

#include "test_util.h"

namespace tpc {
namespace {

using test::CheckTexts;
using test::kTinyLlama;

const char* kAttention =
    "model.layers.*.self_attn.q_proj: colwise\n"
    "model.layers.*.self_attn.k_proj: colwise\n"
    "model.layers.*.self_attn.v_proj: colwise\n"
    "model.layers.*.self_attn.o_proj: rowwise\n";

TEST_SUITE("propagate") {
  TEST_CASE("the llama plan is consistent from embedding to lm_head") {
    std::string plan = std::string(kAttention) +
                       "model.layers.*.mlp.gate_proj: colwise\n"
                       "model.layers.*.mlp.up_proj: colwise\n"
                       "model.layers.*.mlp.down_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2));
    CHECK(run.ok);
    CHECK(run.text.empty());
  }

  TEST_CASE("q replicated while k and v are sharded") {
    const char* plan =
        "model.layers.*.self_attn.k_proj: colwise\n"
        "model.layers.*.self_attn.v_proj: colwise\n"
        "model.layers.*.self_attn.o_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2));
    REQUIRE(run.codes.size() >= 1);
    CHECK(run.codes[0] == "attention-layout-mismatch");
    CHECK(run.text.rfind(
              "plan.yaml:1:34: error: attention in 'model.layers.*.self_attn.attention' gets a replicated tensor from "
              "'model.layers.*.self_attn.q_proj' but a tensor sharded on the last dim from "
              "'model.layers.*.self_attn.k_proj' (in all 2 layers) [attention-layout-mismatch]\n"
              "model.layers.*.self_attn.k_proj: colwise\n"
              "                                 ^~~~~~~\n",
              0) == 0);
  }

  TEST_CASE("at tp 1 the same plan runs: one warning says what tp > 1 would find") {
    const char* plan =
        "model.layers.*.self_attn.k_proj: colwise\n"
        "model.layers.*.self_attn.v_proj: colwise\n"
        "model.layers.*.self_attn.o_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(1));
    CHECK(run.ok);
    CHECK(run.errors == 0);
    CHECK(run.codes == std::vector<std::string>{"layouts-at-tp-1"});
    // At tp 2: attention mixes a whole q with sharded k/v, and o_proj (rowwise) then gets the
    // replicated output attention hands on.
    CHECK(run.text.rfind("plan.yaml:1:34: warning: at tp 1 nothing is split, so this plan runs as written; at tp > 1 it "
                         "has 2 layout error(s), the first: attention in 'model.layers.*.self_attn.attention' gets a "
                         "replicated tensor from 'model.layers.*.self_attn.q_proj'",
                         0) == 0);
  }

  TEST_CASE("o_proj colwise after head-sharded attention") {
    std::string plan = kAttention;
    plan.replace(plan.find("o_proj: rowwise"), 15, "o_proj: colwise");
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2));
    CHECK(run.codes == std::vector<std::string>{"layout-mismatch", "layout-mismatch"});
    CHECK(run.text ==
          "plan.yaml:4:34: error: 'model.layers.*.self_attn.o_proj' (colwise) expects a replicated tensor but "
          "'model.layers.*.self_attn.attention' hands it a tensor sharded on the last dim; the local shapes no longer "
          "line up (in all 2 layers) [layout-mismatch]\n"
          "model.layers.*.self_attn.o_proj: colwise\n"
          "                                 ^~~~~~~\n"
          "plan.yaml:1:1: note: 'model.layers.*.self_attn.q_proj' sets that layout here\n"
          "model.layers.*.self_attn.q_proj: colwise\n"
          "^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
          "plan.yaml:4:34: error: 'model.layers.*.attn_residual' expects a replicated tensor but "
          "'model.layers.*.self_attn.o_proj' (colwise) hands it a tensor sharded on the last dim; the residual stream "
          "is replicated, so the sum mixes a slice with the whole (in all 2 layers) [layout-mismatch]\n"
          "model.layers.*.self_attn.o_proj: colwise\n"
          "                                 ^~~~~~~\n");
  }

  TEST_CASE("under torch a re-wrapped local tensor is silently wrong") {
    std::string plan = kAttention;
    plan.replace(plan.find("o_proj: rowwise"), 15, "o_proj: colwise");
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kTorch));
    CHECK(run.text.find("'model.layers.*.self_attn.o_proj' (colwise) expects a replicated tensor but "
                        "'model.layers.*.self_attn.attention' hands it a tensor sharded on the last dim; the plain "
                        "tensor is re-wrapped with the declared layout without a check, so results are silently "
                        "wrong") != std::string::npos);
  }

  TEST_CASE("down_proj missing after sharded gate and up") {
    const char* plan =
        "model.layers.*.mlp.gate_proj: colwise\n"
        "model.layers.*.mlp.up_proj: colwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2));
    CHECK(run.text ==
          "plan.yaml:1:31: error: 'model.layers.*.mlp.down_proj' expects a replicated tensor but "
          "'model.layers.*.mlp.act_mul' hands it a tensor sharded on the last dim; 'model.layers.*.mlp.down_proj' "
          "has no plan entry and applies its full weight to a local shard (in all 2 layers) [layout-mismatch]\n"
          "model.layers.*.mlp.gate_proj: colwise\n"
          "                              ^~~~~~~\n"
          "note: 'model.layers.*.mlp.down_proj' has no plan entry, so it stays replicated\n");
  }

  TEST_CASE("gate and down swapped") {
    const char* plan =
        "model.layers.*.mlp.gate_proj: rowwise\n"
        "model.layers.*.mlp.up_proj: colwise\n"
        "model.layers.*.mlp.down_proj: colwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2));
    CHECK(run.codes == std::vector<std::string>{"layout-mismatch", "layout-mismatch", "layout-mismatch"});
    CHECK(run.text.rfind(
              "plan.yaml:1:31: error: 'model.layers.*.mlp.gate_proj' (rowwise) expects a tensor sharded on the last "
              "dim but 'model.layers.*.post_attention_layernorm' hands it a replicated tensor; the local shapes no "
              "longer line up (in all 2 layers) [layout-mismatch]\n",
              0) == 0);
    CHECK(run.text.find("'model.layers.*.mlp.act_mul' expects a replicated tensor but 'model.layers.*.mlp.up_proj' "
                        "(colwise) hands it a tensor sharded on the last dim; 'model.layers.*.mlp.gate_proj' gives the "
                        "other operand a replicated tensor, and an elementwise product needs both alike") !=
          std::string::npos);
  }

  TEST_CASE("a rowwise layer with no module hooks leaves partial sums for the residual add") {
    // hf-v4 local_rowwise installs no hooks: only a parent `gather` would reduce its output.
    const char* plan =
        "model.layers.*.mlp.gate_proj: local_colwise\n"
        "model.layers.*.mlp.up_proj: local_colwise\n"
        "model.layers.*.mlp.down_proj: local_rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kHfV4));
    CHECK(run.text ==
          "plan.yaml:3:31: error: 'model.layers.*.mlp.down_proj' produces partial sums that nothing reduces before "
          "the residual add 'model.layers.*.mlp_residual' (in all 2 layers) [unreduced-partial]\n"
          "model.layers.*.mlp.down_proj: local_rowwise\n"
          "                              ^~~~~~~~~~~~~\n");
    std::string with_gather = std::string(plan) + "model.layers.*.mlp: gather\n";
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", with_gather, test::Opts(2, Dialect::kHfV4)).ok);
  }

  TEST_CASE("sharded experts without a module-level reduce leave partial sums (the llama4 defect)") {
    const std::string mixtral = test::SourcePath("tests/data/configs/mistralai__Mixtral-8x7B-Instruct-v0.1");
    const char* plan =
        "base_model_tp_plan:\n"
        "  layers.*.mlp.experts.gate_up_proj: packed_colwise\n"
        "  layers.*.mlp.experts.down_proj: rowwise\n";
    test::CheckRun run = test::CheckText(mixtral, "plan.yaml", plan, test::Opts(2));
    CHECK(run.text ==
          "plan.yaml:2:38: error: 'model.layers.*.mlp.experts' produces partial sums that nothing reduces before "
          "the residual add 'model.layers.*.mlp_residual' (in all 32 layers) [unreduced-partial]\n"
          "  layers.*.mlp.experts.gate_up_proj: packed_colwise\n"
          "                                     ^~~~~~~~~~~~~~\n");
    std::string reduced = std::string(plan) + "  layers.*.mlp.experts: moe_tp_experts\n";
    CHECK(test::CheckText(mixtral, "plan.yaml", reduced, test::Opts(2)).ok);
  }

  TEST_CASE("gather over an already reduced block counts the output tp times") {
    const char* plan =
        "model.layers.*.mlp.gate_proj: colwise\n"
        "model.layers.*.mlp.up_proj: colwise\n"
        "model.layers.*.mlp.down_proj: rowwise\n"
        "model.layers.*.mlp: gather\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kHfV4));
    CHECK(run.text.rfind(
              "plan.yaml:4:21: error: 'model.layers.*.mlp' (gather) all-reduces the output of "
              "'model.layers.*.mlp.down_proj', which is a replicated tensor already: the result comes out tp times "
              "too large (in all 2 layers) [layout-mismatch]\n",
              0) == 0);
  }

  TEST_CASE("a sequence-parallel norm feeding colwise gets no all-gather (Automodel #652)") {
    const char* plan =
        "model.layers.*.input_layernorm: sequence_parallel\n"
        "model.layers.*.self_attn.q_proj: colwise\n"
        "model.layers.*.self_attn.k_proj: colwise\n"
        "model.layers.*.self_attn.v_proj: colwise\n"
        "model.layers.*.self_attn.o_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kTorch));
    // The norm treats its replicated input as already sequence-sharded, then hands a Shard(1)
    // DTensor to q/k/v whose declared input (Replicate) equals the desired one: no all-gather.
    REQUIRE(run.codes.size() >= 4);
    CHECK(run.text.rfind("plan.yaml:1:33: error: 'model.layers.*.input_layernorm' (sequence_parallel) expects a "
                         "sequence-sharded tensor but 'model.embed_tokens' hands it a replicated tensor; the plain "
                         "tensor is re-wrapped with the declared layout without a check, so results are silently "
                         "wrong (in layer 0) [layout-mismatch]\n",
                         0) == 0);
    CHECK(run.text.find("plan.yaml:2:34: error: 'model.layers.*.self_attn.q_proj' (colwise) expects a replicated "
                        "tensor but 'model.layers.*.input_layernorm' (sequence_parallel) hands it a sequence-sharded "
                        "tensor; the declared input layout equals the desired one, so nothing redistributes it "
                        "(Automodel #652) (in all 2 layers) [layout-mismatch]\n") != std::string::npos);
  }
}

}  // namespace
}  // namespace tpc
