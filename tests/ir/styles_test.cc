// The style table's NeMo columns: which rows carry each fact. The expected names are the seed's,
// by hand (automodel.md §1.3 for the HF translator, §3 for translate_to_lora, §2.3 for the masks).
#include <doctest/doctest.h>

#include "ir/styles.h"

namespace tpc {
namespace {

// The torch style names whose row satisfies `has`.
template <typename F>
std::vector<std::string> TorchStylesWhere(F has) {
  std::vector<std::string> out;
  for (const std::string& name : StyleNames(Dialect::kTorch))
    if (has(*FindStyle(Dialect::kTorch, name))) out.push_back(name);
  return out;
}

TEST_SUITE("style table") {
  TEST_CASE("the HF translator takes the five exact-type strings and skips the HF MoE and ep_ styles") {
    CHECK(TorchStylesWhere([](const StyleInfo& s) { return s.from_hf; }) ==
          std::vector<std::string>{"colwise", "rowwise", "colwise_rep", "rowwise_rep", "sequence_parallel"});
    CHECK(TorchStylesWhere([](const StyleInfo& s) { return s.skipped != nullptr; }) ==
          std::vector<std::string>{"replicated_with_grad_allreduce", "local_colwise", "local_rowwise", "gather",
                                   "ep_router"});
    CHECK(TorchStylesWhere([](const StyleInfo& s) { return s.hf_lm_head_sharded; }) ==
          std::vector<std::string>{"colwise_rep"});
  }

  TEST_CASE("translate_to_lora: exact types have a LoRA class, _rep shorthands go through their base") {
    CHECK(FindStyle(Dialect::kTorch, "colwise")->lora == "colwise_lora");
    CHECK(FindStyle(Dialect::kTorch, "rowwise")->lora == "rowwise_lora");
    CHECK(FindStyle(Dialect::kTorch, "sequence_parallel")->lora == "sequence_parallel_lora");
    CHECK(FindStyle(Dialect::kTorch, "colwise_rep")->shorthand_for == "colwise");
    CHECK(FindStyle(Dialect::kTorch, "rowwise_rep")->shorthand_for == "rowwise");
    CHECK(TorchStylesWhere([](const StyleInfo& s) { return s.lora_class; }) ==
          std::vector<std::string>{"colwise_lora", "rowwise_lora", "sequence_parallel_lora"});
  }

  TEST_CASE("translate_to_lora keeps the subclass styles, each at its cost") {
    CHECK(TorchStylesWhere([](const StyleInfo& s) { return s.subclass != nullptr; }) ==
          std::vector<std::string>{"vocab_parallel_embedding", "sequence_parallel_all_gather",
                                   "rotary_embed_parallel", "qwen3_qk_norm", "gemma4_vocab_parallel_embedding",
                                   "gemma4_rowwise"});
    CHECK(FindStyle(Dialect::kTorch, "rotary_embed_parallel")->lora_cost == LoraCost::kNothing);
    CHECK(FindStyle(Dialect::kTorch, "gemma4_rowwise")->lora_cost == LoraCost::kUnplaced);
    CHECK(FindStyle(Dialect::kTorch, "gemma4_vocab_parallel_embedding")->lora_cost == LoraCost::kOwnCode);
    CHECK(FindStyle(Dialect::kTorch, "qwen3_qk_norm")->lora_cost == LoraCost::kRegrad);
    CHECK(FindStyle(Dialect::kTorch, "colwise")->lora_cost == LoraCost::kNone);
  }

  TEST_CASE("the vocab-parallel embeddings are the styles whose mask assumes the balanced split") {
    CHECK(TorchStylesWhere([](const StyleInfo& s) { return s.vocab_mask; }) ==
          std::vector<std::string>{"vocab_parallel_embedding", "gemma4_vocab_parallel_embedding"});
  }

  TEST_CASE("each dialect names its colwise style with a gathered output") {
    CHECK(GatherStyle(Dialect::kTorch) == "colwise_rep");
    CHECK(GatherStyle(Dialect::kHfV4) == "colwise_rep");
    CHECK(GatherStyle(Dialect::kHfV5) == "colwise_gather_output");
  }
}

}  // namespace
}  // namespace tpc
