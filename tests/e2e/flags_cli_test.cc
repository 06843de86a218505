// End to end: each command's flag table, as its help shows it and as its parsing takes it.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace tpc {
namespace {

using test::TempDir;

test::TpcRun Tpc(const std::string& args) { return test::RunTpc(args, true); }

// The line of `text` that starts with `prefix`, or "" when none does.
std::string LineStarting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line;
  return "";
}

const std::string kLlama8B = "--model tests/data/configs/meta-llama__Llama-3.1-8B --plan plans/hf/llama.yaml";

TEST_SUITE("flags-cli") {
  TEST_CASE("compile --help lists every compile flag with its value and its help") {
    test::TpcRun r = Tpc("compile --help");
    CHECK(r.code == 0);
    CHECK(r.out.rfind("usage: tpc compile --model PATH [--plan auto|NAME|PATH] [--transformers VERSION]", 0) == 0);
    // Each row: the flag, its value's name, and the start of its help.
    const std::vector<std::pair<std::string, std::string>> rows = {
        {"  --model PATH ", "a config.json or a checkpoint directory"},
        {"  --plan auto|NAME|PATH ", "auto (the default) picks the plan NeMo AutoModel would"},
        {"  --transformers VERSION ", "the transformers release the plan runs under"},
        {"  --arch-dir DIR ", "extra architecture templates"},
        {"  --color auto|always|never ", "colour the messages"},
        {"  --no-color ", "the same as --color never"},
        {"  --tp N ", "the tensor-parallel size (default 1)"},
        {"  --dialect torch|hf-v4|hf-v5 ", "the plan's dialect, over its file's (default: the file's, else hf-v5)"},
        {"  --kv-replication ", "replicate key/value heads when tp exceeds their count"},
        {"  --sp ", "use the plan's sequence-parallel variant"},
        {"  --lora ", "LoRA adapters on every linear but lm_head"},
        {"  --lora-rank R ", "the LoRA rank (default 8); implies --lora"},
        {"  --dtype DTYPE ", "parameter dtype (default: the config's torch_dtype, else bfloat16)"},
        {"  --link-gbps G ", "link bandwidth per direction in GB/s, for the costs (default 450)"},
        {"  --tokens N ", "tokens per forward pass, for the costs (default 4096)"},
        {"  -o, --output program.json ", "where to write the program"},
        {"  --dot block.dot ", "also write one decoder block's dataflow as Graphviz"},
        {"  -h, --help ", "show this help"},
    };
    for (const auto& [flag, help] : rows) {
      std::string line = LineStarting(r.out, flag);
      CAPTURE(flag);
      CHECK(line.find(help) != std::string::npos);
    }
    // check's own flag is not compile's.
    CHECK(r.out.find("--format") == std::string::npos);
    CHECK(Tpc("help compile").out == r.out);
  }

  TEST_CASE("each command's help shows its own flags") {
    test::TpcRun check = Tpc("check -h");
    CHECK(check.code == 0);
    CHECK(LineStarting(check.out, "  --format text|json|sarif ").find("how to write the diagnostics") !=
          std::string::npos);
    CHECK(check.out.find("--lora") == std::string::npos);
    test::TpcRun explain = Tpc("help explain");
    CHECK(explain.code == 0);
    CHECK(LineStarting(explain.out, "  -o, --output program.json ").find("also write the program there") !=
          std::string::npos);
    test::TpcRun lora = Tpc("translate-lora --help");
    CHECK(lora.code == 0);
    CHECK(lora.out.rfind("usage: tpc translate-lora [--model PATH] [--plan auto|NAME|PATH]", 0) == 0);
    CHECK(LineStarting(lora.out, "  -o, --output lora.yaml ").find("where to write the LoRA plan") !=
          std::string::npos);
    CHECK(lora.out.find("--tp") == std::string::npos);
    test::TpcRun plans = Tpc("plans --help");
    CHECK(plans.code == 0);
    CHECK(plans.out.rfind("usage: tpc plans [--markdown]\n", 0) == 0);
  }

  TEST_CASE("tpc help shows every command's usage line, explain's with its flags") {
    test::TpcRun r = Tpc("help");
    CHECK(r.code == 0);
    CHECK(r.out.rfind("usage: tpc COMMAND [options]\n\ncommands:\n  check ", 0) == 0);
    CHECK(LineStarting(r.out, "tpc check --model PATH [--plan auto|NAME|PATH]") != "");
    CHECK(LineStarting(r.out, "tpc compile --model PATH [--plan auto|NAME|PATH]") != "");
    CHECK(LineStarting(r.out, "tpc explain --model PATH [--plan auto|NAME|PATH]") != "");
    CHECK(LineStarting(r.out, "tpc plans [--markdown]") != "");
    CHECK(LineStarting(r.out, "tpc translate-lora [--model PATH] [--plan auto|NAME|PATH]") != "");
    CHECK(r.out.find("\nexit codes: 0 no errors, 1 errors found, 2 usage error or unreadable input, "
                     "3 internal error\n") != std::string::npos);
  }

  TEST_CASE("help for an unknown command is a usage error with a suggestion") {
    test::TpcRun r = Tpc("help compil");
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown command 'compil'; did you mean 'compile'?\nrun 'tpc help' for usage\n");
  }

  TEST_CASE("--flag=value is --flag value, for a value flag of each command") {
    TempDir dir;
    test::TpcRun joined = Tpc("check " + kLlama8B + " --tp=8 --format=json");
    test::TpcRun apart = Tpc("check " + kLlama8B + " --tp 8 --format json");
    CHECK(joined.code == 0);
    CHECK(joined.out.rfind("{", 0) == 0);
    CHECK(joined.out == apart.out);

    joined = Tpc("compile " + kLlama8B + " --tp=8 --lora-rank=4 -o=" + (dir / "a.json"));
    apart = Tpc("compile " + kLlama8B + " --tp 8 --lora-rank 4 -o " + (dir / "b.json"));
    CHECK(joined.code == 0);
    CHECK(apart.code == 0);
    std::string a = test::ReadFile(dir / "a.json");
    CHECK(a.find("\"lora\":{\"rank\":4}") != std::string::npos);
    CHECK(a == test::ReadFile(dir / "b.json"));

    joined = Tpc("explain " + kLlama8B + " --tp=2");
    apart = Tpc("explain " + kLlama8B + " --tp 2");
    CHECK(joined.code == 0);
    CHECK(joined.out == apart.out);

    joined = Tpc("translate-lora --plan=nemo/llama --color=never");
    apart = Tpc("translate-lora --plan nemo/llama --color never");
    CHECK(joined.code == 0);
    CHECK(joined.out.find("lora") != std::string::npos);
    CHECK(joined.out == apart.out);
  }

  TEST_CASE("a flag of one command given to another is an unknown argument") {
    TempDir dir;
    test::TpcRun r = Tpc("check " + kLlama8B + " --tp 8 --lora");
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown argument '--lora'\nrun 'tpc help' for usage\n");
    r = Tpc("check " + kLlama8B + " --dot x.dot");
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown argument '--dot'\nrun 'tpc help' for usage\n");
    r = Tpc("compile " + kLlama8B + " --tp 8 --format json -o " + (dir / "p.json"));
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown argument '--format'\nrun 'tpc help' for usage\n");
    r = Tpc("translate-lora --plan nemo/llama --tp 8");
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown argument '--tp'\nrun 'tpc help' for usage\n");
    r = Tpc("plans --tp 8");
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: unknown argument '--tp' for plans; it takes only --markdown\nrun 'tpc help' for usage\n");
  }
}

}  // namespace
}  // namespace tpc
