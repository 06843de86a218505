#include "runtime/verify/shrink_config.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "driver/check_command.h"
#include "frontend/model_loader.h"
#include "test_util.h"

namespace tpc::verify {
namespace {

nlohmann::json ReadJson(const std::string& relative) {
  return nlohmann::json::parse(test::ReadFile(test::SourcePath(relative)));
}

nlohmann::json Shrunk(const nlohmann::json& config, int tp) {
  nlohmann::json out;
  ShrinkReport report;
  std::string err;
  REQUIRE_MESSAGE(ShrinkConfig(config, tp, test::Registry(), &out, &report, &err), err);
  return out;
}

// The codes `tpc check` (auto plan) reports for the config at `path` and tp.
std::set<std::string> Codes(const std::string& path, int tp) {
  CheckRequest req;
  req.model_path = path;
  req.options.tp = tp;
  req.plan.tp = tp;
  req.format = OutputFormat::kJson;
  std::ostringstream out, err;
  RunCheckCommand(req, out, err);
  std::set<std::string> codes;
  nlohmann::json j = nlohmann::json::parse(out.str(), nullptr, false);
  if (j.is_object() && j.contains("diagnostics"))
    for (const auto& d : j["diagnostics"]) codes.insert(d["code"].get<std::string>());
  return codes;
}

int64_t ParamCount(const std::string& path) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<ModelGraph> g = LoadModel(path, test::Registry(), diags);
  if (!g) return -1;
  int64_t n = 0;
  for (const Module& m : g->modules())
    for (const Param& p : m.params) {
      int64_t e = 1;
      for (int64_t d : p.shape) e *= d;
      n += e;
    }
  return n;
}

TEST_SUITE("shrink config") {
  TEST_CASE("llama with a derived head_dim keeps heads and gets hidden = heads * 8") {
    nlohmann::json s = Shrunk(ReadJson("tests/data/configs/meta-llama__Llama-3.1-8B/config.json"), 8);
    CHECK(s["num_attention_heads"] == 32);
    CHECK(s["num_key_value_heads"] == 8);
    CHECK(s["hidden_size"] == 256);
    CHECK_FALSE(s.contains("head_dim"));
    CHECK(s["intermediate_size"] == 32);
    CHECK(s["vocab_size"] == 64);
    CHECK(s["num_hidden_layers"] == 2);
  }

  TEST_CASE("qwen3_moe: head_dim 8, experts 8, top-k within them") {
    nlohmann::json s = Shrunk(ReadJson("tests/data/configs/Qwen__Qwen3-30B-A3B/config.json"), 8);
    CHECK(s["hidden_size"] == 32);
    CHECK(s["head_dim"] == 8);
    CHECK(s["num_key_value_heads"] == 4);
    CHECK(s["num_experts"] == 8);
    CHECK(s["num_experts_per_tok"] == 8);
    CHECK(s["moe_intermediate_size"] == 32);
    CHECK(s["num_hidden_layers"] == 2);
  }

  TEST_CASE("deepseek_v3 keeps its dense layers and one MoE layer") {
    nlohmann::json s = Shrunk(ReadJson("tests/data/configs/deepseek-ai__DeepSeek-V3/config.json"), 8);
    CHECK(s["num_hidden_layers"] == 4);  // first_k_dense_replace 3, then one MoE layer
    CHECK(s["first_k_dense_replace"] == 3);
    CHECK(s["n_routed_experts"] == 8);
    CHECK(s["n_group"] == 8);
    CHECK(s["topk_group"] == 4);
    CHECK(s["qk_rope_head_dim"] == 8);
    CHECK(s["kv_lora_rank"] == 32);
    CHECK(s["num_attention_heads"] == 128);
  }

  TEST_CASE("gemma3 shrinks inside text_config") {
    nlohmann::json s = Shrunk(ReadJson("tests/data/configs/google__gemma-3-27b/config.json"), 4);
    CHECK(s["text_config"]["hidden_size"] == 32);
    CHECK(s["text_config"]["head_dim"] == 8);
    CHECK(s["text_config"]["num_key_value_heads"] == 16);
    CHECK(s["text_config"]["num_hidden_layers"] == 2);
  }

  TEST_CASE("a layer pattern keeps every kind of layer and cuts layer_types to match") {
    nlohmann::json c = ReadJson("tests/data/verify/gemma3/config.json");
    c["num_hidden_layers"] = 6;
    c["layer_types"] = {"sliding_attention", "sliding_attention", "full_attention",
                        "sliding_attention", "sliding_attention", "full_attention"};
    c.erase("sliding_window_pattern");
    c.erase("_sliding_window_pattern");
    nlohmann::json s = Shrunk(c, 2);
    CHECK(s["num_hidden_layers"] == 3);
    CHECK(s["layer_types"].size() == 3);
  }

  TEST_CASE("a dimension keeps its remainder modulo tp and 8") {
    nlohmann::json c = nlohmann::json::parse(test::kTinyLlama);
    c["vocab_size"] = 32001;  // % 3 = 0, % 8 = 1, % 24 = 9
    c["intermediate_size"] = 11010;  // % 8 = 2
    CHECK(Shrunk(c, 4)["vocab_size"] == 65);
    CHECK(Shrunk(c, 3)["vocab_size"] == 81);
    CHECK(Shrunk(c, 4)["intermediate_size"] == 34);
    c["vocab_size"] = 40;  // already small: unchanged
    CHECK(Shrunk(c, 4)["vocab_size"] == 40);
  }

  TEST_CASE("an unknown model_type is refused") {
    nlohmann::json out;
    ShrinkReport report;
    std::string err;
    CHECK_FALSE(ShrinkConfig(nlohmann::json{{"model_type", "bert"}}, 2, test::Registry(), &out, &report, &err));
    CHECK(err == "no architecture file covers model_type 'bert'");
  }

  TEST_CASE("every real config shrinks small, loads, and keeps its verdicts at tp 2, 4 and 8") {
    test::TempDir dir;
    namespace fs = std::filesystem;
    int seen = 0;
    for (const auto& entry : fs::directory_iterator(test::SourcePath("tests/data/configs"))) {
      std::string name = entry.path().filename().string();
      std::string original = (entry.path() / "config.json").string();
      if (!fs::exists(original)) continue;
      CAPTURE(name);
      nlohmann::json s = Shrunk(nlohmann::json::parse(test::ReadFile(original)), 8);
      std::string path = dir / (name + ".json");
      test::WriteFile(path, s.dump(2));
      int64_t params = ParamCount(path);
      CHECK(params > 0);
      // nemotron-nas rounds each intermediate size up to a multiple of 256 (its template's
      // round_up), so its 4 layers stay larger.
      CHECK(params < (name == "synthetic__decilm-4layer" ? 2'000'000 : 1'000'000));
      for (int tp : {2, 4, 8}) {
        CAPTURE(tp);
        CHECK(Codes(path, tp) == Codes(original, tp));
      }
      ++seen;
    }
    CHECK(seen == 26);
  }
}

}  // namespace
}  // namespace tpc::verify
