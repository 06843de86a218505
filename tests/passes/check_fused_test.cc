#include <doctest/doctest.h>

#include "test_util.h"

namespace tpc {
namespace {

const std::string kPhi3 = test::SourcePath("tests/data/configs/microsoft__Phi-3-mini-4k-instruct");

TEST_SUITE("fused") {
  TEST_CASE("colwise on a concatenated qkv hands ranks whole segments") {
    // Phi-3-mini: q, k and v are 32 x 96 = 3072 rows each, 9216 in all; tp 8 chunks of 1152 rows.
    test::CheckRun run = test::CheckText(kPhi3, "plan.yaml",
                                         "base_model_tp_plan:\n"
                                         "  layers.*.self_attn.qkv_proj: colwise\n"
                                         "  layers.*.self_attn.o_proj: rowwise\n",
                                         test::Opts(8));
    REQUIRE(run.loaded);
    CHECK(run.text ==
          "plan.yaml:2:32: error: style 'colwise' splits the concatenated [q|k|v] rows of "
          "'model.layers.*.self_attn.qkv_proj' into contiguous chunks: rank 0 of 8 gets rows [0, 1152) = q[0:1152] "
          "and rank 7 gets rows [8064, 9216) = v[1920:3072]; no style splits 3 segments each on its own, so gather "
          "the output with 'colwise_gather_output' (in all 32 layers) [fused-naive-split]\n"
          "  layers.*.self_attn.qkv_proj: colwise\n"
          "                               ^~~~~~~\n");
  }

  TEST_CASE("a chunk that straddles two segments names both") {
    test::CheckRun run = test::CheckText(kPhi3, "plan.yaml",
                                         "model.layers.*.mlp.gate_up_proj: colwise\n"
                                         "model.layers.*.mlp.down_proj: rowwise\n",
                                         test::Opts(3));
    REQUIRE(run.loaded);
    // gate_up: 2 x 8192 = 16384 rows; tp 3 chunks of 5462: rank 2 gets [10924, 16384) = up[2732:8192].
    CHECK(run.text.find("rank 0 of 3 gets rows [0, 5462) = gate[0:5462] and rank 2 gets rows [10924, 16384) = "
                        "up[2732:8192]; split each half on its own (a packed style)") != std::string::npos);
  }

  TEST_CASE("packed and gathered styles keep fused projections correct") {
    CHECK(test::CheckText(kPhi3, "plan.yaml",
                          "model.layers.*.mlp.gate_up_proj: packed_colwise\nmodel.layers.*.mlp.down_proj: rowwise\n",
                          test::Opts(8))
              .ok);
    CHECK(test::CheckText(kPhi3, "plan.yaml",
                          "model.layers.*.self_attn.qkv_proj: colwise_gather_output\n"
                          "model.layers.*.self_attn.o_proj: rowwise_split_input\n",
                          test::Opts(8))
              .ok);
  }

  TEST_CASE("packed styles cannot split unequal q, k, v segments") {
    test::CheckRun run = test::CheckText(kPhi3, "plan.yaml",
                                         "model.layers.*.self_attn.qkv_proj: packed_colwise\n"
                                         "model.layers.*.self_attn.o_proj: rowwise\n",
                                         test::Opts(8));
    CHECK(run.codes == std::vector<std::string>{"fused-naive-split"});
    CHECK(run.text.find("packed styles interleave two equal halves, and 'model.layers.*.self_attn.qkv_proj' has 3 "
                        "segments; rank 0") != std::string::npos);
    // The remedy is one that exists: not another packed style.
    CHECK(run.text.find("no style splits 3 segments each on its own, so gather the output with "
                        "'colwise_gather_output' (in all 32 layers)") != std::string::npos);
  }
}

}  // namespace
}  // namespace tpc
