// End to end: `tpc translate-lora` as a user runs it, and its output fed back to `tpc check` and
// `tpc compile`.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace tpc {
namespace {

using test::TempDir;

test::TpcRun Tpc(const std::string& args, bool merge_stderr = true) { return test::RunTpc(args, merge_stderr); }

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

const std::string kLlama8B = "tests/data/configs/meta-llama__Llama-3.1-8B";

TEST_SUITE("translate-lora-cli") {
  TEST_CASE("a bundled plan by name: the LoRA file on -o, one note per unconverted subclass on stderr") {
    TempDir dir;
    test::TpcRun r = Tpc("translate-lora --plan nemo/llama --color never -o " + (dir / "lora.yaml"));
    CHECK(r.code == 0);
    CHECK(Count(r.out, "[lora-unconverted]") == 3);
    CHECK(r.out.find("plans/nemo/llama.yaml:31:43: note: translate_to_lora leaves 'sequence_parallel_all_gather' on "
                     "'model.layers.*.input_layernorm' as it is") != std::string::npos);
    CHECK(r.out.find("ok: 0 errors, 0 warnings (translate-lora)\n") != std::string::npos);
    std::string lora = test::ReadFile(dir / "lora.yaml");
    CHECK(lora.find("name: nemo/llama_lora\n") != std::string::npos);
    CHECK(lora.find("  model.layers.*.self_attn.q_proj: colwise_lora\n") != std::string::npos);
    CHECK(lora.find("  model.norm: sequence_parallel_lora\n") != std::string::npos);
    CHECK(Count(lora, ": colwise\n") == 0);
    CHECK(Count(lora, "style: rowwise,") == 0);

    // The file is a plan like any other, with the base plan's verdict: both warn that qkv_proj and
    // gate_up_proj match nothing in Llama-3.1-8B.
    for (const std::string& plan : {std::string("nemo/llama"), dir / "lora.yaml"}) {
      test::TpcRun check = Tpc("check --model " + kLlama8B + " --plan " + plan + " --tp 8 --sp");
      CHECK(check.code == 0);
      CHECK(Count(check.out, "[unmatched-key]") == 2);
      CHECK(check.out.find("\nok: 0 errors, 2 warnings (llama, 32 layers, tp 8, dialect torch)\n") != std::string::npos);
    }
    test::TpcRun bad = Tpc("check --model " + kLlama8B + " --plan " + (dir / "lora.yaml") + " --tp 3");
    CHECK(bad.code == 1);
    CHECK(bad.out.find("[heads-not-divisible]") != std::string::npos);
  }

  TEST_CASE("translating a LoRA plan again changes nothing below the header") {
    TempDir dir;
    REQUIRE(Tpc("translate-lora --plan nemo/qwen -o " + (dir / "once.yaml")).code == 0);
    REQUIRE(Tpc("translate-lora --plan " + (dir / "once.yaml") + " -o " + (dir / "twice.yaml")).code == 0);
    std::string once = test::ReadFile(dir / "once.yaml"), twice = test::ReadFile(dir / "twice.yaml");
    CHECK(twice.rfind("# The LoRA variant of nemo/qwen_lora, written by", 0) == 0);
    CHECK(once.substr(once.find("\nname:")) == twice.substr(twice.find("\nname:")));
    CHECK(once.find("origin: translate_to_lora over optimized_tp_plans.py _parallelize_qwen\n") != std::string::npos);
  }

  TEST_CASE("compile --lora names the plan it was given, not its LoRA form") {
    TempDir dir;
    test::TpcRun r = Tpc("compile --model tests/data/configs/microsoft__phi-4 --tp 2 --sp --lora --color never -o " +
                         (dir / "program.json"));
    CHECK(r.code == 0);
    CHECK(r.out.find("but nemo/phi3 ignores it") != std::string::npos);
    CHECK(r.out.find("phi3_lora") == std::string::npos);
  }

  TEST_CASE("without -o the plan goes to stdout and the notes to stderr") {
    test::TpcRun r = Tpc("translate-lora --plan rl/qwen", false);
    CHECK(r.code == 0);
    CHECK(r.out.rfind("# The LoRA variant of rl/qwen, written by `tpc translate-lora`.\n", 0) == 0);
    CHECK(r.out.find("note:") == std::string::npos);
    CHECK(r.out.find("  model.layers.*.self_attn.q_norm: qwen3_qk_norm\n") != std::string::npos);
  }

  TEST_CASE("with --model, the plan NeMo AutoModel picks: its HF plan, translated, for Mistral on transformers 4") {
    test::TpcRun r = Tpc("translate-lora --model tests/data/configs/mistralai__Mistral-7B-v0.1 --transformers 4", false);
    CHECK(r.code == 0);
    CHECK(r.out.find("name: hf4/mistral_lora\n") != std::string::npos);
    CHECK(r.out.find("dialect: torch\n") != std::string::npos);
    // AutoModel's translation first (lm_head colwise_rep -> vocab-sharded logits, embed_tokens added),
    // then the LoRA map.
    CHECK(r.out.find("  lm_head: {style: colwise_lora, output_layouts: [shard(-1)], use_local_output: false}\n") !=
          std::string::npos);
    CHECK(r.out.find("  model.embed_tokens: {style: rowwise_lora, input_layouts: [replicate]}\n") != std::string::npos);
  }

  TEST_CASE("an HF-dialect plan is refused with what to do instead; exit 2") {
    test::TpcRun r = Tpc("translate-lora --plan hf/llama --color never");
    CHECK(r.code == 2);
    CHECK(r.out.find("error: translate-lora rewrites torch styles, and hf/llama is written in dialect hf-v5; ") !=
          std::string::npos);
    CHECK(r.out.find("so give --model PATH to translate the plan it picks for that model [lora-needs-torch]") !=
          std::string::npos);
  }

  TEST_CASE("bad input: unknown style exits 1, an unwritable -o exits 2, and nothing is written either way") {
    TempDir dir;
    test::WriteFile(dir / "plan.yaml", "model.layers.*.mlp.up_proj: colwsie\n");
    test::TpcRun r = Tpc("translate-lora --color never --plan " + (dir / "plan.yaml") + " -o " + (dir / "out.yaml"));
    CHECK(r.code == 1);
    CHECK(r.out.find("plan.yaml:1:29: error: unknown style 'colwsie' for dialect torch; did you mean 'colwise'?") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "out.yaml"));
    // An HF-only style is named as such, without pointing at a --dialect this command lacks.
    test::WriteFile(dir / "hf.yaml", "model.layers.*.mlp.gate_up_proj: packed_colwise\n");
    test::TpcRun hf = Tpc("translate-lora --color never --plan " + (dir / "hf.yaml"));
    CHECK(hf.code == 1);
    CHECK(hf.out.find("unknown style 'packed_colwise' for dialect torch; it is a style of hf-v5 [unknown-style]") !=
          std::string::npos);

    test::TpcRun w = Tpc("translate-lora --plan nemo/llama -o " + (dir / "no/such/dir/out.yaml"));
    CHECK(w.code == 2);
    CHECK(w.out.find("[output-unwritable]") != std::string::npos);

    test::TpcRun none = Tpc("translate-lora");
    CHECK(none.code == 2);
    CHECK(none.out.find("translate-lora needs --plan NAME|PATH, or --model PATH") != std::string::npos);
  }

  TEST_CASE("compile --lora under torch: nemo/gemma4-style row parallelism leaves those linears without adapters") {
    TempDir dir;
    test::WriteFile(dir / "plan.yaml",
                    "dialect: torch\n"
                    "plan:\n"
                    "  model.layers.*.self_attn.q_proj: colwise\n"
                    "  model.layers.*.self_attn.k_proj: colwise\n"
                    "  model.layers.*.self_attn.v_proj: colwise\n"
                    "  model.layers.*.self_attn.o_proj: gemma4_rowwise\n");
    test::TpcRun r = Tpc("compile --model " + kLlama8B + " --plan " + (dir / "plan.yaml") + " --tp 2 --lora -o " +
                         (dir / "p.json") + " --color never");
    CHECK(r.code == 0);
    CHECK(r.out.find("warning: translate_to_lora leaves 'gemma4_rowwise' on 'model.layers.*.self_attn.o_proj'") !=
          std::string::npos);
    nlohmann::json p = nlohmann::json::parse(test::ReadFile(dir / "p.json"));
    int q = 0, o = 0;
    for (const auto& param : p["parameters"]) {
      std::string name = param["name"];
      q += name.find("self_attn.q_proj.lora_") != std::string::npos;
      o += name.find("self_attn.o_proj.lora_") != std::string::npos;
    }
    CHECK(q == 32 * 2);
    CHECK(o == 0);
  }
}

}  // namespace
}  // namespace tpc
