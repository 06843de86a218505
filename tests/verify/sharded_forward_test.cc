// The sharded forward on transformers' fixtures (tests/data/verify/<case>/): compiled at tp 2 and 4
// with a bundled plan, every rank computing only with its slices and the program's collectives, the
// assembled logits must equal transformers' logits (fp32, 1e-5 relative), and each rank must have
// run exactly the program's collectives.
#include <filesystem>
#include <optional>

#include "driver/load_inputs.h"
#include "passes/lowering.h"
#include "runtime/verify/checkpoint_tensors.h"
#include "runtime/verify/sharded_forward.h"
#include "support/diagnostics.h"
#include "support/source_manager.h"

// Debian's LibTorch brings glog, whose CHECK aborts; doctest's must win.
#undef CHECK
#include <doctest/doctest.h>

namespace fs = std::filesystem;
using namespace tpc;
using namespace tpc::verify;

namespace {

fs::path Case(const std::string& name) { return fs::path(TPC_SOURCE_DIR) / "tests" / "data" / "verify" / name; }

double RelError(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ref = b.to(at::kDouble);
  return (a.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

struct Verified {
  double logits_error = -1;
  std::string error;
  size_t collectives = 0;               // in the program
  std::vector<size_t> performed;        // per rank
};

// Compiles fixture `name` with `plan` at `tp` and runs both forwards.
Verified Run(const std::string& name, const std::string& plan, int tp, bool kv_replication = false,
             bool sp = false) {
  Verified v;
  std::string dir = Case(name).string();
  SourceManager sources;
  Diagnostics diags(sources);
  PlanRequest req;
  req.plan = plan;
  req.tp = tp;
  req.sequence_parallel = sp;
  std::optional<Inputs> in = LoadInputs(dir, req, "", diags);
  REQUIRE(in);
  CompileOptions opts;
  opts.check.tp = tp;
  opts.check.kv_replication = kv_replication;
  opts.check.sequence_parallel = sp;
  opts.sequence_parallel = sp;
  opts.check.dialect = ChooseDialect(in->plan, false, opts.check.dialect);
  std::optional<Program> program = Compile(in->model, in->plan, opts, diags);
  if (!program) {
    for (const Diagnostic& d : diags.all()) v.error += d.message + "\n";
    return v;
  }
  ReferenceModel model;
  REQUIRE(LoadReferenceModel(dir, at::kFloat, &model, &v.error));
  std::vector<std::pair<std::string, at::Tensor>> expected;
  REQUIRE(ReadSafetensorsFile((Case(name) / "expected.safetensors").string(), &expected, &v.error));
  std::map<std::string, at::Tensor> want(expected.begin(), expected.end());
  StoredTensors stored;
  REQUIRE(stored.Open(model.graph.checkpoint->checkpoint, &v.error));
  ShardedRun run;
  if (!RunShardedForward(model, *program, stored.AsSource(), at::kFloat, want.at("input_ids"), &run, &v.error)) return v;
  int head = -1;
  for (const tpc::Module& m : model.graph.modules())
    if (m.role == Role::kLmHead) head = model.graph.Find(m.name);
  REQUIRE(head >= 0);
  v.logits_error = RelError(GlobalView(run, head), want.at("logits"));
  v.collectives = program->collectives.size();
  for (const RankRun& r : run.ranks) v.performed.push_back(r.performed.size());
  return v;
}

void ExpectVerified(const Verified& v, int tp) {
  INFO(v.error);
  MESSAGE("tp " << tp << ": logits max relative error " << v.logits_error << ", " << v.collectives << " collectives");
  CHECK(v.error.empty());
  CHECK(v.logits_error >= 0);
  CHECK(v.logits_error <= 1e-5);
  CHECK(v.collectives > 0);
  CHECK(v.performed == std::vector<size_t>(static_cast<size_t>(tp), v.collectives));
}

}  // namespace

TEST_SUITE("sharded forward") {
  TEST_CASE("llama under its Hugging Face plan at tp 2, and at tp 4 with replicated KV heads") {
    ExpectVerified(Run("llama", "hf/llama", 2), 2);
    ExpectVerified(Run("llama", "hf/llama", 4, true), 4);
  }

  TEST_CASE("llama under NeMo's plan, with and without sequence parallelism") {
    ExpectVerified(Run("llama", "nemo/llama", 2), 2);
    ExpectVerified(Run("llama", "nemo/llama", 2, false, true), 2);
  }

  TEST_CASE("qwen2's q/k/v biases and qwen3's per-head norms at tp 2") {
    ExpectVerified(Run("qwen2", "hf/qwen2", 2), 2);
    ExpectVerified(Run("qwen3", "hf/qwen3", 2), 2);
  }

  TEST_CASE("phi3's fused qkv and gate_up at tp 2") { ExpectVerified(Run("phi3", "hf/phi3", 2), 2); }

  TEST_CASE("mixtral's routed experts at tp 2") { ExpectVerified(Run("mixtral", "hf/mixtral", 2), 2); }

  TEST_CASE("starcoder2's row-sharded biases are added once") {
    ExpectVerified(Run("starcoder2", "hf/starcoder2", 2), 2);
  }
}

TEST_SUITE("sharded forward") {
  TEST_CASE("more families: gpt_neox's per-head fused qkv, qwen3_moe, gemma3 under NeMo's plan") {
    ExpectVerified(Run("gpt_neox", "hf/gpt_neox", 2), 2);
    ExpectVerified(Run("qwen3_moe", "hf/qwen3_moe", 2), 2);
    ExpectVerified(Run("gemma3", "nemo/gemma3", 2), 2);
    ExpectVerified(Run("gemma2", "nemo/gemma3", 2), 2);  // the same module tree
  }

  TEST_CASE("an uneven vocabulary (30 rows over 4 ranks: 8, 8, 8, 6) in the gathered lm_head") {
    ExpectVerified(Run("llama_odd_vocab", "hf/llama", 4, true), 4);
  }
}

TEST_SUITE("sharded forward") {
  TEST_CASE("tp 4: qwen3 (4 KV heads, no replication), mixtral and starcoder2 with replicated KV heads") {
    ExpectVerified(Run("qwen3", "hf/qwen3", 4), 4);
    ExpectVerified(Run("mixtral", "hf/mixtral", 4, true), 4);
    ExpectVerified(Run("starcoder2", "hf/starcoder2", 4, true), 4);
  }

  TEST_CASE("sequence parallelism at tp 4: llama under NeMo's plan with replicated KV heads") {
    ExpectVerified(Run("llama", "nemo/llama", 4, true, true), 4);
  }
}
