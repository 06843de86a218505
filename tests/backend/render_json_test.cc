// JSON and SARIF: a problem repeated per layer carries its layers as a field, and its message
// carries no " (in ... layers)" suffix; text output keeps the suffix.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support/strings.h"
#include "test_util.h"

namespace tpc {
namespace {

using nlohmann::json;

const std::string kLlama8B = "--model tests/data/configs/meta-llama__Llama-3.1-8B --plan plans/hf/llama.yaml";

// A 4-layer llama where only layers 0 and 2 shard gate/up (fnmatch `[02]`), so rowwise down_proj
// gets a replicated input in layers 1 and 3; plus a key that matches nothing (a per-plan warning).
const char* kFourLayers = R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8,
  "num_key_value_heads": 2, "intermediate_size": 192, "num_hidden_layers": 4, "vocab_size": 1000,
  "tie_word_embeddings": false})";
const char* kSomeLayersPlan =
    "model.layers.[02].mlp.gate_proj: colwise\n"
    "model.layers.[02].mlp.up_proj: colwise\n"
    "model.layers.*.mlp.down_proj: rowwise\n"
    "model.nothing: colwise\n";

TEST_SUITE("render-json") {
  TEST_CASE("a problem in all layers: JSON has layers {count, all, list} and a message without the suffix") {
    test::TpcRun r = test::RunTpc("check " + kLlama8B + " --tp 3 --format json", false);
    CHECK(r.code == 1);
    json d = json::parse(r.out)["diagnostics"][0];
    CHECK(d["code"] == "heads-not-divisible");
    CHECK(d["message"] == "num_attention_heads (32) is not divisible by tp (3); tp sizes that work: 1, 2, 4, 8");
    CHECK(d["layers"] == json{{"count", 32}, {"all", true}, {"list", "0-31"}});
  }

  TEST_CASE("a problem in all layers: SARIF puts the layers in the result's properties") {
    test::TpcRun r = test::RunTpc("check " + kLlama8B + " --tp 3 --format sarif", false);
    CHECK(r.code == 1);
    json res = json::parse(r.out)["runs"][0]["results"][0];
    CHECK(res["ruleId"] == "heads-not-divisible");
    CHECK(res["message"]["text"] ==
          "num_attention_heads (32) is not divisible by tp (3); tp sizes that work: 1, 2, 4, 8");
    CHECK(res["properties"]["layers"] == json{{"count", 32}, {"all", true}, {"list", "0-31"}});
  }

  TEST_CASE("a problem in some layers: text says which, JSON lists them, a per-plan warning has null layers") {
    test::TempDir dir;
    test::WriteFile(dir / "config.json", kFourLayers);
    test::WriteFile(dir / "plan.yaml", kSomeLayersPlan);
    std::string args = "check --model " + (dir / "config.json") + " --plan " + (dir / "plan.yaml") + " --dialect torch";

    test::TpcRun text = test::RunTpc(args + " --tp 2", false);
    CHECK(text.code == 1);
    CHECK(text.out.find("so results are silently wrong (in layers 1, 3) [layout-mismatch]\n") != std::string::npos);

    test::TpcRun r = test::RunTpc(args + " --tp 2 --format json", false);
    CHECK(r.code == 1);
    json diags = json::parse(r.out)["diagnostics"];
    REQUIRE(diags.size() == 2);
    CHECK(diags[0]["code"] == "unmatched-key");
    CHECK(diags[0]["layers"].is_null());
    CHECK(diags[1]["code"] == "layout-mismatch");
    CHECK(diags[1]["layers"] == json{{"count", 2}, {"all", false}, {"list", "1, 3"}});
    CHECK(EndsWith(diags[1]["message"].get<std::string>(), "so results are silently wrong"));

    json sarif = json::parse(test::RunTpc(args + " --tp 2 --format sarif", false).out)["runs"][0]["results"];
    REQUIRE(sarif.size() == 2);
    CHECK_FALSE(sarif[0].contains("properties"));
    CHECK(sarif[1]["properties"]["layers"]["list"] == "1, 3");
  }

  TEST_CASE("at tp 1 the layouts-at-tp-1 warning keeps the layers of the error it quotes") {
    test::TempDir dir;
    test::WriteFile(dir / "config.json", kFourLayers);
    test::WriteFile(dir / "plan.yaml", kSomeLayersPlan);
    std::string args =
        "check --model " + (dir / "config.json") + " --plan " + (dir / "plan.yaml") + " --dialect torch --tp 1";

    test::TpcRun text = test::RunTpc(args, false);
    CHECK(text.code == 0);
    CHECK(text.out.find("so results are silently wrong (in layers 1, 3) [layouts-at-tp-1]\n") != std::string::npos);

    json d = json::parse(test::RunTpc(args + " --format json", false).out)["diagnostics"][1];
    CHECK(d["code"] == "layouts-at-tp-1");
    CHECK(d["layers"] == json{{"count", 2}, {"all", false}, {"list", "1, 3"}});
    CHECK(EndsWith(d["message"].get<std::string>(), "so results are silently wrong"));
  }

  TEST_CASE("a problem in one layer of several: text says 'in layer N', JSON has count 1") {
    // Synthetic DeciLM: only layer 1 has 4 KV heads, which tp 8 cannot split.
    const char* plan =
        "model.layers.*.self_attn.q_proj: colwise\n"
        "model.layers.*.self_attn.k_proj: colwise\n"
        "model.layers.*.self_attn.v_proj: colwise\n"
        "model.layers.*.self_attn.o_proj: rowwise\n";
    test::TempDir dir;
    test::WriteFile(dir / "plan.yaml", plan);
    std::string args =
        "check --model tests/data/configs/synthetic__decilm-4layer --plan " + (dir / "plan.yaml") + " --tp 8";
    CHECK(test::RunTpc(args, false).out.find("tp sizes that work: 1, 2, 4 (in layer 1) [kv-heads-not-divisible]\n") !=
          std::string::npos);
    json diags = json::parse(test::RunTpc(args + " --format json", false).out)["diagnostics"];
    json d;
    for (const json& x : diags)
      if (x["code"] == "kv-heads-not-divisible") d = x;
    REQUIRE(d.is_object());
    CHECK(d["layers"] == json{{"count", 1}, {"all", false}, {"list", "1"}});
    CHECK(EndsWith(d["message"].get<std::string>(), "tp sizes that work: 1, 2, 4"));
  }
}

}  // namespace
}  // namespace tpc
