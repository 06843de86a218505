// check-seed-defects: all-gathered logits, VocabParallelEmbedding's mask on uneven vocabularies,
// and plan keys NeMo's MoE path refuses.
#include <doctest/doctest.h>

#include <algorithm>

#include "test_util.h"

namespace tpc {
namespace {

bool HasCode(const std::vector<std::string>& codes, const std::string& code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// A small llama whose vocabulary is gemma-3-27b's (262144 = 3 * 87381 + 1).
std::string GemmaVocabLlama(int vocab) {
  return R"({"model_type": "llama", "hidden_size": 96, "num_attention_heads": 6, "num_key_value_heads": 3,
    "intermediate_size": 192, "num_hidden_layers": 2, "vocab_size": )" +
         std::to_string(vocab) + R"(, "tie_word_embeddings": false})";
}

const char* kVpePlan = "model.embed_tokens: {style: vocab_parallel_embedding, input_layouts: [replicate]}\n";

TEST_SUITE("seed-defects") {
  TEST_CASE("nemo/default all-gathers the logits at tp > 1 and says how many bytes every rank holds") {
    // Llama-3.1-8B: 4096 tokens x 128256 vocab x 2 bytes = 1,050,673,152 B = 1002 MiB; half per rank at tp 2.
    test::TpcRun r = test::RunTpc(
        "check --model tests/data/configs/meta-llama__Llama-3.1-8B --plan nemo/default --tp 2 --no-color", false);
    CHECK(r.code == 0);
    CHECK(r.out.find("plans/nemo/default.yaml:25:20: warning: 'lm_head' all-gathers the logits: every rank holds "
                     "4096 tokens x 128256 vocab = 1002 MiB in bfloat16, where vocab-sharded logits would take "
                     "501 MiB per rank [replicated-logits]\n"
                     "  lm_head: {style: colwise, output_layouts: [replicate]}\n"
                     "                   ^~~~~~~\n") != std::string::npos);
  }

  TEST_CASE("replicated logits are no defect at tp 1 or in a Hugging Face dialect") {
    const char* plan = "lm_head: {style: colwise, output_layouts: [replicate]}\n";
    std::string config = test::SourcePath("tests/data/configs/meta-llama__Llama-3.1-8B");
    auto codes = [&](const char* p, int tp, Dialect d) {
      return test::CheckText(config, "plan.yaml", p, test::Opts(tp, d)).codes;
    };
    CHECK(HasCode(codes(plan, 2, Dialect::kTorch), "replicated-logits"));
    CHECK_FALSE(HasCode(codes(plan, 1, Dialect::kTorch), "replicated-logits"));
    CHECK_FALSE(HasCode(codes("lm_head: colwise_gather_output\n", 2, Dialect::kHfV5), "replicated-logits"));
  }

  TEST_CASE("a VocabParallelEmbedding over gemma-3-27b's vocab at tp 3 masks rank 1's last id on the wrong rank") {
    // torch.chunk: ceil(262144 / 3) = 87382 rows, so rank 1 holds [87382, 174764); the balanced split
    // gives rank 0 the one extra row and rank 1 [87382, 174763).
    test::CheckRun run =
        test::CheckTexts(GemmaVocabLlama(262144), "plan.yaml", kVpePlan, test::Opts(3, Dialect::kTorch));
    CHECK(run.codes == std::vector<std::string>{"vocab-uneven", "vpe-mask-mismatch"});
    CHECK(run.text.find(
              "plan.yaml:1:29: warning: 'model.embed_tokens' is a VocabParallelEmbedding and vocab_size (262144) is "
              "not divisible by tp (3): Shard(0) gives rank 1 rows [87382, 174764) (torch.chunk) but the mask fixup "
              "assumes [87382, 174763) (a balanced split), so ids near the boundary are looked up on the wrong rank "
              "[vpe-mask-mismatch]\n"
              "model.embed_tokens: {style: vocab_parallel_embedding, input_layouts: [replicate]}\n"
              "                            ^~~~~~~~~~~~~~~~~~~~~~~~\n") != std::string::npos);
  }

  TEST_CASE("the mask agrees with torch.chunk when the vocab divides, or when both splits happen to match") {
    // 262144 is even; 1001 at tp 3: chunks of 334 ([0,334) [334,668) [668,1001)) are also the balanced split.
    test::CheckRun even =
        test::CheckTexts(GemmaVocabLlama(262144), "plan.yaml", kVpePlan, test::Opts(2, Dialect::kTorch));
    CHECK(even.codes.empty());
    test::CheckRun odd = test::CheckTexts(GemmaVocabLlama(1001), "plan.yaml", kVpePlan, test::Opts(3, Dialect::kTorch));
    CHECK(odd.codes == std::vector<std::string>{"vocab-uneven"});
  }

  TEST_CASE("a torch key on Mixtral's router is one NeMo's MoE path rejects") {
    const char* plan = "model.layers.*.mlp.gate: colwise\n";
    std::string mixtral = test::SourcePath("tests/data/configs/mistralai__Mixtral-8x7B-Instruct-v0.1");
    test::CheckRun run = test::CheckText(mixtral, "plan.yaml", plan, test::Opts(2, Dialect::kTorch));
    CHECK(HasCode(run.codes, "moe-unsafe-key"));
    CHECK(run.text.find("plan.yaml:1:1: warning: NeMo AutoModel's MoE path rejects plan key 'model.layers.*.mlp.gate': "
                        "it reaches 'model.layers.*.mlp.gate', and routed experts and the router are EP-owned or need "
                        "global expert logits [moe-unsafe-key]\n"
                        "model.layers.*.mlp.gate: colwise\n"
                        "^~~~~~~~~~~~~~~~~~~~~~~\n") != std::string::npos);
    // The Hugging Face runtimes have no such check.
    test::CheckRun hf = test::CheckText(mixtral, "plan.yaml", plan, test::Opts(2, Dialect::kHfV5));
    CHECK_FALSE(HasCode(hf.codes, "moe-unsafe-key"));
  }
}

}  // namespace
}  // namespace tpc
