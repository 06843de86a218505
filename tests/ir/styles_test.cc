// The style table's NeMo columns: which rows carry each fact. The expected names are the seed's,
// by hand (automodel.md §1.3 for the HF translator, §3 for translate_to_lora, §2.3 for the masks).
#include <doctest/doctest.h>

#include <algorithm>

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

  // The hf-v5 names of a release, as tpc's table has them.
  std::vector<std::string> HfV5StylesIn(const std::string& version) {
    std::vector<std::string> out;
    for (const std::string& name : StyleNames(Dialect::kHfV5))
      if (StyleInRelease(*FindStyle(Dialect::kHfV5, name), version)) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
  }

  TEST_CASE("the hf-v5 vocabulary of 5.7.0 and of 5.24.0 is each release's registry") {
    // Copied by hand from the installed packages: 5.7.0's ParallelInterface._global_mapping
    // (integrations/tensor_parallel.py) and 5.24.0's ALL_PARALLEL_STYLES.register calls
    // (distributed/tensor_parallel.py, distributed/expert_parallel.py), sorted.
    CHECK(HfV5StylesIn("5.7.0") ==
          std::vector<std::string>{"colwise", "colwise_gather_output", "embedding_colwise", "embedding_rowwise",
                                   "ep_router", "grouped_gemm", "mla_kv_a_proj", "moe_identity_expert",
                                   "moe_tp_experts", "packed_colwise", "packed_rowwise", "replicated_with_grad_allreduce",
                                   "rowwise", "rowwise_split_input", "sequence_parallel"});
    CHECK(HfV5StylesIn("5.24.0") ==
          std::vector<std::string>{"all_reduce", "colwise", "colwise_gather_output", "colwise_rep",
                                   "embedding_colwise", "embedding_rowwise", "ep_dispatch_experts", "grouped_gemm",
                                   "local_params", "mla_kv_a_proj", "moe_identity_expert", "moe_tp_experts",
                                   "packed_colwise", "packed_rowwise", "replicate", "replicated_with_grad_allreduce",
                                   "rowwise", "rowwise_rep", "rowwise_split_input", "sequence_parallel"});
    // A later release keeps 5.24's vocabulary until tpc learns otherwise.
    CHECK(HfV5StylesIn("5.30.1") == HfV5StylesIn("5.24.0"));
    std::string why;
    CHECK_FALSE(StyleInRelease(*FindStyle(Dialect::kHfV5, "ep_router"), "5.24.0", &why));
    CHECK(why == "transformers 5.24.0 no longer has it");
    CHECK_FALSE(StyleInRelease(*FindStyle(Dialect::kHfV5, "colwise_rep"), "5.7.0", &why));
    CHECK(why == "the first release tpc knows with it is 5.24.0");
  }

  TEST_CASE("5.24's colwise_rep and rowwise_rep: the layouts of colwise_gather_output and rowwise_split_input") {
    // Both pairs are registered with the same constructor: ColwiseParallel(input_layouts=Replicate(),
    // output_layouts=Replicate()) and RowwiseParallel(input_layouts=Replicate(), output_layouts=Replicate()).
    const StyleInfo* c = FindStyle(Dialect::kHfV5, "colwise_rep");
    REQUIRE(c);
    CHECK(c->target == Target::kLinearLike);
    CHECK(c->split == WeightSplit::kOut);
    CHECK(c->in == Layout::kReplicate);
    CHECK(c->out == Layout::kReplicate);
    CHECK(c->gather_hint);
    const StyleInfo* r = FindStyle(Dialect::kHfV5, "rowwise_rep");
    REQUIRE(r);
    CHECK(r->split == WeightSplit::kIn);
    CHECK(r->in == Layout::kReplicate);
    CHECK(r->out == Layout::kReplicate);
    CHECK_FALSE(r->reduces);
    // The gather suggested for hf-v5 is still the name every 5.x release knows.
    CHECK(GatherStyle(Dialect::kHfV5) == "colwise_gather_output");
  }

  TEST_CASE("5.24's all_reduce: no parameter split, the module's partial output all-reduced") {
    // AllReduceParallel.transform_output_post_forward: a plain output is Partial, redistributed to Replicate.
    const StyleInfo* s = FindStyle(Dialect::kHfV5, "all_reduce");
    REQUIRE(s);
    CHECK(s->split == WeightSplit::kNone);
    CHECK(s->reduces);
    CHECK(s->target == Target::kBlock);
    CHECK(s->in == Layout::kPartial);
    CHECK(s->out == Layout::kReplicate);
  }

  TEST_CASE("5.24's local_params: local parameters, no hook on the activations") {
    // LocalParamsParallel only overrides should_use_local_tensors; its parameters' own entries shard them.
    const StyleInfo* s = FindStyle(Dialect::kHfV5, "local_params");
    REQUIRE(s);
    CHECK(s->split == WeightSplit::kNone);
    CHECK(s->passthrough);
    CHECK_FALSE(s->reduces);
    CHECK(s->target == Target::kAny);
  }

  TEST_CASE("5.24's replicate: the base TensorParallelLayer, nothing sharded") {
    const StyleInfo* s = FindStyle(Dialect::kHfV5, "replicate");
    REQUIRE(s);
    CHECK(s->split == WeightSplit::kNone);
    CHECK(s->passthrough);
    CHECK(s->in == Layout::kReplicate);
    CHECK(s->out == Layout::kReplicate);
  }

  TEST_CASE("5.24's ep_dispatch_experts: whole experts per rank, the block's output complete") {
    // EpDispatchExpertsParallel on the experts module; grouped_gemm shards its parameters by expert.
    const StyleInfo* s = FindStyle(Dialect::kHfV5, "ep_dispatch_experts");
    REQUIRE(s);
    CHECK(s->split == WeightSplit::kNone);
    CHECK(s->reduces);
    CHECK(s->target == Target::kBlock);
    CHECK(s->out == Layout::kReplicate);
    CHECK(FindStyle(Dialect::kHfV5, "grouped_gemm")->split == WeightSplit::kExperts);
  }

  TEST_CASE("each dialect names its colwise style with a gathered output") {
    CHECK(GatherStyle(Dialect::kTorch) == "colwise_rep");
    CHECK(GatherStyle(Dialect::kHfV4) == "colwise_rep");
    CHECK(GatherStyle(Dialect::kHfV5) == "colwise_gather_output");
  }
}

}  // namespace
}  // namespace tpc
