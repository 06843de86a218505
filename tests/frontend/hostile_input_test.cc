// Hostile and malformed input: every case ends in a diagnostic with its place, exit code 2 from
// the CLI, and never an exception (exit 3), a crash, a hang or unbounded memory.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "backend/render_diagnostics.h"
#include "frontend/arch_template.h"
#include "frontend/plan_loader.h"
#include "ir/styles.h"
#include "support/limits.h"
#include "support/strings.h"
#include "frontend/yaml_file.h"
#include "test_util.h"

namespace tpc {
namespace {

using test::TempDir;

struct Loaded {
  bool ok = false;
  std::vector<std::string> codes;
  std::string text;  ///< rendered diagnostics
};

Loaded Summarize(bool ok, const Diagnostics& diags) {
  Loaded out;
  out.ok = ok;
  for (const Diagnostic& d : diags.all()) out.codes.push_back(d.code);
  out.text = RenderText(diags, false);
  return out;
}

Loaded PlanText(const std::string& name, const std::string& text) {
  SourceManager sm;
  Diagnostics diags(sm);
  bool ok = ParsePlan(name, text, diags).has_value();
  return Summarize(ok, diags);
}

Loaded Template(const std::string& text) {
  SourceManager sm;
  Diagnostics diags(sm);
  bool ok = ParseArchTemplate("arch.yaml", text, diags).has_value();
  return Summarize(ok, diags);
}

Loaded ReadPath(const std::string& path) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::string text;
  bool ok = ReadTextFile(path, &text, diags);
  return Summarize(ok, diags);
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The real binary under `timeout`, stderr merged: input that blocks ends in exit 124, not a hang.
test::TpcRun Bounded(const std::string& args) {
  test::TpcRun r;
  r.code = test::RunCommand(std::string("cd ") + TPC_SOURCE_DIR + " && timeout 10 " + TPC_BINARY + " " + args + " 2>&1",
                            &r.out);
  return r;
}

const std::string kConfig = "--model tests/data/configs/meta-llama__Llama-3.2-1B";

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

TEST_SUITE("hostile input") {
  TEST_CASE("a number that overflows a double is json-syntax at the number, in a config and in a plan") {
    test::CheckRun config = test::CheckTexts("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 1e400\n}",
                                             "plan.yaml", "lm_head: colwise\n", test::Opts(1));
    CHECK(config.codes == std::vector<std::string>{"json-syntax"});
    CHECK(Has(config.text, "config.json:3:18: error: malformed JSON: number overflow parsing '1e400' [json-syntax]\n"));

    Loaded plan = PlanText("plan.json", "{\"lm_head\": 1e999}");
    CHECK_FALSE(plan.ok);
    CHECK(plan.codes == std::vector<std::string>{"json-syntax"});
    CHECK(Has(plan.text, "plan.json:1:13: error: malformed JSON: number overflow parsing '1e999'"));
  }

  TEST_CASE("a mapping as a plan key is reported at the key, in the plan and in a style object") {
    SUBCASE("a wrapped plan's field") {
      Loaded l = PlanText("plan.yaml", "plan:\n  lm_head: colwise\n? [a, b]\n: x\n");
      CHECK_FALSE(l.ok);
      CHECK(l.codes == std::vector<std::string>{"bad-plan-entry"});
      CHECK(Has(l.text, "plan.yaml:3:3: error: plan keys must be strings [bad-plan-entry]"));
    }
    SUBCASE("a style object's field") {
      Loaded l = PlanText("plan.yaml", "lm_head:\n  style: colwise\n  ? [a, b]\n  : x\n");
      CHECK_FALSE(l.ok);
      CHECK(l.codes == std::vector<std::string>{"bad-plan-entry"});
      CHECK(Has(l.text, "plan.yaml:3:5: error: the keys of the style object of 'lm_head' must be strings"));
    }
  }

  TEST_CASE("a mapping as a key of an architecture template is bad-arch-template at the key") {
    Loaded l = Template("family: x\nmodel_types: [x]\n? [a, b]\n: 1\n");
    CHECK_FALSE(l.ok);
    CHECK(l.codes == std::vector<std::string>{"bad-arch-template"});
    CHECK(Has(l.text, "arch.yaml:3:3: error: architecture template: keys must be strings [bad-arch-template]"));
  }

  TEST_CASE("a shard dimension that overflows int is bad-layout") {
    Loaded l = PlanText("plan.yaml", "lm_head: {style: colwise, output_layouts: [shard(99999999999)]}\n");
    CHECK_FALSE(l.ok);
    CHECK(l.codes == std::vector<std::string>{"bad-layout"});
    CHECK(Has(l.text, "plan.yaml:1:44: error: unknown layout 'shard(99999999999)'"));
  }

  TEST_CASE("invalid UTF-8 is replaced, not thrown on, in JSON and SARIF output") {
    SourceManager sm;
    Diagnostics diags(sm);
    int f = sm.AddPath("bad\xff.yaml");
    diags.Report(DiagId::kFileUnreadable, {f, 0, 0, 0}, {"bad\xff.yaml", "it is a FIFO"});
    std::string json, sarif;
    REQUIRE_NOTHROW(json = RenderJson(diags));
    REQUIRE_NOTHROW(sarif = RenderSarif(diags));
    CHECK(nlohmann::json::parse(json)["diagnostics"][0]["file"] == "bad\xEF\xBF\xBD.yaml");
    CHECK(nlohmann::json::parse(sarif)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
                                      ["artifactLocation"]["uri"] == "bad\xEF\xBF\xBD.yaml");

    TempDir dir;
    test::WriteFile(dir / "plan.yaml", "lm_head: \"col\xffwise\"\n");
    for (const char* format : {"json", "sarif"}) {
      CAPTURE(format);
      test::TpcRun r = test::RunTpc("check " + kConfig + " --plan " + (dir / "plan.yaml") + " --format " + format, false);
      CHECK(r.code == 1);  // the unknown style is an error; no internal error (3)
      CHECK(Has(r.out, "col\xEF\xBF\xBDwise"));
    }
  }

  TEST_CASE("an architecture template expression nested 10,000 deep is bad-arch-template") {
    for (const std::string& expr : {std::string(10'000, '(') + "1" + std::string(10'000, ')'),
                                    std::string(10'000, '-') + "1"}) {
      Loaded l = Template("family: x\nmodel_types: [x]\ndefaults:\n  d: \"" + expr + "\"\n");
      CHECK_FALSE(l.ok);
      CHECK(l.codes == std::vector<std::string>{"bad-arch-template"});
      CHECK(Has(l.text, "arch.yaml:4:6: error: architecture template: in expression '"));
      CHECK(Has(l.text, "': expression nested deeper than 64 [bad-arch-template]"));
    }
  }

  TEST_CASE("a FIFO as --plan or --model is refused at once") {
    TempDir dir;
    REQUIRE(mkfifo((dir / "fifo").c_str(), 0600) == 0);
    test::TpcRun plan = Bounded("check " + kConfig + " --plan " + (dir / "fifo"));
    CHECK(plan.code == 2);
    CHECK(Has(plan.out, "cannot read '" + (dir / "fifo") + "': it is a FIFO [file-unreadable]"));
    test::TpcRun model = Bounded("check --model " + (dir / "fifo") + " --plan plans/hf/llama.yaml");
    CHECK(model.code == 2);
    CHECK(Has(model.out, "cannot read '" + (dir / "fifo") + "': it is a FIFO [file-unreadable]"));
  }

  TEST_CASE("a character device like /dev/zero as --plan is refused, not read until memory runs out") {
    TempDir dir;
    std::string zero = dir / "zero";
    if (mknod(zero.c_str(), S_IFCHR | 0600, makedev(1, 5)) != 0)
      FAIL("mknod of a /dev/zero node failed (tests run as root): " << std::strerror(errno));
    test::TpcRun r = Bounded("check " + kConfig + " --plan " + zero);
    CHECK(r.code == 2);
    CHECK(Has(r.out, "cannot read '" + zero + "': it is a character device [file-unreadable]"));
  }

  TEST_CASE("a directory and a file over the input limit are file-unreadable with the reason") {
    TempDir dir;
    Loaded d = ReadPath(dir.path);
    CHECK(d.codes == std::vector<std::string>{"file-unreadable"});
    CHECK(Has(d.text, "': it is a directory [file-unreadable]"));

    // A sparse file: its size is over the limit, its blocks take no disk.
    std::string big = dir / "big.yaml";
    test::WriteFile(big, "");
    REQUIRE(truncate(big.c_str(), static_cast<off_t>(limits::kMaxInputBytes) + 1) == 0);
    Loaded b = ReadPath(big);
    CHECK_FALSE(b.ok);
    CHECK(b.codes == std::vector<std::string>{"file-unreadable"});
    CHECK(Has(b.text, "cannot read '" + big + "': it is 67108865 bytes, over the limit of 67108864 bytes (64 MiB)"));
  }

  TEST_CASE("25,000 plan keys each given twice load in linear time, the later value in the later place") {
    std::string text;
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i < 25'000; ++i)
        text += "model.layers." + std::to_string(i) + ".mlp.up_proj: " + (pass ? "rowwise\n" : "colwise\n");
    auto start = std::chrono::steady_clock::now();
    SourceManager sm;
    Diagnostics diags(sm);
    std::optional<Plan> plan = ParsePlan("plan.yaml", text, diags);
    double seconds = Seconds(start);
    CHECK(seconds < 20.0);  // a hang guard, not a speed claim: the quadratic loader took 54 s here
    REQUIRE(plan);
    REQUIRE(plan->entries.size() == 25'000);
    CHECK(plan->entries[0].key == "model.layers.0.mlp.up_proj");
    CHECK(plan->entries[0].style == "rowwise");
    CHECK(plan->entries[0].key_loc.line == 25'001);
    CHECK(plan->entries[24'999].key_loc.line == 50'000);
    CHECK(diags.warnings() == 25'000);
  }

  TEST_CASE("a plan with more entries than limits::kMaxPlanEntries is refused at the first one too many") {
    std::string text;
    for (size_t i = 0; i <= limits::kMaxPlanEntries; ++i) text += "k: colwise\n";
    Loaded l = PlanText("plan.yaml", text);
    CHECK_FALSE(l.ok);
    CHECK(l.codes.back() == "bad-plan-entry");
    CHECK(Has(l.text, "plan.yaml:100001:1: error: the plan has more than 100000 entries, duplicates included"));
  }

  TEST_CASE("did-you-mean gives up on a 32 MB word at once instead of computing edit distances") {
    std::vector<std::string> styles = StyleNames(Dialect::kTorch);
    std::string word(32 << 20, 'w');
    auto start = std::chrono::steady_clock::now();
    std::string hint = DidYouMean(word, styles);
    double seconds = Seconds(start);
    CHECK(seconds < 5.0);  // a hang guard: the unbounded edit distance took 13 s
    CHECK(hint.empty());
    CHECK(DidYouMean("colwsie", styles) == "colwise");  // short typos still get their suggestion
  }

  TEST_CASE("a value flag given last says it needs a value") {
    for (const char* flag : {"--tp", "--plan", "--dialect", "--format"}) {
      test::TpcRun r = test::RunTpc("check " + kConfig + " " + flag, true);
      CHECK(r.code == 2);
      CHECK(r.out == std::string("tpc: ") + flag + " needs a value\nrun 'tpc help' for usage\n");
    }
    test::TpcRun r = test::RunTpc("compile " + kConfig + " --tp 2 -o", true);
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: -o needs a value\nrun 'tpc help' for usage\n");
  }

  TEST_CASE("an unknown --dtype is a usage error naming the flag and the accepted dtypes") {
    TempDir dir;
    test::TpcRun r = test::RunTpc("compile " + kConfig + " --tp 2 --dtype bogus -o " + (dir / "p.json"), true);
    CHECK(r.code == 2);
    CHECK(r.out == "tpc: --dtype: unknown dtype 'bogus'; expected bfloat16, float16, float32, float64, int8, "
                   "float8_e4m3fn or float8_e5m2\nrun 'tpc help' for usage\n");
    CHECK_FALSE(std::filesystem::exists(dir / "p.json"));
  }

  TEST_CASE("a second YAML document in a plan is an error at its start") {
    Loaded l = PlanText("plan.yaml", "lm_head: colwise\n---\nlm_head: rowwise\n");
    CHECK_FALSE(l.ok);
    CHECK(l.codes == std::vector<std::string>{"yaml-syntax"});
    CHECK(Has(l.text, "plan.yaml:2:1: error: malformed YAML: a second YAML document starts here"));
  }

  TEST_CASE("a plan field given twice is an error naming both lines") {
    Loaded l = PlanText("plan.yaml", "dialect: torch\nplan:\n  lm_head: colwise\ndialect: hf-v4\n");
    CHECK_FALSE(l.ok);
    CHECK(l.codes == std::vector<std::string>{"bad-plan-entry"});
    CHECK(l.text ==
          "plan.yaml:4:1: error: field 'dialect' is given twice, on lines 1 and 4 [bad-plan-entry]\n"
          "dialect: hf-v4\n"
          "^~~~~~~\n"
          "plan.yaml:1:1: note: first given here\n"
          "dialect: torch\n"
          "^~~~~~~\n");
  }

  TEST_CASE("a style object field given twice is an error at the second") {
    Loaded l = PlanText("plan.yaml", "lm_head: {style: colwise, style: rowwise}\n");
    CHECK_FALSE(l.ok);
    CHECK(l.codes == std::vector<std::string>{"bad-plan-entry"});
    CHECK(Has(l.text, "plan.yaml:1:27: error: field 'style' is given twice in the style object of 'lm_head'"));
  }

  TEST_CASE("a megabyte-long config line is quoted as a window around the caret") {
    std::string config = "{\"model_type\": \"llama\", \"pad\": \"" + std::string(1 << 20, 'x') + "\", \"hidden_size\": }";
    test::CheckRun r = test::CheckTexts(config, "plan.yaml", "lm_head: colwise\n", test::Opts(1));
    CHECK(r.codes == std::vector<std::string>{"json-syntax"});
    CHECK(r.text.size() < 1000);
    size_t brace = config.size();  // the '}' that ends the line is the unexpected token
    CHECK(Has(r.text, "config.json:1:" + std::to_string(brace) + ": error: malformed JSON: syntax error"));
    // The snippet: "...xxxx", "hidden_size": }" and a caret under its last character.
    std::vector<std::string_view> lines = Split(r.text, '\n');
    REQUIRE(lines.size() >= 3);
    std::string_view quoted = lines[1], caret = lines[2];
    CHECK(quoted.substr(0, 6) == "...xxx");
    CHECK(quoted.size() <= limits::kMaxQuotedLine + 3);
    const std::string_view tail = "\"hidden_size\": }";
    CHECK(quoted.substr(quoted.size() - tail.size()) == tail);
    CHECK(caret == std::string(quoted.size() - 1, ' ') + "^");
  }

  TEST_CASE("check reports input that does not load on stderr, not stdout") {
    test::TpcRun out = test::RunTpc("check --model tests/data/configs/nope --plan plans/hf/llama.yaml", false);
    CHECK(out.code == 2);
    CHECK(out.out.empty());
    test::TpcRun both = test::RunTpc("check --model tests/data/configs/nope --plan plans/hf/llama.yaml", true);
    CHECK(Has(both.out, "cannot read 'tests/data/configs/nope': No such file or directory [file-unreadable]"));
  }
}

}  // namespace
}  // namespace tpc
