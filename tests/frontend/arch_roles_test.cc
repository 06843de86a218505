// Module roles in architecture templates: a closed set, so a misspelt one is a load error at its
// place instead of a check that silently stops applying.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "backend/render_diagnostics.h"
#include "frontend/arch_template.h"
#include "test_util.h"

namespace tpc {
namespace {

using test::TempDir;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The bundled llama template with its first `from` replaced by `to`.
std::string LlamaWith(const std::string& from, const std::string& to) {
  std::string text = test::ReadFile(test::SourcePath("plans/arch/llama.yaml"));
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

TEST_SUITE("arch template roles") {
  TEST_CASE("an unknown module role is bad-arch-template at the role, with the near name") {
    SourceManager sm;
    Diagnostics diags(sm);
    std::string text =
        "family: x\nmodel_types: [x]\nlayers:\n  path: m.layers\n  count: 1\n  in: m.embed\n  out: o\n"
        "  modules:\n    - {name: q, kind: linear, role: attn_qq, weight: [4, 4]}\n";
    CHECK_FALSE(ParseArchTemplate("arch.yaml", text, diags).has_value());
    CHECK(RenderText(diags, false).find(
              "arch.yaml:9:37: error: architecture template: unknown role 'attn_qq'; did you mean 'attn_q'? "
              "[bad-arch-template]") != std::string::npos);
  }

  TEST_CASE("an unknown parameter role is bad-arch-template at the role") {
    SourceManager sm;
    Diagnostics diags(sm);
    std::string text =
        "family: x\nmodel_types: [x]\nlayers:\n  path: m.layers\n  count: 1\n  in: m.embed\n  out: o\n"
        "  modules:\n    - name: e\n      kind: experts\n      params:\n"
        "        - {name: w, role: gateup, shape: [2, 4, 4]}\n";
    CHECK_FALSE(ParseArchTemplate("arch.yaml", text, diags).has_value());
    CHECK(RenderText(diags, false).find("arch.yaml:12:27: error: architecture template: unknown role 'gateup'; "
                                        "did you mean 'gate_up'?") != std::string::npos);
  }

  TEST_CASE("check --arch-dir with a misspelt role fails at the role's line with exit 2") {
    TempDir dir;
    const std::string args = "check --model tests/data/configs/meta-llama__Llama-3.1-8B --plan plans/hf/llama.yaml "
                             "--tp 8 --no-color --arch-dir " + dir.path;
    // Spelt right, the copied template checks clean: the failure below is the role's alone.
    test::WriteFile(dir / "llama.yaml", LlamaWith("role: attn_q,", "role: attn_q,"));
    REQUIRE(test::RunTpc(args, true).code == 0);
    test::WriteFile(dir / "llama.yaml", LlamaWith("role: attn_q,", "role: attn_qq,"));
    test::TpcRun r = test::RunTpc(args, true);
    CHECK(r.code == 2);
    CHECK(Has(r.out, dir / "llama.yaml" + ":21:52: error: architecture template: unknown role 'attn_qq'; did you "
                                          "mean 'attn_q'? [bad-arch-template]"));
  }

  TEST_CASE("the role names are exactly the role enum of schemas/arch.schema.json") {
    nlohmann::json schema = nlohmann::json::parse(test::ReadFile(test::SourcePath("schemas/arch.schema.json")));
    std::vector<std::string> names = schema["$defs"]["role"]["enum"];
    CHECK(RoleNames() == names);
    const auto& module = schema["$defs"]["module"]["properties"];
    CHECK(module["role"]["$ref"] == "#/$defs/role");
    CHECK(module["params"]["items"]["properties"]["role"]["$ref"] == "#/$defs/role");
  }

  TEST_CASE("a role name parses to its enum and back") {
    CHECK(ParseRole("attn_q") == Role::kAttnQ);
    CHECK(ParseRole("lm_head") == Role::kLmHead);
    CHECK(ParseRole("gate_up") == Role::kGateUp);
    CHECK_FALSE(ParseRole("attn_qq").has_value());
    CHECK_FALSE(ParseRole("").has_value());
    CHECK(std::string(RoleName(Role::kMlpDown)) == "mlp_down");
    CHECK(IsAttentionRole(Role::kAttnLinear));
    CHECK_FALSE(IsAttentionRole(Role::kMlaQA));
  }
}

}  // namespace
}  // namespace tpc
