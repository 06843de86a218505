// The LibTorch reference forward against transformers: each fixture in tests/data/verify/<case>/
// holds a tiny random-weight model (config.json, model.safetensors) and what transformers computed
// for it (expected.safetensors: input_ids [2, 8], logits, hidden.<i> as output_hidden_states).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <fstream>
#include <set>
#include <sstream>

#include "frontend/checkpoint_loader.h"
#include "runtime/verify/checkpoint_tensors.h"
#include "support/diagnostics.h"
#include "support/source_manager.h"
#include "runtime/verify/reference_forward.h"

// Debian's LibTorch brings glog, whose CHECK aborts; doctest's must win.
#undef CHECK
#include <doctest/doctest.h>

namespace fs = std::filesystem;
using namespace tpc;
using namespace tpc::verify;

namespace {

// TPC_VERIFY_DATA overrides the fixtures' directory (for fixtures made elsewhere).
fs::path DataDir() {
  if (const char* d = std::getenv("TPC_VERIFY_DATA")) return d;
  return fs::path(TPC_SOURCE_DIR) / "tests" / "data" / "verify";
}

std::vector<fs::path> Cases() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(DataDir(), ec))
    if (fs::exists(e.path() / "expected.safetensors")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// max |a - b| / max |b|
double RelError(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ref = b.to(at::kDouble);
  return (a.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

struct Fixture {
  std::map<std::string, at::Tensor> tensors;
  int hidden = 0;
};

Fixture ReadExpected(const fs::path& dir) {
  std::vector<std::pair<std::string, at::Tensor>> list;
  std::string err;
  INFO(err);
  REQUIRE(ReadSafetensorsFile((dir / "expected.safetensors").string(), &list, &err));
  Fixture f;
  for (auto& [name, t] : list) {
    f.hidden += name.rfind("hidden.", 0) == 0;
    f.tensors[name] = t;
  }
  return f;
}

// Runs one fixture in `dtype` and checks every output; returns its family, or "" when it could not
// run (the failed check says why). One case failing does not stop the others.
std::string CheckCase(const fs::path& dir, at::ScalarType dtype, double tolerance) {
  CAPTURE(dir.filename().string());
  ReferenceModel model;
  std::string err;
  bool loaded = LoadReferenceModel(dir.string(), dtype, &model, &err);
  INFO(err);
  CHECK(loaded);
  if (!loaded) return "";
  CHECK(model.forward.problems.empty());
  Fixture f = ReadExpected(dir);
  ForwardOutput out;
  bool ran = RunReferenceForward(model, f.tensors.at("input_ids"), &out, &err);
  CHECK(ran);
  if (!ran) return "";
  CHECK((out.logits.scalar_type() == dtype));
  double worst = RelError(out.logits, f.tensors.at("logits"));
  CHECK(worst <= tolerance);
  CHECK(static_cast<int>(out.hidden.size()) == f.hidden);
  for (int i = 0; i < std::min<int>(f.hidden, static_cast<int>(out.hidden.size())); ++i) {
    CAPTURE(i);
    double e = RelError(out.hidden[i], f.tensors.at("hidden." + std::to_string(i)));
    CHECK(e <= tolerance);
    worst = std::max(worst, e);
  }
  MESSAGE(dir.filename().string() << " (" << model.graph.family << "): max relative error " << worst);
  return model.graph.family;
}

// Runs every fixture in `dtype`; returns the families that ran.
std::set<std::string> CheckAll(at::ScalarType dtype, double tolerance) {
  std::vector<fs::path> cases = Cases();
  INFO("no fixtures in " << DataDir().string() << " (tools/make_verify_fixtures.py writes them)");
  REQUIRE(!cases.empty());
  std::set<std::string> families;
  for (const fs::path& dir : cases)
    if (std::string family = CheckCase(dir, dtype, tolerance); !family.empty()) families.insert(family);
  return families;
}

// A fresh directory under the system's temporary one, removed at scope exit.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "tpc-verify-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::set<std::string> kCovered = {"llama", "qwen2", "qwen3", "phi3", "mixtral", "qwen3_moe",
                                        "starcoder2", "gpt_neox", "gemma2", "gemma3"};

}  // namespace

TEST_SUITE("reference forward") {
  TEST_CASE("every fixture matches transformers' logits and hidden states in float32 within 1e-5") {
    std::set<std::string> families = CheckAll(at::kFloat, 1e-5);
    for (const std::string& f : kCovered) {
      CAPTURE(f);
      CHECK(families.count(f) == 1);
    }
  }

  TEST_CASE("in float64 the forward computes in float64 and stays within 1e-5 of the fixtures") {
    std::set<std::string> families = CheckAll(at::kDouble, 1e-5);
    CHECK(families.size() == kCovered.size());
  }

  TEST_CASE("a rope type the reference does not compute is an error naming the module, not a wrong answer") {
    ScratchDir dir;
    fs::path src = DataDir() / "llama";
    fs::copy_file(src / "model.safetensors", dir.path / "model.safetensors");
    std::string config = ReadText(src / "config.json");
    size_t at = config.find("\"rope_type\": \"default\"");
    REQUIRE(at != std::string::npos);
    config.replace(at, std::string("\"rope_type\": \"default\"").size(), "\"rope_type\": \"yarn\"");
    std::ofstream(dir.path / "config.json") << config;
    ReferenceModel model;
    std::string err;
    REQUIRE(LoadReferenceModel(dir.path.string(), at::kFloat, &model, &err));
    ForwardOutput out;
    CHECK_FALSE(RunReferenceForward(model, at::zeros({1, 4}, at::kLong), &out, &err));
    CHECK(err == "'model.layers.0.self_attn.attention': rope type 'yarn' is not computed yet (default and linear are)");
  }

  TEST_CASE("stored tensors read by name as stored; an absent name is an error") {
    SourceManager sources;
    Diagnostics diags(sources);
    std::optional<Checkpoint> ckpt = LoadCheckpoint((DataDir() / "mixtral").string(), diags);
    REQUIRE(ckpt);
    StoredTensors stored;
    std::string err;
    REQUIRE(stored.Open(*ckpt, &err));
    at::Tensor w1;
    REQUIRE(stored.Read("model.layers.1.block_sparse_moe.experts.3.w1.weight", &w1, &err));
    CHECK(w1.sizes().vec() == std::vector<int64_t>{8, 16});
    CHECK((w1.scalar_type() == at::kFloat));
    CHECK_FALSE(stored.Read("model.layers.1.mlp.experts.gate_up_proj", &w1, &err));
    CHECK(err == "no stored tensor 'model.layers.1.mlp.experts.gate_up_proj'");
  }

  TEST_CASE("a model type whose numerics no architecture file describes is refused, naming the covered ones") {
    ScratchDir dir;
    fs::path src = DataDir() / "llama";
    fs::copy_file(src / "model.safetensors", dir.path / "model.safetensors");
    std::string config = ReadText(src / "config.json");
    size_t at = config.find("\"model_type\": \"llama\"");
    REQUIRE(at != std::string::npos);
    config.replace(at, std::string("\"model_type\": \"llama\"").size(), "\"model_type\": \"granite\"");
    std::ofstream(dir.path / "config.json") << config;
    ReferenceModel model;
    std::string err;
    CHECK_FALSE(LoadReferenceModel(dir.path.string(), at::kFloat, &model, &err));
    CHECK(err == "model type 'granite' has no reference forward (plans/arch/llama.yaml describes its numerics for "
                 "gemma2, gemma3_text, gpt_neox, llama, mistral, mixtral, phi3, qwen2, qwen3, qwen3_moe, starcoder2)");
  }
}
