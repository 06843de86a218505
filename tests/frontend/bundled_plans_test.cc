// The bundled plans (plans/nemo, plans/rl, plans/hf, plans/hf57, plans/hf4): every one parses cleanly, names
// are unique, and `tpc plans --markdown` is what plans/README.md holds.
#include <doctest/doctest.h>

#include <set>

#include "frontend/bundled_plans.h"
#include "support/strings.h"
#include "test_util.h"

namespace tpc {
namespace {

TEST_SUITE("bundled-plans") {
  TEST_CASE("every bundled plan parses without a diagnostic and says who wrote it") {
    std::vector<std::string> names = BundledPlanNames();
    // 16 NeMo AutoModel + 4 NeMo RL + 21 transformers 4.57 + 21 transformers 5.24 + 21 transformers
    // 5.7 (each of whose plans differs from 5.24's), counted in plans/.
    CHECK(names.size() == 83);
    std::set<std::string> unique(names.begin(), names.end());
    CHECK(unique.size() == names.size());
    for (const std::string& name : names) {
      CAPTURE(name);
      SourceManager sm;
      Diagnostics diags(sm);
      std::optional<Plan> p = LoadBundledPlan(name, diags);
      REQUIRE(p);
      CHECK(diags.all().empty());
      CHECK(p->meta.name == name);
      CHECK_FALSE(p->meta.seed.empty());
      CHECK_FALSE(p->meta.summary.empty());
      CHECK(p->meta.dialect.has_value());
      // transformers 5.7 applies nothing of falcon_h1's and gpt_oss's plans: only their classes'
      // lm_head entries remain, for NeMo AutoModel's reading.
      bool class_only = name == "hf57/falcon_h1" || name == "hf57/gpt_oss";
      CHECK(p->entries.empty() == class_only);
      CHECK(p->class_entries.empty() == (!StartsWith(name, "hf57/") || name == "hf57/gemma3"));
    }
  }

  TEST_CASE("the seeds that ignore sequence parallelism are marked so") {
    for (const char* name : {"nemo/phi3", "nemo/baichuan", "nemo/falcon_h1", "nemo/mistral3_vlm", "nemo/qwen3_5_vlm",
                             "nemo/gemma4"}) {
      CAPTURE(name);
      SourceManager sm;
      Diagnostics diags(sm);
      std::optional<Plan> p = LoadBundledPlan(name, diags);
      REQUIRE(p);
      CHECK(p->meta.sp_mode == SpMode::kIgnored);
      CHECK(p->sp_entries.empty());
    }
  }

  TEST_CASE("plans/README.md is the output of tpc plans --markdown") {
    std::string out;
    REQUIRE(test::RunCommand(std::string(TPC_BINARY) + " plans --markdown", &out) == 0);
    CHECK(out == test::ReadFile(test::SourcePath("plans/README.md")));
    CHECK(out.find("| `nemo/phi3` | NeMo AutoModel | Phi3ForCausalLM | phi3 | ignored | torch |") != std::string::npos);
  }
}

}  // namespace
}  // namespace tpc
