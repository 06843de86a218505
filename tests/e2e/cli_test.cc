// End to end: the real `tpc` binary on files, checking stdout and the exit code.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace tpc {
namespace {

using Result = test::TpcRun;

Result Tpc(const std::string& args, bool merge_stderr = false) { return test::RunTpc(args, merge_stderr); }

const std::string kLlama8B = "--model tests/data/configs/meta-llama__Llama-3.1-8B --plan plans/hf/llama.yaml";

TEST_SUITE("cli") {
  TEST_CASE("the bundled llama plan passes at tp 8") {
    Result r = Tpc("check " + kLlama8B + " --tp 8");
    CHECK(r.code == 0);
    CHECK(r.out == "ok: 0 errors, 0 warnings (llama, 32 layers, tp 8, dialect hf-v5, transformers 5.24.0)\n");
  }

  TEST_CASE("a transformers 4 plan assumes the newest 4.x release unless --transformers says otherwise") {
    std::string hf4 = "check --model tests/data/configs/meta-llama__Llama-3.1-8B --plan hf4/llama --tp 8";
    Result r = Tpc(hf4);
    CHECK(r.code == 0);
    CHECK(r.out == "ok: 0 errors, 0 warnings (llama, 32 layers, tp 8, dialect hf-v4, transformers 4.57.6)\n");
    CHECK(Tpc(hf4 + " --transformers 5.24").out ==
          "ok: 0 errors, 0 warnings (llama, 32 layers, tp 8, dialect hf-v4, transformers 5.24.0)\n");
  }

  TEST_CASE("errors exit with 1 and end with a summary") {
    Result r = Tpc("check " + kLlama8B + " --tp 3 --transformers 5.7 --color never");
    CHECK(r.code == 1);
    CHECK(r.out.rfind("plans/hf/llama.yaml:18:30: error: num_attention_heads (32) is not divisible by tp (3); tp "
                      "sizes that work: 1, 2, 4, 8 (in all 32 layers) [heads-not-divisible]\n"
                      "  layers.*.self_attn.q_proj: colwise\n"
                      "                             ^~~~~~~\n",
                      0) == 0);
    CHECK(r.out.find("\nFAIL: 5 errors, 0 warnings (llama, 32 layers, tp 3, dialect hf-v5, transformers 5.7.0)\n") != std::string::npos);
    CHECK(r.out.find("\033[") == std::string::npos);  // no colour off a TTY
  }

  TEST_CASE("--color always colours the severity") {
    Result r = Tpc("check " + kLlama8B + " --tp 3 --color always");
    CHECK(r.out.find("\033[1;31merror: ") != std::string::npos);
  }

  TEST_CASE("--format json gives the stable fields") {
    Result r = Tpc("check " + kLlama8B + " --tp 3 --transformers 5.7 --format json");
    CHECK(r.code == 1);
    nlohmann::json j = nlohmann::json::parse(r.out);
    CHECK(j["ok"] == false);
    CHECK(j["errors"] == 5);
    CHECK(j["warnings"] == 0);
    CHECK(j["transformers"] == "5.7.0");
    REQUIRE(j["diagnostics"].size() == 6);  // the 5 errors and the release-dependent note
    const nlohmann::json& d = j["diagnostics"][0];
    CHECK(d["severity"] == "error");
    CHECK(d["code"] == "heads-not-divisible");
    CHECK(d["file"] == "plans/hf/llama.yaml");
    CHECK(d["line"] == 18);
    CHECK(d["column"] == 30);
    REQUIRE(d["notes"].size() == 1);
    CHECK(d["notes"][0]["message"] == "num_attention_heads is set here");
    CHECK(d["notes"][0]["line"] == 7);
  }

  TEST_CASE("--format sarif is SARIF 2.1.0") {
    Result r = Tpc("check " + kLlama8B + " --tp 3 --transformers 5.7 --format sarif");
    CHECK(r.code == 1);
    nlohmann::json j = nlohmann::json::parse(r.out);
    CHECK(j["version"] == "2.1.0");
    REQUIRE(j["runs"].size() == 1);
    CHECK(j["runs"][0]["tool"]["driver"]["name"] == "tpc");
    CHECK(j["runs"][0]["properties"]["transformers"] == "5.7.0");
    REQUIRE(j["runs"][0]["results"].size() == 6);
    const nlohmann::json& res = j["runs"][0]["results"][0];
    CHECK(res["ruleId"] == "heads-not-divisible");
    CHECK(res["level"] == "error");
    CHECK(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "plans/hf/llama.yaml");
    CHECK(res["locations"][0]["physicalLocation"]["region"]["startLine"] == 18);
    CHECK(res["relatedLocations"][0]["message"]["text"] == "num_attention_heads is set here");
  }

  TEST_CASE("unreadable input exits with 2 and names the file") {
    Result r = Tpc("check --model tests/data/configs/nope --plan plans/hf/llama.yaml --tp 8", true);
    CHECK(r.code == 2);
    CHECK(r.out == "tests/data/configs/nope: error: cannot read 'tests/data/configs/nope': No such file or directory "
                   "[file-unreadable]\n"
                   "FAIL: 1 error, 0 warnings\n");
  }

  TEST_CASE("an unknown model_type exits with 2 and lists the supported ones") {
    Result r = Tpc("check --model tests/data/unknown_model_type.json --plan plans/hf/llama.yaml", true);
    CHECK(r.code == 2);
    CHECK(r.out.rfind("tests/data/unknown_model_type.json:2:17: error: unknown model_type 'llama5' (did you mean "
                      "'llama'?); supported: baichuan, deepseek_v3, falcon_h1, gemma, gemma2, gemma3, gemma3_text, ",
                      0) == 0);
  }

  TEST_CASE("malformed input in JSON format still gives JSON") {
    Result r = Tpc("check --model tests/data/configs/nope --plan plans/hf/llama.yaml --format json");
    CHECK(r.code == 2);
    nlohmann::json j = nlohmann::json::parse(r.out);
    CHECK(j["diagnostics"][0]["code"] == "file-unreadable");
    CHECK(j["diagnostics"][0]["line"].is_null());
  }

  TEST_CASE("usage errors exit with 2 and say what to do") {
    Result r = Tpc("check --model x --plan y --tp zero", true);
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: --tp takes a positive integer, got 'zero'\nrun 'tpc help' for usage\n");
    r = Tpc("chek", true);
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown command 'chek'; did you mean 'check'?\nrun 'tpc help' for usage\n");
    r = Tpc("check --modle x", true);
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown argument '--modle'; did you mean '--model'?\nrun 'tpc help' for usage\n");
    r = Tpc("check " + kLlama8B + " --dialect hf-v6", true);
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: --dialect takes torch, hf-v4 or hf-v5, got 'hf-v6'\nrun 'tpc help' for usage\n");
  }

  TEST_CASE("--plan auto: Qwen2.5-7B at tp 8 gets NeMo's qwen plan and is rejected with the tp sizes that work") {
    Result r = Tpc("check --model tests/data/configs/Qwen__Qwen2.5-7B --tp 8 --no-color");
    CHECK(r.code == 1);
    CHECK(r.out.rfind("note: plan nemo/qwen: the optimized plan NeMo AutoModel registers for 'Qwen2ForCausalLM' "
                      "[plan-chosen]\n", 0) == 0);
    CHECK(r.out.find("error: num_attention_heads (28) is not divisible by tp (8); tp sizes that work: 1, 2, 4") !=
          std::string::npos);
    CHECK(r.out.find("error: num_key_value_heads (4) is not divisible by tp (8)") != std::string::npos);
  }

  TEST_CASE("--plan auto: phi-4-style kv 10 at tp 4 passes NeMo's phi3 plan, which keeps attention whole") {
    Result r = Tpc("check --model tests/data/configs/microsoft__phi-4 --tp 4 --no-color");
    CHECK(r.code == 0);
    CHECK(r.out == "note: plan nemo/phi3: the optimized plan NeMo AutoModel registers for 'Phi3ForCausalLM' "
                   "[plan-chosen]\nok: 0 errors, 0 warnings (phi3, 40 layers, tp 4, dialect torch)\n");
    // The same model under a head-sharding plan fails where the seed's validate_tp_mesh does.
    Result hf = Tpc("check --model tests/data/configs/microsoft__phi-4 --plan nemo/default --tp 4 --no-color");
    CHECK(hf.code == 1);
    CHECK(hf.out.find("num_key_value_heads (10) is not divisible by tp (4)") != std::string::npos);
  }

  TEST_CASE("--sp on a plan that ignores it warns, and names the plan") {
    Result r = Tpc("check --model tests/data/configs/microsoft__phi-4 --tp 4 --sp --no-color");
    CHECK(r.code == 0);
    CHECK(r.out.find("plans/nemo/phi3.yaml: warning: sequence parallelism was requested, but nemo/phi3 ignores it, so "
                     "activations stay whole on every rank [sp-ignored]") != std::string::npos);
  }
}

}  // namespace
}  // namespace tpc
