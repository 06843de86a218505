#include <doctest/doctest.h>

#include "test_util.h"

namespace tpc {
namespace {

using test::CheckTexts;
using test::kTinyLlama;

TEST_SUITE("resolve") {
  TEST_CASE("a key that matches nothing warns with the closest module") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml",
                                    "base_model_tp_plan:\n"
                                    "  layers.*.mlp.up_prj: colwise\n",
                                    test::Opts(2, Dialect::kHfV5));
    CHECK(run.text ==
          "plan.yaml:2:3: warning: plan key 'layers.*.mlp.up_prj' matches no module or parameter of this llama "
          "model; the runtime skips it; did you mean 'layers.*.mlp.up_proj'? [unmatched-key]\n"
          "  layers.*.mlp.up_prj: colwise\n"
          "  ^~~~~~~~~~~~~~~~~~~\n");
    CHECK(run.ok);  // a warning, as the runtimes only warn
  }

  TEST_CASE("base_model_tp_plan keys are prefixed with the base model path") {
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml",
                                    "base_model_tp_plan:\n"
                                    "  layers.*.mlp.gate_proj: colwise\n"
                                    "  layers.*.mlp.up_proj: colwise\n"
                                    "  layers.*.mlp.down_proj: rowwise\n",
                                    test::Opts(2, Dialect::kHfV5));
    CHECK(run.ok);
    CHECK(run.text.empty());
  }

  TEST_CASE("hf-v4 never applies a key with a digit inside a name") {
    // transformers 4.x turns `fc1` into `fc*` before the exact lookup (hf_tp.md §1.4).
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", "model.layers.*.mlp.w1: colwise\n", test::Opts(2, Dialect::kHfV4));
    CHECK(run.text ==
          "plan.yaml:1:1: warning: hf-v4 never applies key 'model.layers.*.mlp.w1': transformers 4.x turns every "
          "digit run of a module name into '*' before the exact lookup, so 'w1' is looked up as 'w*', so these "
          "layers stay replicated [dialect-never-applies]\n"
          "model.layers.*.mlp.w1: colwise\n"
          "^~~~~~~~~~~~~~~~~~~~~\n");
  }

  TEST_CASE("hf-v4 and hf-v5 do not glob: a star matches a numeric segment only") {
    // `*` in place of `mlp` is a literal name under the HF dialects, and a glob under torch.
    const char* plan = "model.layers.*.*.up_proj: colwise\nmodel.layers.*.*.gate_proj: colwise\nmodel.layers.*.*.down_proj: rowwise\n";
    test::CheckRun hf = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kHfV5));
    CHECK(hf.codes == std::vector<std::string>{"unmatched-key", "unmatched-key", "unmatched-key"});
    test::CheckRun torch = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kTorch));
    CHECK(torch.ok);
    CHECK(torch.text.empty());
  }

  TEST_CASE("torch matches each segment with fnmatch") {
    // `[0]` matches layer 0 only, while `*` on down_proj matches both layers: in layer 1 a rowwise
    // down_proj gets the replicated output of unsharded gate/up.
    const char* plan =
        "model.layers.[0].mlp.gate_proj: colwise\n"
        "model.layers.[0].mlp.up_proj: colwise\n"
        "model.layers.*.mlp.down_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kTorch));
    CHECK(run.codes == std::vector<std::string>{"layout-mismatch"});
    CHECK(run.text.find("(in layer 1) [layout-mismatch]") != std::string::npos);
  }

  TEST_CASE("under torch a later key overrides an earlier one on shared modules") {
    const char* plan =
        "model.layers.*.mlp.*: colwise\n"
        "model.layers.*.mlp.down_proj: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kTorch));
    // The glob matches gate_proj, up_proj and down_proj in 2 layers; down_proj is taken over.
    CHECK(run.text ==
          "plan.yaml:1:1: warning: plan key 'model.layers.*.mlp.*' is overridden by a later key on 2 of its 6 "
          "matches [shadowed-key]\n"
          "model.layers.*.mlp.*: colwise\n"
          "^~~~~~~~~~~~~~~~~~~~\n"
          "plan.yaml:2:1: note: overridden by this key\n"
          "model.layers.*.mlp.down_proj: rowwise\n"
          "^~~~~~~~~~~~~~~~~~~~~~~~~~~~\n");
  }

  TEST_CASE("hf-v5 parameter keys shard weights without installing hooks") {
    // `.weight` keys slice the tensors; with no module hooks the maths stays local, so a rowwise
    // parameter key leaves partial sums that nothing all-reduces.
    const char* plan =
        "model.layers.*.mlp.gate_proj.weight: colwise\n"
        "model.layers.*.mlp.up_proj.weight: colwise\n"
        "model.layers.*.mlp.down_proj.weight: rowwise\n";
    test::CheckRun run = CheckTexts(kTinyLlama, "plan.yaml", plan, test::Opts(2, Dialect::kHfV5));
    CHECK(run.codes == std::vector<std::string>{"unreduced-partial"});
  }
}

}  // namespace
}  // namespace tpc
