// The sweep: every real plan of shared/reference/hf_tp_plans.json (copied to tests/data/reference)
// loads; every plan runs against every real config of its model type at tp 1, 2, 4 and 8 without a
// crash; and for 25 (config, tp) pairs the verdict matches one computed by hand from the numbers.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "frontend/plan_loader.h"
#include "test_util.h"

namespace tpc {
namespace {

using nlohmann::json;

const json& Plans() {
  static const json plans = json::parse(test::ReadFile(test::SourcePath("tests/data/reference/hf_tp_plans.json")));
  return plans;
}

// {base_model_tp_plan, causal_lm_tp_plan} of one corpus entry (or its v4_57_6 form) as plan text.
std::string PlanText(const json& entry) {
  json plan = json::object();
  if (entry.contains("base_model_tp_plan") && entry["base_model_tp_plan"].is_object())
    plan["base_model_tp_plan"] = entry["base_model_tp_plan"];
  if (entry.contains("causal_lm_tp_plan") && entry["causal_lm_tp_plan"].is_object())
    plan["tp_plan"] = entry["causal_lm_tp_plan"];
  return plan.dump(2);
}

// Composite configs take the plan of the text model they wrap (transformers prefixes it).
std::string PlanTypeFor(const std::string& model_type) { return model_type == "gemma3" ? "gemma3_text" : model_type; }

std::set<std::string> ErrorCodes(const test::CheckRun& run) {
  std::set<std::string> out;
  for (const std::string& c : run.codes)
    if (c != "unmatched-key" && c != "dialect-never-applies" && c != "vocab-uneven" && c != "style-skipped")
      out.insert(c);
  return out;
}

std::vector<std::string> ConfigDirs() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(test::SourcePath("tests/data/configs")))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string ModelType(const std::string& dir) {
  json cfg = json::parse(test::ReadFile(test::SourcePath("tests/data/configs/" + dir + "/config.json")));
  return cfg.value("model_type", "");
}

test::CheckRun Run(const std::string& dir, int tp, Dialect d = Dialect::kHfV5) {
  const json& entry = Plans().at(PlanTypeFor(ModelType(dir)));
  const json& plan = d == Dialect::kHfV4 ? entry.at("v4_57_6") : entry;
  return test::CheckText(test::SourcePath("tests/data/configs/" + dir), "plan.json", PlanText(plan), test::Opts(tp, d));
}

TEST_SUITE("sweep") {
  TEST_CASE("every real plan loads, and its styles are known to its transformers version") {
    int loaded = 0;
    std::vector<std::string> unknown_v5, unknown_v4;
    for (const auto& [type, entry] : Plans().items()) {
      if (type == "_meta") continue;
      CAPTURE(type);
      for (bool v4 : {false, true}) {
        if (v4 && !entry.contains("v4_57_6")) continue;
        const json& e = v4 ? entry["v4_57_6"] : entry;
        std::string text = PlanText(e);
        if (text == "{}") continue;  // no plan at all (e.g. nemotron); nothing to load
        SourceManager sm;
        Diagnostics diags(sm);
        std::optional<Plan> plan = ParsePlan(type + ".json", text, diags);
        CHECK(plan);
        CHECK_FALSE(diags.has_fatal());
        if (!plan) continue;
        ++loaded;
        for (const PlanEntry& pe : plan->entries)
          // The corpus is 5.7.dev's: a style 5.24 brought back (colwise_rep) is still unknown there.
          if (const StyleInfo* s = FindStyle(v4 ? Dialect::kHfV4 : Dialect::kHfV5, pe.style);
              !s || !StyleInRelease(*s, v4 ? "4.57.6" : "5.7.0"))
            (v4 ? unknown_v4 : unknown_v5).push_back(type + ":" + pe.key + "=" + pe.style);
      }
    }
    // 109 of the 112 model types carry a tp plan at 5.7.dev (not Glm4vMoe_text, openai_privacy_filter,
    // t5gemma), and 70 of them a v4.57.6 one: counted with a separate Python one-liner.
    CHECK(loaded == 179);
    // The one stale style at 5.7.dev (hf_tp.md §1.7): llama4's composite plan still says colwise_rep.
    CHECK(unknown_v5 == std::vector<std::string>{"llama4:multi_modal_projector.linear_1=colwise_rep"});
    CHECK(unknown_v4.empty());
  }

  TEST_CASE("every plan against every config of its model type never crashes") {
    int runs = 0;
    for (const std::string& dir : ConfigDirs()) {
      std::string type = PlanTypeFor(ModelType(dir));
      if (!Plans().contains(type)) continue;  // baichuan is remote code: no HF plan
      for (Dialect d : {Dialect::kHfV5, Dialect::kHfV4}) {
        if (d == Dialect::kHfV4 && !Plans()[type].contains("v4_57_6")) continue;
        if (PlanText(d == Dialect::kHfV4 ? Plans()[type]["v4_57_6"] : Plans()[type]) == "{}") continue;
        for (int tp : {1, 2, 4, 8}) {
          CAPTURE(dir);
          CAPTURE(tp);
          test::CheckRun run = Run(dir, tp, d);
          CHECK(run.loaded);
          if (!run.loaded) MESSAGE(run.text);
          ++runs;
        }
      }
    }
    CHECK(runs >= 100);
  }

  TEST_CASE("verdicts agree with the hand-computed ones") {
    using Codes = std::set<std::string>;
    const Codes ok;
    const Codes tied{"tied-placement-mismatch"};
    struct Expect {
      const char* dir;
      int tp;
      Codes codes;
      const char* why;
    };
    const std::vector<Expect> expected = {
        {"meta-llama__Llama-3.1-8B", 2, ok, "32/8 heads, 14336 and 128256 split"},
        {"meta-llama__Llama-3.1-8B", 8, ok, "14336/8 = 1792, 128256/8 = 16032"},
        {"meta-llama__Llama-3.1-70B-Instruct", 8, ok, "64/8 heads, 28672/8"},
        {"meta-llama__Llama-3.2-1B", 1, ok, "tp 1 shards nothing"},
        {"meta-llama__Llama-3.2-1B", 2, tied, "tied: lm_head shard(0), embed_tokens has no entry"},
        {"mistralai__Mistral-7B-v0.1", 8, ok, "32000/8 = 4000"},
        {"Qwen__Qwen2.5-7B", 4, ok, "28/4 heads, 4/4 KV heads"},
        {"Qwen__Qwen2.5-7B", 8, {"heads-not-divisible", "kv-heads-not-divisible"}, "28 % 8 = 4, 4 KV heads < 8"},
        {"Qwen__Qwen3-8B", 8, ok, "12288/8, 151936/8 = 18992; q_norm/k_norm per head"},
        {"google__gemma-3-1b-it", 2, {"kv-heads-not-divisible", "tied-placement-mismatch"}, "1 KV head; tied by default"},
        {"google__gemma-3-1b-it", 8,
         {"heads-not-divisible", "kv-heads-not-divisible", "tied-placement-mismatch"}, "4 heads < 8"},
        {"google__gemma-3-27b", 8, tied, "VLM: text model under model.language_model, 16/8 KV heads"},
        {"google__gemma-2-9b", 8, tied, "16/8 heads, 8/8 KV heads, 256000/8; tied by default"},
        {"microsoft__Phi-3-mini-4k-instruct", 4, ok, "qkv gathered: no head check, no naive split"},
        {"microsoft__Phi-3-mini-4k-instruct", 8, ok, "9216/8, 16384/8, 32064/8 = 4008"},
        {"microsoft__phi-2", 8, ok, "32/8 heads, 10240/8, 51200/8"},
        {"allenai__OLMo-2-1124-7B", 8, ok, "q/k/v gathered for the full-width q_norm; 11008/8 = 1376"},
        {"EleutherAI__gpt-neox-20b", 8, ok, "query_key_value interleaved per head: 64/8 heads"},
        {"mistralai__Mixtral-8x7B-Instruct-v0.1", 8, ok, "packed gate_up halves 14336/8, moe_tp_experts reduces"},
        {"Qwen__Qwen3-30B-A3B", 4, ok, "4/4 KV heads, moe_intermediate 768/4"},
        {"Qwen__Qwen3-30B-A3B", 8, {"kv-heads-not-divisible"}, "4 KV heads < 8"},
        {"deepseek-ai__DeepSeek-V3", 8, ok, "MLP-only plan: attention stays replicated"},
        {"HuggingFaceTB__SmolLM3-3B-Base", 4, tied, "16/4, 4/4; tied"},
        {"HuggingFaceTB__SmolLM3-3B-Base", 8, {"kv-heads-not-divisible", "tied-placement-mismatch"}, "4 KV heads < 8"},
        {"openai__gpt-oss-20b", 8, ok, "TP plan removed upstream: only lm_head, 201088/8"},
        {"tiiuae__Falcon-H1-7B", 8, ok, "no base plan: only lm_head, 130048/8"},
    };
    for (const Expect& e : expected) {
      CAPTURE(e.dir);
      CAPTURE(e.tp);
      CAPTURE(e.why);
      test::CheckRun run = Run(e.dir, e.tp);
      REQUIRE(run.loaded);
      CHECK(ErrorCodes(run) == e.codes);
      if (ErrorCodes(run) != e.codes) MESSAGE(run.text);
    }
  }

  TEST_CASE("transformers 4.x plans: digit keys never apply") {
    // phi-2's v4.57.6 plan names mlp.fc1 / mlp.fc2: looked up as fc* and never matched (hf_tp.md §1.4).
    test::CheckRun run = Run("microsoft__phi-2", 8, Dialect::kHfV4);
    REQUIRE(run.loaded);
    CHECK(run.ok);
    CHECK(std::count(run.codes.begin(), run.codes.end(), "dialect-never-applies") == 2);
    CHECK(run.text.find("so 'fc1' is looked up as 'fc*'") != std::string::npos);
  }
}

}  // namespace
}  // namespace tpc
