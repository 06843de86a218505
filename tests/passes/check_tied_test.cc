#include <doctest/doctest.h>

#include "test_util.h"

namespace tpc {
namespace {

using test::CheckTexts;
using test::kTinyLlama;

TEST_SUITE("tied") {
  const char* kTied = R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8,
    "num_key_value_heads": 2, "intermediate_size": 192, "num_hidden_layers": 1, "vocab_size": 1000,
    "tie_word_embeddings": true})";

  TEST_CASE("a sharded lm_head tied to a replicated embedding is an error") {
    test::CheckRun run = CheckTexts(kTied, "plan.yaml", "lm_head: colwise_gather_output\n", test::Opts(2, Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:1:10: error: 'lm_head.weight' and 'model.embed_tokens.weight' share one tensor "
          "(tie_word_embeddings) but end up shard(0) and replicate [tied-placement-mismatch]\n"
          "lm_head: colwise_gather_output\n"
          "         ^~~~~~~~~~~~~~~~~~~~~\n"
          "note: 'model.embed_tokens' has no plan entry, so it stays replicated\n");
  }

  TEST_CASE("a vocab-parallel embedding and a colwise lm_head agree") {
    const char* plan = "model.embed_tokens: embedding_rowwise\nlm_head: colwise_gather_output\n";
    CHECK(CheckTexts(kTied, "plan.yaml", plan, test::Opts(2, Dialect::kHfV5)).ok);
    // torch: RowwiseParallel on an embedding is vocab-parallel (dim 0), ColwiseParallel is dim 1.
    CHECK(CheckTexts(kTied, "plan.yaml", "model.embed_tokens: rowwise\nlm_head: colwise_rep\n", test::Opts(2, Dialect::kTorch)).ok);
    test::CheckRun bad =
        CheckTexts(kTied, "plan.yaml", "model.embed_tokens: colwise\nlm_head: colwise_rep\n", test::Opts(2, Dialect::kTorch));
    // lm_head first: its weight is shard(0), the embedding's shard(1).
    CHECK(bad.text.find("'lm_head.weight' and 'model.embed_tokens.weight' share one tensor (tie_word_embeddings) but "
                        "end up shard(0) and shard(1)") != std::string::npos);
  }

  TEST_CASE("untied weights may differ") {
    CHECK(CheckTexts(kTinyLlama, "plan.yaml", "lm_head: colwise_gather_output\n", test::Opts(2, Dialect::kHfV5)).ok);
  }
}

}  // namespace
}  // namespace tpc
