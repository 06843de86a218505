// Architecture templates given with --arch-dir: a contributor's mistakes are bad-arch-template
// diagnostics at the template's line and column, with exit code 2.
#include <doctest/doctest.h>

#include <filesystem>

#include "test_util.h"

namespace tpc {
namespace {

// A cut-down llama template; `down_in` and `up_rows` are where the tests put a mistake.
std::string Template(const std::string& up_rows, const std::string& down_in) {
  return "family: tiny\n"
         "model_types: [llama]\n"
         "pre:\n"
         "  - {name: \"{base}.embed_tokens\", kind: embedding, role: embed, weight: [vocab_size, hidden_size]}\n"
         "layers:\n"
         "  path: \"{base}.layers\"\n"
         "  count: num_hidden_layers\n"
         "  in: \"{base}.embed_tokens\"\n"
         "  out: mlp_residual\n"
         "  modules:\n"
         "    - {name: mlp.up_proj, kind: linear, role: mlp_up, weight: [" + up_rows +
         ", hidden_size], in: [residual]}\n"
         "    - {name: mlp.down_proj, kind: linear, role: mlp_down, weight: [hidden_size, intermediate_size], in: [" +
         down_in + "]}\n"
         "    - {name: mlp_residual, kind: add, in: [residual, mlp.down_proj]}\n"
         "post:\n"
         "  - {name: lm_head, kind: linear, role: lm_head, weight: [vocab_size, hidden_size], in: [layers]}\n";
}

// Checks the tiny llama config with a one-key plan against `text` as dir/arch/tiny.yaml.
test::TpcRun CheckWith(const test::TempDir& dir, const std::string& text) {
  std::filesystem::create_directory(dir / "arch");
  test::WriteFile(dir / "arch/tiny.yaml", text);
  test::WriteFile(dir / "config.json", test::kTinyLlama);
  test::WriteFile(dir / "plan.yaml", "lm_head: colwise\n");
  return test::RunTpc("check --model " + (dir / "config.json") + " --plan " + (dir / "plan.yaml") +
                          " --tp 2 --no-color --arch-dir " + (dir / "arch"),
                      true);
}

TEST_SUITE("arch-template") {
  TEST_CASE("the cut-down template itself checks cleanly") {
    test::TempDir dir;
    test::TpcRun r = CheckWith(dir, Template("intermediate_size", "mlp.up_proj"));
    CHECK(r.code == 0);
    CHECK(r.out == "ok: 0 errors, 0 warnings (llama, 2 layers, tp 2, dialect hf-v5, transformers 5.24.0)\n");
  }

  TEST_CASE("an input naming a module not declared before it is bad-arch-template at that module") {
    test::TempDir dir;
    test::TpcRun r = CheckWith(dir, Template("intermediate_size", "mlp.act_fn"));
    CHECK(r.code == 2);
    CHECK(r.out == dir / "arch/tiny.yaml" +
                       ":12:7: error: architecture template: input 'model.layers.0.mlp.act_fn' of "
                       "'model.layers.0.mlp.down_proj' is not declared before it [bad-arch-template]\n"
                       "    - {name: mlp.down_proj, kind: linear, role: mlp_down, "
                       "weight: [hidden_size, intermediate_size], in: [mlp.act_fn]}\n"
                       "      ^\n"
                       "FAIL: 1 error, 0 warnings\n");
  }

  TEST_CASE("a malformed shape expression is bad-arch-template at the expression") {
    test::TempDir dir;
    test::TpcRun r = CheckWith(dir, Template("intermediate_size *", "mlp.up_proj"));
    CHECK(r.code == 2);
    CHECK(r.out == dir / "arch/tiny.yaml" +
                       ":11:64: error: architecture template: in expression 'intermediate_size *': unexpected end "
                       "[bad-arch-template]\n"
                       "    - {name: mlp.up_proj, kind: linear, role: mlp_up, "
                       "weight: [intermediate_size *, hidden_size], in: [residual]}\n"
                       "                                                               ^\n"
                       "FAIL: 1 error, 0 warnings\n");
  }
}

}  // namespace
}  // namespace tpc
