// NeMo AutoModel's optimized Llama plans (plans/nemo/) and its custom styles, under the torch
// dialect, on the real Llama-3.1-8B config at tp 8. Expected collectives are counted by hand:
// 32 layers, hidden 4096 (8 KiB per token in bf16).
#include <doctest/doctest.h>

#include <algorithm>

#include "test_util.h"

namespace tpc {
namespace {

using Run = test::CompileRun;

Run CompileNemo(const std::string& plan_text, bool sp = false) {
  CompileOptions o;
  o.check = test::Opts(8, Dialect::kTorch);
  o.sequence_parallel = sp;
  return test::CompileTexts(test::ReadFile(test::SourcePath("tests/data/configs/meta-llama__Llama-3.1-8B/config.json")),
                            plan_text, o);
}

std::string Bundled(const std::string& name) { return test::ReadFile(test::SourcePath("plans/nemo/" + name)); }

int Count(const Program& p, CollectiveKind k) { return test::CountCollectives(p, k); }

TEST_SUITE("nemo-styles") {
  TEST_CASE("optimized llama plan: vocab-parallel embedding all-reduces, logits stay vocab-sharded") {
    Run r = CompileNemo(Bundled("llama.yaml"));
    REQUIRE(r.program);
    const Program& p = *r.program;
    // The fused-projection keys match nothing in a llama checkpoint, and the seed ships them anyway.
    CHECK(r.codes == std::vector<std::string>{"unmatched-key", "unmatched-key"});
    CHECK(p.params[0].name == "model.embed_tokens.weight");
    CHECK(p.params[0].LocalShape(0) == std::vector<int64_t>{16032, 4096});  // 128256 / 8 vocab rows
    CHECK(Count(p, CollectiveKind::kAllReduce) == 1 + 32 * 2);
    CHECK(Count(p, CollectiveKind::kAllGather) == 0);  // lm_head: Shard(-1) DTensor, no gather
    CHECK(p.collectives[0].after == "model.embed_tokens");
    CHECK(p.collectives[0].bytes_per_token == 4096 * 2);
  }

  TEST_CASE("optimized llama SP plan: all-gathering norms, reduce-scatters, one gather for lm_head") {
    Run r = CompileNemo(Bundled("llama.yaml"), true);
    REQUIRE(r.program);
    const Program& p = *r.program;
    CHECK(Count(p, CollectiveKind::kAllReduce) == 0);
    CHECK(Count(p, CollectiveKind::kReduceScatter) == 1 + 32 * 2);  // embedding, o_proj, down_proj
    CHECK(Count(p, CollectiveKind::kAllGather) == 32 * 2 + 1);       // two norms per layer, lm_head input
    CHECK(p.collectives[0].kind == CollectiveKind::kReduceScatter);
    CHECK(p.collectives[0].after == "model.embed_tokens");
    CHECK(p.collectives[1].kind == CollectiveKind::kAllGather);
    CHECK(p.collectives[1].after == "model.layers.0.input_layernorm");
    CHECK(p.collectives[1].before == "model.layers.0.self_attn.q_proj");
    CHECK(p.collectives.back().after == "model.norm");
    CHECK(p.collectives.back().before == "lm_head");
  }

  TEST_CASE("a plain SequenceParallel norm feeding colwise is Automodel #652: an error, not a program") {
    std::string plan = Bundled("llama.yaml");
    const std::string spag = "{style: sequence_parallel_all_gather, use_local_output: false}";
    size_t at = plan.find("model.layers.*.input_layernorm: " + spag);
    REQUIRE(at != std::string::npos);
    plan.replace(at + 32, spag.size(), "sequence_parallel");
    Run r = CompileNemo(plan, true);
    CHECK_FALSE(r.program);
    CHECK(std::count(r.codes.begin(), r.codes.end(), "layout-mismatch") >= 1);
  }
}

}  // namespace
}  // namespace tpc
