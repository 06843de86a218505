// bind-checkpoint and lower-stored on checkpoints described in memory: the stored names and shapes
// below are what the Hub checkpoints of each family hold (not derived from the templates), so a
// wrong stored-name rule or a wrong slice restriction fails here.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>

#include "backend/render_diagnostics.h"
#include "frontend/bind_checkpoint.h"
#include "frontend/model_loader.h"
#include "frontend/plan_loader.h"
#include "passes/lowering.h"
#include "test_util.h"

namespace tpc {
namespace {

// hidden 64, 8 heads of 8, 4 KV heads, 2 layers, 4 experts of intermediate 32, vocab 256.
const char* kMixtral = R"({"model_type": "mixtral", "hidden_size": 64, "num_attention_heads": 8,
  "num_key_value_heads": 4, "intermediate_size": 32, "num_local_experts": 4, "num_experts_per_tok": 2,
  "num_hidden_layers": 2, "vocab_size": 256, "tie_word_embeddings": false})";

struct Stored {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype = "BF16";
};

Checkpoint MakeCheckpoint(std::vector<Stored> tensors) {
  Checkpoint ck;
  ck.dir = "ckpt";
  ck.files.push_back({"model.safetensors", "ckpt/model.safetensors", 0, ""});
  for (Stored& t : tensors) ck.tensors.push_back({t.name, 0, t.dtype, t.shape});
  std::sort(ck.tensors.begin(), ck.tensors.end(),
            [](const StoredTensor& a, const StoredTensor& b) { return a.name < b.name; });
  return ck;
}

// Mixtral as the Hub stores it: per-expert w1 (gate), w3 (up), w2 (down) under block_sparse_moe.
std::vector<Stored> MixtralTensors() {
  std::vector<Stored> t = {{"model.embed_tokens.weight", {256, 64}}, {"model.norm.weight", {64}},
                           {"lm_head.weight", {256, 64}}};
  for (int l = 0; l < 2; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm", "post_attention_layernorm"}) t.push_back({p + n + ".weight", {64}});
    t.push_back({p + "self_attn.q_proj.weight", {64, 64}});
    t.push_back({p + "self_attn.k_proj.weight", {32, 64}});
    t.push_back({p + "self_attn.v_proj.weight", {32, 64}});
    t.push_back({p + "self_attn.o_proj.weight", {64, 64}});
    t.push_back({p + "block_sparse_moe.gate.weight", {4, 64}});
    for (int e = 0; e < 4; ++e) {
      std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      t.push_back({x + "w1.weight", {32, 64}});
      t.push_back({x + "w3.weight", {32, 64}});
      t.push_back({x + "w2.weight", {64, 32}});
    }
  }
  return t;
}

// gpt-oss, 1 layer: hidden 32, 4 heads of 8, 2 KV heads, 2 experts of intermediate 16, vocab 64.
const char* kGptOss = R"({"model_type": "gpt_oss", "hidden_size": 32, "num_attention_heads": 4,
  "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 16, "num_local_experts": 2,
  "num_experts_per_tok": 1, "num_hidden_layers": 1, "vocab_size": 64})";

// As gpt-oss-20b-BF16 stores it: transposed experts with biases, and per-head attention sinks.
std::vector<Stored> GptOssTensors() {
  std::vector<Stored> t = {{"model.embed_tokens.weight", {64, 32}}, {"model.norm.weight", {32}},
                           {"lm_head.weight", {64, 32}}};
  std::string p = "model.layers.0.";
  for (const char* n : {"input_layernorm", "post_attention_layernorm"}) t.push_back({p + n + ".weight", {32}});
  for (const char* n : {"q_proj", "o_proj"}) t.push_back({p + "self_attn." + n + ".weight", {32, 32}});
  for (const char* n : {"k_proj", "v_proj"}) t.push_back({p + "self_attn." + n + ".weight", {16, 32}});
  t.push_back({p + "self_attn.q_proj.bias", {32}});
  t.push_back({p + "self_attn.k_proj.bias", {16}});
  t.push_back({p + "self_attn.v_proj.bias", {16}});
  t.push_back({p + "self_attn.o_proj.bias", {32}});
  t.push_back({p + "self_attn.sinks", {4}});
  t.push_back({p + "mlp.router.weight", {2, 32}});
  t.push_back({p + "mlp.router.bias", {2}});
  t.push_back({p + "mlp.experts.gate_up_proj", {2, 32, 32}});
  t.push_back({p + "mlp.experts.gate_up_proj_bias", {2, 32}});
  t.push_back({p + "mlp.experts.down_proj", {2, 16, 32}});
  t.push_back({p + "mlp.experts.down_proj_bias", {2, 32}});
  return t;
}

struct Bound {
  SourceManager sm;
  Diagnostics diags{sm};
  std::optional<ModelGraph> model;
  CheckpointBinding binding;
};

std::unique_ptr<Bound> Bind(const std::string& config, std::vector<Stored> tensors) {
  auto b = std::make_unique<Bound>();
  b->model = ParseModel("config.json", config, test::Registry(), b->diags);
  REQUIRE(b->model);
  b->binding = BindCheckpoint(*b->model, MakeCheckpoint(std::move(tensors)));
  return b;
}

const ProgramParam* Entry(const Program& p, const std::string& name) {
  auto it = std::find_if(p.params.begin(), p.params.end(), [&](const ProgramParam& e) { return e.name == name; });
  return it == p.params.end() ? nullptr : &*it;
}

TEST_SUITE("bind-checkpoint") {
  TEST_CASE("mixtral's per-expert tensors bind to the stacked experts, w1 then w3") {
    auto b = Bind(kMixtral, MixtralTensors());
    CHECK(b->binding.problems.empty());
    CHECK(b->binding.extras.empty());
    int experts = b->model->Find("model.layers.1.mlp.experts");
    REQUIRE(experts >= 0);
    const std::vector<StoredPiece>& gate_up = b->binding.pieces[experts][0];
    REQUIRE(gate_up.size() == 8);  // 4 experts x (w1, w3)
    const Checkpoint& ck = b->binding.checkpoint;
    CHECK(ck.tensors[gate_up[3].tensor].name == "model.layers.1.block_sparse_moe.experts.1.w3.weight");
    CHECK(gate_up[3].expert == 1);
    CHECK(gate_up[3].offset == 32);  // up follows the 32 gate rows
    CHECK(gate_up[2].offset == 0);
    int router = b->model->Find("model.layers.0.mlp.gate");
    CHECK(ck.tensors[b->binding.pieces[router][0][0].tensor].name == "model.layers.0.block_sparse_moe.gate.weight");
  }

  TEST_CASE("a missing expert is named with the stored name the rule expects") {
    std::vector<Stored> t = MixtralTensors();
    std::erase_if(t, [](const Stored& s) { return s.name == "model.layers.1.block_sparse_moe.experts.2.w3.weight"; });
    auto b = Bind(kMixtral, t);
    REQUIRE(b->binding.problems.size() == 1);
    const BindingProblem& p = b->binding.problems[0];
    CHECK(p.kind == BindingProblem::kMissing);
    CHECK(p.stored == "model.layers.1.block_sparse_moe.experts.2.w3.weight");
    CHECK(p.expected == std::vector<int64_t>{32, 64});
    // The other seven pieces of that layer's gate_up are unclaimed, so listed as extras.
    CHECK(b->binding.extras.size() == 7);
  }

  TEST_CASE("check-checkpoint reports a problem of several experts of one layer once, in that layer") {
    std::vector<Stored> t = MixtralTensors();
    std::erase_if(t, [](const Stored& s) {
      return s.name == "model.layers.1.block_sparse_moe.experts.1.w3.weight" ||
             s.name == "model.layers.1.block_sparse_moe.experts.2.w3.weight";
    });
    auto b = Bind(kMixtral, t);
    b->model->checkpoint = std::make_shared<const CheckpointBinding>(b->binding);
    auto plan = ParsePlan("plan.yaml", "base_model_tp_plan:\n  layers.*.self_attn.o_proj: rowwise_split_input\n", b->diags);
    REQUIRE(plan);
    CHECK_FALSE(RunCheck(*b->model, *plan, test::Opts(2), b->diags));
    std::string text = RenderText(b->diags, false);
    CHECK(text.find("the checkpoint stores no 'model.layers.*.block_sparse_moe.experts.*.w3.weight' "
                    "(nor 'model.layers.*.mlp.experts.gate_up_proj'); config.json implies it as [32, 64] "
                    "(part of 'model.layers.*.mlp.experts.gate_up_proj') (in layer 1) [checkpoint-missing-tensor]") !=
          std::string::npos);
    CHECK(b->diags.errors() == 1);
  }

  TEST_CASE("a stored shape config.json does not imply is recorded with both shapes") {
    std::vector<Stored> t = MixtralTensors();
    for (Stored& s : t)
      if (s.name == "model.layers.0.block_sparse_moe.experts.0.w2.weight") s.shape = {64, 24};
    auto b = Bind(kMixtral, t);
    REQUIRE(b->binding.problems.size() == 1);
    CHECK(b->binding.problems[0].kind == BindingProblem::kShape);
    CHECK(b->binding.problems[0].expected == std::vector<int64_t>{64, 32});
    CHECK(b->binding.problems[0].found == std::vector<int64_t>{64, 24});
  }

  TEST_CASE("an integer tensor cannot be a weight; an FP8 one needs a quantization_config") {
    std::vector<Stored> t = MixtralTensors();
    for (Stored& s : t) {
      if (s.name == "model.norm.weight") s.dtype = "I32";
      if (s.name == "lm_head.weight") s.dtype = "F8_E4M3";
    }
    auto b = Bind(kMixtral, t);
    REQUIRE(b->binding.problems.size() == 2);
    CHECK(b->binding.problems[0].kind == BindingProblem::kDtype);
    CHECK(b->binding.problems[1].kind == BindingProblem::kDtype);
  }
  TEST_CASE("DeepSeek's multi-token prediction layer, one past the last layer, is a named extra") {
    const char* deepseek = R"({"model_type": "deepseek_v3", "hidden_size": 64, "num_attention_heads": 4,
      "num_key_value_heads": 4, "intermediate_size": 96, "moe_intermediate_size": 32, "n_routed_experts": 4,
      "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1, "num_hidden_layers": 2,
      "q_lora_rank": 32, "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
      "vocab_size": 128, "num_nextn_predict_layers": 1})";
    auto b = Bind(deepseek, {{"model.layers.2.eh_proj.weight", {64, 128}},
                             {"model.layers.2.shared_head.norm.weight", {64}},
                             {"model.layers.20.eh_proj.weight", {64, 128}}});
    std::map<std::string, std::string> what;
    for (const StoredExtra& e : b->binding.extras) what[b->binding.checkpoint.tensors[e.tensor].name] = e.what;
    CHECK(what.size() == 3);
    CHECK(what["model.layers.2.eh_proj.weight"] == "multi-token prediction layer (num_nextn_predict_layers)");
    CHECK(what["model.layers.2.shared_head.norm.weight"] == "multi-token prediction layer (num_nextn_predict_layers)");
    CHECK(what["model.layers.20.eh_proj.weight"] == "unknown");
  }

  TEST_CASE("gpt-oss's attention sinks bind as one row per head; missing ones are reported") {
    auto b = Bind(kGptOss, GptOssTensors());
    CHECK(b->binding.problems.empty());
    CHECK(b->binding.extras.empty());
    REQUIRE(b->binding.per_head.size() == 1);
    CHECK(b->binding.checkpoint.tensors[b->binding.per_head[0].tensor].name == "model.layers.0.self_attn.sinks");
    std::vector<Stored> t = GptOssTensors();
    std::erase_if(t, [](const Stored& s) { return s.name == "model.layers.0.self_attn.sinks"; });
    auto missing = Bind(kGptOss, t);
    REQUIRE(missing->binding.problems.size() == 1);
    CHECK(missing->binding.problems[0].stored == "model.layers.0.self_attn.sinks");
    CHECK(missing->binding.problems[0].expected == std::vector<int64_t>{4});
  }
}

TEST_SUITE("lower-stored") {
  CompileOptions Tp(int tp) {
    CompileOptions o;
    o.check.tp = tp;
    return o;
  }

  std::optional<Program> CompileBound(Bound& b, const std::string& plan_text, int tp) {
    b.model->checkpoint = std::make_shared<const CheckpointBinding>(b.binding);
    auto plan = ParsePlan("plan.yaml", plan_text, b.diags);
    REQUIRE(plan);
    return Compile(*b.model, *plan, Tp(tp), b.diags);
  }

  TEST_CASE("packed colwise experts: w1 holds the gate rows and w3 the up rows of each rank") {
    auto b = Bind(kMixtral, MixtralTensors());
    auto p = CompileBound(*b, "base_model_tp_plan:\n  layers.*.mlp.experts.gate_up_proj: packed_colwise\n"
                              "  layers.*.mlp.experts.down_proj: rowwise\n  layers.*.mlp.experts: moe_tp_experts\n", 2);
    REQUIRE(p);
    CHECK(p->naming == Naming::kCheckpoint);
    CHECK(p->params.size() == 41);  // every stored tensor once: 3 + 2 x (2 norms, 4 attention, router, 12 experts)
    const ProgramParam* w3 = Entry(*p, "model.layers.0.block_sparse_moe.experts.3.w3.weight");
    REQUIRE(w3);
    CHECK(w3->file == "model.safetensors");
    CHECK(w3->tree == "model.layers.0.mlp.experts.gate_up_proj");
    CHECK(w3->expert == 3);
    REQUIRE(w3->placement == Placement{Placement::kShard, 0});
    REQUIRE(w3->ranks.size() == 2);
    REQUIRE(w3->ranks[1].size() == 1);
    CHECK(w3->ranks[1][0].start == 16);  // rank 1: up rows [16, 32) of w3's own 32
    CHECK(w3->ranks[1][0].length == 16);
    const ProgramParam* w2 = Entry(*p, "model.layers.0.block_sparse_moe.experts.3.w2.weight");
    REQUIRE(w2);
    CHECK(w2->placement == Placement{Placement::kShard, 1});  // down_proj [E, H, I] rowwise: I, dim 1 of w2
  }

  TEST_CASE("attention sinks split as the heads do, and stay whole while attention is") {
    const char* heads = "base_model_tp_plan:\n  layers.*.self_attn.q_proj: colwise\n  layers.*.self_attn.k_proj: colwise\n"
                        "  layers.*.self_attn.v_proj: colwise\n  layers.*.self_attn.o_proj: rowwise\n";
    auto b = Bind(kGptOss, GptOssTensors());
    auto p = CompileBound(*b, heads, 2);
    REQUIRE(p);
    const ProgramParam* sinks = Entry(*p, "model.layers.0.self_attn.sinks");
    REQUIRE(sinks);
    CHECK(sinks->module == "model.layers.0.self_attn");
    REQUIRE(sinks->placement == Placement{Placement::kShard, 0});
    REQUIRE(sinks->ranks.size() == 2);
    CHECK(sinks->ranks[1][0].start == 2);  // heads 2 and 3 on rank 1
    CHECK(sinks->ranks[1][0].length == 2);
    auto whole = Bind(kGptOss, GptOssTensors());
    auto q = CompileBound(*whole, "causal_lm_tp_plan:\n  lm_head: colwise_gather_output\n", 2);
    REQUIRE(q);
    CHECK(Entry(*q, "model.layers.0.self_attn.sinks")->placement.kind == Placement::kReplicate);
  }

  TEST_CASE("expert parallelism: each expert's tensors are whole on the rank owning it") {
    auto b = Bind(kMixtral, MixtralTensors());
    auto p = CompileBound(*b, "base_model_tp_plan:\n  layers.*.mlp.experts.gate_up_proj: grouped_gemm\n"
                              "  layers.*.mlp.experts.down_proj: grouped_gemm\n  layers.*.mlp.experts: moe_tp_experts\n", 2);
    REQUIRE(p);
    const ProgramParam* w1 = Entry(*p, "model.layers.1.block_sparse_moe.experts.3.w1.weight");
    REQUIRE(w1);
    CHECK(w1->placement.kind == Placement::kReplicate);
    CHECK(w1->owners == std::vector<int>{1});  // experts 2 and 3 on rank 1
    CHECK(Entry(*p, "model.layers.1.block_sparse_moe.experts.0.w2.weight")->owners == std::vector<int>{0});
  }
}

}  // namespace
}  // namespace tpc
