// The lowering passes on real configs and real Hugging Face plans. Every expected number is worked
// out by hand from the config (shown next to it), never read back from the compiler.
#include <doctest/doctest.h>

#include "test_util.h"

namespace tpc {
namespace {

using test::CompileFiles;
using test::CompileTexts;
using Compiled = test::CompileRun;

CompileOptions Tp(int tp) {
  CompileOptions o;
  o.check = test::Opts(tp);
  return o;
}

const ProgramParam& Param(const Program& p, const std::string& name) {
  for (const ProgramParam& param : p.params)
    if (param.name == name) return param;
  FAIL("no parameter " << name);
  throw std::logic_error("unreachable");
}

int Count(const Program& p, CollectiveKind k) { return test::CountCollectives(p, k); }

using Shape = std::vector<int64_t>;
const Placement kRep{};
const Placement kShard0{Placement::kShard, 0};
const Placement kShard1{Placement::kShard, 1};

TEST_SUITE("lowering") {
  TEST_CASE("torch.chunk splits: uneven last ranks, possibly empty") {
    // 10 rows over 4 ranks: ceil(10/4) = 3 -> 3, 3, 3, 1.
    CHECK(ChunkOf(10, 4, 0).start == 0);
    CHECK(ChunkOf(10, 4, 2).start == 6);
    CHECK(ChunkOf(10, 4, 3).length == 1);
    // 5 rows over 4 ranks: ceil = 2 -> 2, 2, 1, 0 (the last rank holds nothing, start clamps to 5).
    CHECK(ChunkOf(5, 4, 2).length == 1);
    CHECK(ChunkOf(5, 4, 3).length == 0);
    CHECK(ChunkOf(5, 4, 3).start == 5);
    CHECK(ChunkOf(6, 3, 1, 100).start == 102);
  }

  TEST_CASE("Llama-3.1-405B, HF plan (5.24: vocab-parallel embedding) + colwise_gather_output lm_head, tp 8") {
    Compiled c = CompileFiles("meta-llama__Llama-3.1-405B", "plans/hf/llama.yaml", Tp(8));
    REQUIRE(c.program);
    const Program& p = *c.program;
    // 126 layers x (2 norms + 7 linears) + embed + final norm + lm_head = 1134 + 3.
    CHECK(p.params.size() == 1137);
    CHECK(p.dtype == "bfloat16");
    const ProgramParam& q = Param(p, "model.layers.0.self_attn.q_proj.weight");
    CHECK(q.placement == kShard0);
    CHECK(q.LocalShape(0) == Shape{2048, 16384});  // 128 heads x 128 / 8
    CHECK(q.ranks[3].size() == 1);
    CHECK(q.ranks[3][0].start == 3 * 2048);
    CHECK(Param(p, "model.layers.77.self_attn.k_proj.weight").LocalShape(0) == Shape{128, 16384});  // 8 kv heads / 8
    CHECK(Param(p, "model.layers.0.self_attn.o_proj.weight").placement == kShard1);
    CHECK(Param(p, "model.layers.0.self_attn.o_proj.weight").LocalShape(0) == Shape{16384, 2048});
    CHECK(Param(p, "model.layers.125.mlp.down_proj.weight").LocalShape(7) == Shape{16384, 6656});  // 53248 / 8
    CHECK(Param(p, "lm_head.weight").LocalShape(0) == Shape{16032, 16384});                        // 128256 / 8
    // embedding_rowwise, which transformers 5.24 adds to the plan: vocab rows, 128256 / 8.
    CHECK(Param(p, "model.embed_tokens.weight").placement == kShard0);
    CHECK(Param(p, "model.embed_tokens.weight").LocalShape(7) == Shape{16032, 16384});
    CHECK(Param(p, "model.embed_tokens.weight").ranks[7][0].start == 7 * 16032);
    CHECK(Param(p, "model.norm.weight").placement == kRep);
    CHECK(Param(p, "model.layers.3.post_attention_layernorm.weight").placement == kRep);

    REQUIRE(p.collectives.size() == 254);
    CHECK(Count(p, CollectiveKind::kAllReduce) == 253);  // the embedding, o_proj and down_proj in 126 layers
    for (size_t i = 0; i < 253; ++i) {
      CHECK(p.collectives[i].kind == CollectiveKind::kAllReduce);
      CHECK(p.collectives[i].bytes_per_token == 16384 * 2);
    }
    CHECK(p.collectives[0].after == "model.embed_tokens");  // the masked partial lookups summed
    CHECK(p.collectives[0].before == "model.layers.0.input_layernorm");
    CHECK(p.collectives[1].after == "model.layers.0.self_attn.o_proj");
    CHECK(p.collectives[1].before == "model.layers.0.attn_residual");
    CHECK(p.collectives[2].after == "model.layers.0.mlp.down_proj");
    CHECK(p.collectives[252].after == "model.layers.125.mlp.down_proj");
    const Collective& logits = p.collectives[253];
    CHECK(logits.kind == CollectiveKind::kAllGather);
    CHECK(logits.after == "lm_head");
    CHECK(logits.bytes_per_token == 128256 * 2);

    // NeMo's head-count rewrite on each self_attn: 128/8 query heads, 8/8 kv heads.
    REQUIRE(p.attributes.size() == 252);
    CHECK(p.attributes[0].module == "model.layers.0.self_attn");
    CHECK(p.attributes[0].name == "num_heads");
    CHECK(p.attributes[0].value == 16);
    CHECK(p.attributes[1].name == "num_key_value_heads");
    CHECK(p.attributes[1].value == 1);

    const int64_t H = 16384, V = 128256, I = 53248, L = 126, KV = 1024;
    int64_t rank0 = 2 * (V / 8 * H + (2 * L + 1) * H + L * (2 * H * H / 8 + 2 * KV * H / 8 + 3 * I * H / 8) + V / 8 * H);
    int64_t total = 2 * (2 * V * H + (2 * L + 1) * H + L * (2 * H * H + 2 * KV * H + 3 * I * H));
    CHECK(p.summary.param_bytes_per_rank[0] == rank0);
    CHECK(p.summary.param_bytes_per_rank[7] == rank0);
    CHECK(p.summary.param_bytes_total == total);
    CHECK(p.summary.traffic_bytes_per_token == 253 * 32768 + 256512);
    CHECK(p.summary.layer_traffic_bytes_per_token == 2 * 32768);
    // Ring: all-reduce sends 2(n-1)/n of the tensor, all-gather (n-1)/n.
    CHECK(p.summary.send_bytes_per_token == doctest::Approx(253 * 2 * 7.0 / 8 * 32768 + 7.0 / 8 * 256512));
    // 254 launches of 6.6 us, 253 x 14 + 7 hops of 0.6 us, over 4096 tokens; plus bytes at 450 GB/s.
    double us = (254 * 6.6 + (253 * 14 + 7) * 0.6) / 4096 + (253 * 1.75 * 32768 + 0.875 * 256512) / 450e3;
    CHECK(p.summary.comm_us_per_token == doctest::Approx(us));
  }

  TEST_CASE("--sp turns each all-reduce into a reduce-scatter and an all-gather (NeMo semantics)") {
    CompileOptions o = Tp(8);
    o.sequence_parallel = true;
    Compiled c = CompileFiles("meta-llama__Llama-3.1-405B", "plans/hf/llama.yaml", o);
    REQUIRE(c.program);
    const Program& p = *c.program;
    CHECK(Count(p, CollectiveKind::kAllReduce) == 0);
    // The vocab-parallel embedding's partial sums reduce-scatter into sequence shards, then o_proj
    // and down_proj in 126 layers.
    CHECK(Count(p, CollectiveKind::kReduceScatter) == 253);
    CHECK(p.collectives[0].kind == CollectiveKind::kReduceScatter);
    CHECK(p.collectives[0].after == "model.embed_tokens");
    CHECK(p.collectives[0].to == Layout::kShardSeq);
    // One gather per norm output feeding q/k/v or gate/up (252), one of the final norm for lm_head,
    // and the logits.
    CHECK(Count(p, CollectiveKind::kAllGather) == 254);
    const Collective& c0 = p.collectives[1];
    CHECK(c0.kind == CollectiveKind::kAllGather);
    CHECK(c0.after == "model.layers.0.input_layernorm");
    CHECK(c0.before == "model.layers.0.self_attn.q_proj");
    CHECK(c0.from == Layout::kShardSeq);
    CHECK(c0.to == Layout::kReplicate);
    CHECK(c0.bytes_per_token == 32768);
    CHECK(p.collectives[2].kind == CollectiveKind::kReduceScatter);
    CHECK(p.collectives[2].after == "model.layers.0.self_attn.o_proj");
    CHECK(p.collectives[2].to == Layout::kShardSeq);
    CHECK(p.collectives[3].after == "model.layers.0.post_attention_layernorm");
    CHECK(p.collectives[4].after == "model.layers.0.mlp.down_proj");
    CHECK(p.collectives[505].after == "model.norm");
    CHECK(p.collectives[505].before == "lm_head");
    CHECK(p.collectives[506].after == "lm_head");
    CHECK_FALSE(p.steps[0].local_slice);
    // Same bytes on the wire as the all-reduces, in two halves: 252 layer pairs, the embedding's
    // reduce-scatter, the final norm's gather and the logits.
    CHECK(p.summary.send_bytes_per_token ==
          doctest::Approx(504 * 7.0 / 8 * 32768 + 7.0 / 8 * (32768 + 32768 + 256512)));

    // Under transformers 5.7 (plans/hf57) the embedding stays whole: its replicated output is sliced
    // locally into sequence shards, with no traffic.
    Compiled old = CompileFiles("meta-llama__Llama-3.1-405B", "plans/hf57/llama.yaml", o);
    REQUIRE(old.program);
    CHECK(old.program->steps[0].local_slice);
    CHECK(old.program->steps[0].out == Layout::kShardSeq);
    CHECK(Count(*old.program, CollectiveKind::kReduceScatter) == 252);
  }

  TEST_CASE("--lora: NeMo's adapter placements and the low-rank collectives") {
    CompileOptions o = Tp(2);
    o.lora = true;
    o.lora_rank = 16;
    Compiled c = CompileFiles("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", o);
    REQUIRE(c.program);
    const Program& p = *c.program;
    // 32 x 9 + 3 base parameters, plus A and B on 7 linears in 32 layers.
    CHECK(p.params.size() == 291 + 32 * 7 * 2);
    const ProgramParam& qa = Param(p, "model.layers.0.self_attn.q_proj.lora_A.weight");
    CHECK(qa.adapter == "lora_A");
    CHECK(qa.global_shape == Shape{16, 4096});
    CHECK(qa.placement == kShard0);  // colwise: the rank dim
    CHECK(qa.LocalShape(0) == Shape{8, 4096});
    CHECK(qa.ranks[1][0].start == 8);
    const ProgramParam& qb = Param(p, "model.layers.0.self_attn.q_proj.lora_B.weight");
    CHECK(qb.placement == kShard0);
    CHECK(qb.LocalShape(0) == Shape{2048, 16});
    CHECK(Param(p, "model.layers.0.self_attn.k_proj.lora_B.weight").LocalShape(1) == Shape{512, 16});
    const ProgramParam& oa = Param(p, "model.layers.0.self_attn.o_proj.lora_A.weight");
    CHECK(oa.placement == kShard1);  // rowwise: the in dim
    CHECK(oa.LocalShape(0) == Shape{16, 2048});
    const ProgramParam& ob = Param(p, "model.layers.0.self_attn.o_proj.lora_B.weight");
    CHECK(ob.placement == kShard1);  // rowwise: the rank dim
    CHECK(ob.LocalShape(0) == Shape{4096, 8});
    CHECK(ob.source.empty());
    // Per layer: lora_A outputs of q, k, v, gate, up all-gathered; of o and down reduce-scattered.
    CHECK(Count(p, CollectiveKind::kAllGather) == 32 * 5 + 1);
    CHECK(Count(p, CollectiveKind::kReduceScatter) == 32 * 2);
    // The embedding's (embedding_rowwise: no adapter, one all-reduce of 4096 x 2 bytes) comes first.
    CHECK(Count(p, CollectiveKind::kAllReduce) == 32 * 2 + 1);
    CHECK(p.collectives[0].after == "model.embed_tokens");
    CHECK(p.collectives[0].bytes_per_token == 4096 * 2);
    CHECK(p.collectives[1].after == "model.layers.0.self_attn.q_proj.lora_A");
    CHECK(p.collectives[1].bytes_per_token == 16 * 2);
    CHECK(p.collectives[4].kind == CollectiveKind::kReduceScatter);
    CHECK(p.collectives[4].after == "model.layers.0.self_attn.o_proj.lora_A");
    CHECK(p.collectives[5].kind == CollectiveKind::kAllReduce);

    // A biased projection (Qwen2.5's q/k/v) gets its adapters too: 28 layers x 7 linears x 2.
    Compiled qwen = CompileFiles("Qwen__Qwen2.5-7B", "plans/hf/llama.yaml", o);
    REQUIRE(qwen.program);
    CHECK(Param(*qwen.program, "model.layers.0.self_attn.q_proj.bias").placement == kShard0);
    const ProgramParam& qwen_a = Param(*qwen.program, "model.layers.0.self_attn.q_proj.lora_A.weight");
    CHECK(qwen_a.LocalShape(0) == Shape{8, 3584});  // rank 16 over 2 ranks, hidden 3584
    int adapters = 0;
    for (const ProgramParam& param : qwen.program->params) adapters += !param.adapter.empty();
    CHECK(adapters == 28 * 7 * 2);
  }

  TEST_CASE("--kv-replication: 8 kv heads over 16 ranks, one whole head per rank") {
    CompileOptions o = Tp(16);
    CHECK_FALSE(CompileFiles("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", o).program);
    o.check.kv_replication = true;
    Compiled c = CompileFiles("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", o);
    REQUIRE(c.program);
    const Program& p = *c.program;
    const ProgramParam& k = Param(p, "model.layers.0.self_attn.k_proj.weight");
    CHECK(k.LocalShape(0) == Shape{128, 4096});
    CHECK(k.replicas == 2);
    CHECK(k.ranks[0][0].start == 0);
    CHECK(k.ranks[1][0].start == 0);  // ranks 0 and 1 share head 0
    CHECK(k.ranks[5][0].start == 256);  // rank 5 holds head 5 / 2 = 2
    CHECK(k.ranks[15][0].start == 896);
    CHECK(Param(p, "model.layers.0.self_attn.v_proj.weight").ranks[15][0].start == 896);
    CHECK(Param(p, "model.layers.0.self_attn.q_proj.weight").LocalShape(0) == Shape{256, 4096});  // 2 heads
    CHECK(p.attributes[0].value == 2);   // num_heads 32 / 16
    CHECK(p.attributes[1].value == 1);   // num_key_value_heads: one replicated head
    CHECK(p.attributes[1].global == 8);
  }

  TEST_CASE("phi3 HF plan: fused qkv gathered, contiguous chunks, no head sharding") {
    Compiled c = CompileFiles("microsoft__Phi-3-mini-4k-instruct", "plans/hf/phi3.yaml", Tp(4));
    REQUIRE(c.program);
    const Program& p = *c.program;
    const ProgramParam& qkv = Param(p, "model.layers.0.self_attn.qkv_proj.weight");
    CHECK(qkv.global_shape == Shape{9216, 3072});  // (32 + 32 + 32) heads x 96
    CHECK(qkv.ranks[1].size() == 1);                // naive chunk: the output is gathered anyway
    CHECK(qkv.ranks[1][0].segment.empty());
    CHECK(qkv.ranks[1][0].start == 2304);
    CHECK(qkv.LocalShape(1) == Shape{2304, 3072});
    CHECK(Param(p, "model.layers.0.self_attn.o_proj.weight").LocalShape(0) == Shape{3072, 768});
    CHECK(p.attributes.empty());
    CHECK(Count(p, CollectiveKind::kAllGather) == 32 * 2 + 1);
    CHECK(Count(p, CollectiveKind::kAllReduce) == 32 * 2 + 1);  // and the vocab-parallel embedding's
    CHECK(p.collectives[0].after == "model.embed_tokens");
    CHECK(p.collectives[0].bytes_per_token == 3072 * 2);
    CHECK(p.collectives[1].after == "model.layers.0.self_attn.qkv_proj");
    CHECK(p.collectives[1].bytes_per_token == 9216 * 2);
    CHECK(p.collectives[2].after == "model.layers.0.self_attn.o_proj");
    CHECK(p.collectives[2].bytes_per_token == 3072 * 2);
    CHECK(p.collectives[3].bytes_per_token == 2 * 8192 * 2);  // gathered [gate | up]
    CHECK(p.collectives.back().bytes_per_token == 32064 * 2);
  }

  TEST_CASE("mixtral HF plan: packed experts split per half, the experts block all-reduces") {
    Compiled c = CompileFiles("mistralai__Mixtral-8x7B-Instruct-v0.1", "plans/hf/mixtral.yaml", Tp(8));
    REQUIRE(c.program);
    const Program& p = *c.program;
    const ProgramParam& gu = Param(p, "model.layers.0.mlp.experts.gate_up_proj");
    CHECK(gu.global_shape == Shape{8, 28672, 4096});
    CHECK(gu.placement == kShard1);
    REQUIRE(gu.ranks[1].size() == 2);
    CHECK(gu.ranks[1][0].segment == "gate");
    CHECK(gu.ranks[1][0].start == 1792);  // 14336 / 8
    CHECK(gu.ranks[1][1].segment == "up");
    CHECK(gu.ranks[1][1].start == 14336 + 1792);
    CHECK(gu.LocalShape(1) == Shape{8, 3584, 4096});
    const ProgramParam& down = Param(p, "model.layers.0.mlp.experts.down_proj");
    CHECK(down.placement == Placement{Placement::kShard, 2});
    CHECK(down.LocalShape(0) == Shape{8, 4096, 1792});
    CHECK(Param(p, "model.layers.0.mlp.gate.weight").placement == kRep);
    CHECK(Count(p, CollectiveKind::kAllReduce) == 64 + 1);  // 32 layers x 2, and the embedding
    CHECK(Count(p, CollectiveKind::kAllGather) == 1);
    CHECK(p.collectives[0].after == "model.embed_tokens");
    CHECK(p.collectives[2].after == "model.layers.0.mlp.experts");
    CHECK(p.collectives[2].before == "model.layers.0.mlp_residual");
    CHECK(p.collectives[2].bytes_per_token == 4096 * 2);
  }

  TEST_CASE("a torch SP plan: each colwise input hook gathers for itself, rowwise outputs reduce-scatter") {
    CompileOptions o = Tp(2);
    o.check.dialect = Dialect::kTorch;
    const char* plan = R"(
model.embed_tokens: {style: rowwise, input_layouts: [replicate], output_layouts: [shard(1)], use_local_output: false}
model.layers.*.input_layernorm: sequence_parallel
model.layers.*.self_attn.q_proj: {style: colwise, input_layouts: [shard(1)]}
model.layers.*.self_attn.k_proj: {style: colwise, input_layouts: [shard(1)]}
model.layers.*.self_attn.v_proj: {style: colwise, input_layouts: [shard(1)]}
model.layers.*.self_attn.o_proj: {style: rowwise, output_layouts: [shard(1)], use_local_output: false}
model.layers.*.post_attention_layernorm: sequence_parallel
model.layers.*.mlp.gate_proj: {style: colwise, input_layouts: [shard(1)]}
model.layers.*.mlp.up_proj: {style: colwise, input_layouts: [shard(1)]}
model.layers.*.mlp.down_proj: {style: rowwise, output_layouts: [shard(1)], use_local_output: false}
model.norm: sequence_parallel
lm_head: {style: colwise, input_layouts: [shard(1)], output_layouts: [replicate]}
)";
    Compiled c = CompileTexts(test::kTinyLlama, plan, o);
    REQUIRE(c.program);
    const Program& p = *c.program;
    // Per layer: q, k, v, gate, up each all-gather their own input; o and down reduce-scatter.
    // Plus the vocab-parallel embedding's reduce-scatter, lm_head's input gather and the logits.
    CHECK(Count(p, CollectiveKind::kAllGather) == 2 * 5 + 2);
    CHECK(Count(p, CollectiveKind::kReduceScatter) == 2 * 2 + 1);
    CHECK(Count(p, CollectiveKind::kAllReduce) == 0);
    CHECK(p.collectives[0].kind == CollectiveKind::kReduceScatter);
    CHECK(p.collectives[0].after == "model.embed_tokens");
    CHECK(p.collectives[0].bytes_per_token == 64 * 2);
    for (int i = 1; i <= 3; ++i) {
      CHECK(p.collectives[i].kind == CollectiveKind::kAllGather);
      CHECK(p.collectives[i].after == "model.layers.0.input_layernorm");
    }
    CHECK(p.collectives[2].before == "model.layers.0.self_attn.k_proj");
    CHECK(Param(p, "model.embed_tokens.weight").placement == kShard0);  // torch rowwise on an embedding: vocab
  }

  TEST_CASE("S(-1) -> S(1) is an all-to-all; R -> S(-1) a free local slice") {
    CompileOptions o = Tp(2);
    o.check.dialect = Dialect::kTorch;
    Compiled c = CompileTexts(test::kTinyLlama, "lm_head: {style: colwise, output_layouts: [shard(1)]}\n", o);
    REQUIRE(c.program);
    const Program& p = *c.program;
    REQUIRE(p.collectives.size() == 1);
    const Collective& a2a = p.collectives[0];
    CHECK(a2a.kind == CollectiveKind::kAllToAll);
    CHECK(a2a.from == Layout::kShardLast);
    CHECK(a2a.to == Layout::kShardSeq);
    CHECK(a2a.bytes_per_token == 1000 * 2);
    CHECK(a2a.send_bytes_per_token == doctest::Approx(1.0 / 4 * 2000));  // (n-1)/n^2 of the tensor
    CHECK(a2a.steps == 1);

    Compiled phi = CompileFiles("microsoft__Phi-3-mini-4k-instruct", "plans/hf/phi3.yaml", Tp(4));
    REQUIRE(phi.program);
    int sliced = 0;
    for (const ModuleStep& s : phi.program->steps) sliced += s.local_slice;
    CHECK(sliced == 32 * 2);  // rowwise_split_input on o_proj and down_proj slices its replicated input
  }

  TEST_CASE("a plan the checks reject compiles to nothing") {
    Compiled c = CompileFiles("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", Tp(3));
    CHECK_FALSE(c.program);
    CHECK(std::find(c.codes.begin(), c.codes.end(), "heads-not-divisible") != c.codes.end());
  }

  TEST_CASE("an unknown dtype is fatal") {
    CompileOptions o = Tp(2);
    o.dtype = "bfloat61";
    Compiled c = CompileFiles("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", o);
    CHECK_FALSE(c.program);
    CHECK(c.codes == std::vector<std::string>{"unknown-dtype"});
  }
}

}  // namespace
}  // namespace tpc
