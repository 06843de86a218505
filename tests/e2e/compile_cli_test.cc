// End to end: `tpc compile` and `tpc explain` as a user runs them, on real files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace tpc {
namespace {

namespace fs = std::filesystem;

using Result = test::TpcRun;

// Runs tpc in the source tree; stderr is merged into the output unless `stdout_only`.
Result Tpc(const std::string& args, bool stdout_only = false) { return test::RunTpc(args, !stdout_only); }

using test::TempDir;

const std::string kLlama8B = "--model tests/data/configs/meta-llama__Llama-3.1-8B --plan plans/hf/llama.yaml";

TEST_SUITE("compile-cli") {
  TEST_CASE("compile writes a program and leaves no temporary file behind") {
    TempDir dir;
    Result r = Tpc("compile " + kLlama8B + " --tp 8 -o " + (dir / "program.json"));
    CHECK(r.code == 0);
    CHECK(r.out.empty());
    nlohmann::json p = nlohmann::json::parse(test::ReadFile(dir / "program.json"));
    CHECK(p["version"] == 2);
    CHECK(p["parameters"].size() == 291);  // 32 x 9 + embed, norm, lm_head
    CHECK(p["summary"]["collectives"]["all_reduce"] == 65);  // 32 x 2 and the vocab-parallel embedding
    CHECK(p["parameters"][2]["name"] == "model.layers.0.self_attn.q_proj.weight");
    CHECK(p["parameters"][2]["local_shape"] == nlohmann::json::array({512, 4096}));
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
    CHECK(files == 1);
  }

  TEST_CASE("a config-only program names the module tree, with each entry's kind, tree and safetensors dtype") {
    TempDir dir;
    Result r = Tpc("compile " + kLlama8B + " --tp 2 --lora --lora-rank 8 -o " + (dir / "program.json"));
    REQUIRE(r.code == 0);
    nlohmann::json p = nlohmann::json::parse(test::ReadFile(dir / "program.json"));
    CHECK(p["names"] == "module-tree");
    CHECK(p["inputs"]["checkpoint"].is_null());
    const nlohmann::json& q = p["parameters"][2];
    CHECK(q["name"] == "model.layers.0.self_attn.q_proj.weight");
    CHECK(q["kind"] == "param");
    CHECK(q["tree"] == "model.layers.0.self_attn.q_proj.weight");
    CHECK(q["dtype"] == "BF16");
    CHECK(q["file"].is_null());
    const nlohmann::json& a = p["parameters"][3];
    CHECK(a["name"] == "model.layers.0.self_attn.q_proj.lora_A.weight");
    CHECK(a["kind"] == "lora");
    CHECK(a["adapter"] == "lora_A");
    CHECK(a["source"].is_null());
  }

  TEST_CASE("a conflicting plan: exit 1, both plan keys named, the old output untouched") {
    TempDir dir;
    std::string plan = test::ReadFile(test::SourcePath("plans/hf/llama.yaml"));
    const std::string entry = "\n  layers.*.mlp.down_proj: rowwise";  // the entry, not the header's copy
    size_t at = plan.find(entry);
    REQUIRE(at != std::string::npos);
    plan.replace(at, entry.size(), "\n  layers.*.mlp.down_proj: colwise");
    test::WriteFile(dir / "plan.yaml", plan);
    test::WriteFile(dir / "program.json", "previous program\n");
    Result r = Tpc("compile --model tests/data/configs/meta-llama__Llama-3.1-8B --plan " + (dir / "plan.yaml") +
                   " --tp 8 --no-color -o " + (dir / "program.json"));
    CHECK(r.code == 1);
    CHECK(r.out.find("plan.yaml:24:27: error: 'model.layers.*.mlp.down_proj' (colwise) expects a replicated tensor "
                     "but 'model.layers.*.mlp.act_mul' hands it a tensor sharded on the last dim") != std::string::npos);
    CHECK(r.out.find("plan.yaml:22:3: note: 'layers.*.mlp.gate_proj' sets that layout here") != std::string::npos);
    CHECK(test::ReadFile(dir / "program.json") == "previous program\n");
  }

  TEST_CASE("an unwritable output is exit 2 with the path and the reason") {
    Result r = Tpc("compile " + kLlama8B + " --tp 8 -o /nonexistent-tpc-dir/program.json");
    CHECK(r.code == 2);
    CHECK(r.out.find("cannot write '/nonexistent-tpc-dir/program.json': No such file or directory [output-unwritable]") !=
          std::string::npos);
  }

  TEST_CASE("usage errors are exit 2") {
    CHECK(Tpc("compile " + kLlama8B + " --tp 8").code == 2);  // no -o
    Result r = Tpc("compile " + kLlama8B + " --tp 8 -o x.json --lora-rnk 4");
    CHECK(r.code == 2);
    CHECK(r.out.find("did you mean '--lora-rank'?") != std::string::npos);
    CHECK(Tpc("compile " + kLlama8B + " --tp 8 -o x.json --link-gbps -3").code == 2);
  }

  TEST_CASE("--dot draws one block with layouts on edges and the collectives") {
    TempDir dir;
    Result r = Tpc("compile " + kLlama8B + " --tp 8 -o " + (dir / "p.json") + " --dot " + (dir / "block.dot"));
    REQUIRE(r.code == 0);
    std::string dot = test::ReadFile(dir / "block.dot");
    CHECK(dot.rfind("digraph G {", 0) == 0);
    CHECK(dot.find("label=\"self_attn.q_proj\nshard(0) [512, 4096]\"") != std::string::npos);
    CHECK(dot.find("label=\"all_reduce\n8 KiB/token\"") != std::string::npos);  // 4096 x bf16
    CHECK(dot.find("[label=\"shard(-1)\"]") != std::string::npos);
    CHECK(dot.find("layers.1.") == std::string::npos);  // one block only
  }

  TEST_CASE("explain prints each distinct layer once") {
    Result r = Tpc("explain " + kLlama8B + " --tp 8", true);
    CHECK(r.code == 0);
    CHECK(r.out.find("layers 0-31 (identical):\n") != std::string::npos);
    // The weight column is as wide as its widest cell, "shard(0) [16032, 4096]" (22), plus 2.
    CHECK(r.out.find("  self_attn.o_proj          shard(1) [4096, 512]    shard(-1) -> replicate  all_reduce 8 KiB/tok\n") !=
          std::string::npos);
    CHECK(r.out.find("  model.embed_tokens        shard(0) [16032, 4096]  replicate -> replicate  all_reduce 8 KiB/tok\n") !=
          std::string::npos);
    CHECK(r.out.find("collectives: 1 all_gather, 65 all_reduce;") != std::string::npos);
  }
}

}  // namespace
}  // namespace tpc
