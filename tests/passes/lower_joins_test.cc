// How the program says a rank combines what it holds: a bias beside a row split (once, whole on
// every rank, divided by tp), the token ids a vocab shard answers (transformers 5.7's offset), and
// the redistributions a runtime really performs on a plan the checks reject (tpc verify's
// keep-going compile). Expected values are worked out by hand next to each check.
#include <doctest/doctest.h>

#include "frontend/releases.h"
#include "test_util.h"

namespace tpc {
namespace {

using test::CompileFiles;
using test::CompileTexts;
using Compiled = test::CompileRun;

// kTinyLlama with biases on the MLP's linears: gate/up [192], down [64].
const char* kBiasedLlama = R"({
  "model_type": "llama", "hidden_size": 64, "num_attention_heads": 8, "num_key_value_heads": 2,
  "intermediate_size": 192, "num_hidden_layers": 2, "vocab_size": 1000, "tie_word_embeddings": false,
  "mlp_bias": true
})";

CompileOptions Options(int tp, Dialect d, bool keep_going = false) {
  CompileOptions o;
  o.check = test::Opts(tp, d);
  o.keep_going = keep_going;
  return o;
}

const ProgramParam& Param(const Program& p, const std::string& name) {
  for (const ProgramParam& param : p.params)
    if (param.name == name) return param;
  FAIL("no parameter " << name);
  throw std::logic_error("unreachable");
}

bool Has(const std::vector<std::string>& codes, const std::string& code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

const char* kV4LocalMlp =
    "model.layers.*.mlp.gate_proj: local_colwise\n"
    "model.layers.*.mlp.up_proj: local_colwise\n"
    "model.layers.*.mlp.down_proj: local_rowwise\n"
    "model.layers.*.mlp: gather\n";

TEST_SUITE("lowering") {
  TEST_CASE("a local_rowwise bias joins every rank's partial sum; its own `local` entry divides it by tp") {
    Compiled every = CompileTexts(kBiasedLlama, kV4LocalMlp, Options(2, Dialect::kHfV4, true));
    CHECK(Has(every.codes, "bias-added-per-rank"));
    REQUIRE(every.program);
    CHECK(Param(*every.program, "model.layers.0.mlp.down_proj.bias").bias == BiasJoin::kEveryRank);
    CHECK(Param(*every.program, "model.layers.0.mlp.gate_proj.bias").bias == BiasJoin::kNone);  // its own columns

    std::string fixed = std::string(kV4LocalMlp) + "model.layers.*.mlp.down_proj.bias: local\n";
    Compiled divided = CompileTexts(kBiasedLlama, fixed, Options(2, Dialect::kHfV4));
    INFO(divided.codes.size());
    REQUIRE(divided.program);
    CHECK(Param(*divided.program, "model.layers.1.mlp.down_proj.bias").bias == BiasJoin::kDivided);
    CHECK(Param(*divided.program, "model.layers.1.mlp.down_proj.bias").placement == Placement{});

    Compiled once = CompileTexts(kBiasedLlama, "model.layers.*.mlp.down_proj: rowwise\n", Options(2, Dialect::kHfV5));
    REQUIRE(once.program);
    CHECK(Param(*once.program, "model.layers.0.mlp.down_proj.bias").bias == BiasJoin::kOnce);
  }

  TEST_CASE("a vocab shard's token offsets: where its rows start, or transformers 5.7's rank x own rows") {
    // vocab 1000 over 3 ranks: torch.chunk gives 334, 334, 332 rows starting at 0, 334, 668.
    const char* plan = "model.embed_tokens: embedding_rowwise\n";
    Compiled newest = CompileTexts(test::kTinyLlama, plan, Options(3, Dialect::kHfV5));
    REQUIRE(newest.program);
    CHECK(Param(*newest.program, "model.embed_tokens.weight").vocab_offsets == std::vector<int64_t>{0, 334, 668});

    CompileOptions o = Options(3, Dialect::kHfV5, true);
    std::string why;
    std::optional<RuntimeRelease> r57 = FindTransformersRelease("5.7", &why);
    REQUIRE(r57);
    o.check.transformers = *r57;
    Compiled old = CompileTexts(test::kTinyLlama, plan, o);
    CHECK(Has(old.codes, "embedding-vocab-offset"));
    REQUIRE(old.program);
    CHECK(Param(*old.program, "model.embed_tokens.weight").vocab_offsets == std::vector<int64_t>{0, 334, 664});  // 2 x 332

    Compiled replicated = CompileTexts(test::kTinyLlama, "lm_head: colwise\n", Options(2, Dialect::kHfV5));
    REQUIRE(replicated.program);
    CHECK(Param(*replicated.program, "model.embed_tokens.weight").vocab_offsets.empty());
  }

  TEST_CASE("an uneven last-dim split pads its collective: vocab 1000 over 3 ranks gathers 3 x 334") {
    Compiled uneven = CompileTexts(test::kTinyLlama, "lm_head: colwise_gather_output\n", Options(3, Dialect::kHfV5));
    CHECK(Has(uneven.codes, "vocab-uneven"));
    REQUIRE(uneven.program);
    REQUIRE(uneven.program->collectives.size() == 1);
    const Collective& gather = uneven.program->collectives[0];
    CHECK(gather.kind == CollectiveKind::kAllGather);
    CHECK(gather.elements_per_token == 1000);
    CHECK(gather.padded_elements_per_token == 1002);
    CHECK(gather.bytes_per_token == 2000);                                   // bfloat16
    CHECK(gather.send_bytes_per_token == doctest::Approx(2.0 / 3 * 2004));  // the padded pieces go over the wire

    Compiled even = CompileTexts(test::kTinyLlama, "lm_head: colwise_gather_output\n", Options(2, Dialect::kHfV5));
    REQUIRE(even.program);
    CHECK(even.program->collectives.at(0).padded_elements_per_token == 0);
  }

  TEST_CASE("a Shard(1) DTensor into colwise: nothing gathers it (Automodel #652), and the program says so") {
    CompileOptions o = Options(2, Dialect::kTorch, true);
    const char* plan = R"(
model.embed_tokens: {style: rowwise, input_layouts: [replicate], output_layouts: [shard(1)], use_local_output: false}
model.layers.*.input_layernorm: sequence_parallel
model.layers.*.self_attn.q_proj: colwise
model.layers.*.self_attn.k_proj: {style: colwise, input_layouts: [shard(1)]}
)";
    Compiled c = CompileTexts(test::kTinyLlama, plan, o);
    CHECK(Has(c.codes, "layout-mismatch"));
    REQUIRE(c.program);
    const Program& p = *c.program;
    int q = -1, k = -1;
    // The collectives feeding layer 0's q_proj and k_proj, by the module that first consumes them.
    for (size_t i = 0; i < p.collectives.size(); ++i) {
      if (p.collectives[i].before == "model.layers.0.self_attn.q_proj") q = static_cast<int>(i);
      if (p.collectives[i].before == "model.layers.0.self_attn.k_proj") k = static_cast<int>(i);
    }
    CHECK(q == -1);  // q_proj's declared Replicate equals the desired one: no all-gather
    REQUIRE(k >= 0);  // k_proj declares Shard(1) and gathers for itself
    CHECK(p.collectives[static_cast<size_t>(k)].kind == CollectiveKind::kAllGather);
    CHECK(p.collectives[static_cast<size_t>(k)].after == "model.layers.0.input_layernorm");
  }

  TEST_CASE("NeMo's phi3 plan: a Shard(-1) DTensor gate_up is all-gathered before its chunk") {
    CompileOptions o = Options(2, Dialect::kTorch);
    Compiled c = CompileFiles("microsoft__Phi-3-mini-4k-instruct", "plans/nemo/phi3.yaml", o);
    REQUIRE(c.program);
    const Program& p = *c.program;
    const Collective* gather = nullptr;
    for (const Collective& col : p.collectives)
      if (col.after == "model.layers.0.mlp.gate_up_proj") gather = &col;
    REQUIRE(gather);
    CHECK(gather->kind == CollectiveKind::kAllGather);
    CHECK(gather->before == "model.layers.0.mlp.act_mul");
    CHECK(gather->elements_per_token == 2 * 8192);  // [gate | up], intermediate 8192
  }
}

}  // namespace
}  // namespace tpc
