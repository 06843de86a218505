#ifndef TPC_TESTS_FUZZ_FUZZ_PIPELINE_H_
#define TPC_TESTS_FUZZ_FUZZ_PIPELINE_H_

// What every fuzz target shares: the inputs a target does not fuzz, and the run of everything tpc
// does after loading (checks, lowering, every renderer and emitter), so a fuzzed input reaches all
// of it. A target signals a bug only by crashing: an escaped exception, a sanitizer report, a
// trap from an invariant below, or a timeout.

#include <cstddef>
#include <cstdint>
#include <string>

#include "frontend/arch_template.h"
#include "ir/model_graph.h"
#include "ir/plan.h"
#include "support/diagnostics.h"

namespace tpc::fuzz {

/// The bundled architecture templates, fresh: a template remembers the id its file got in the
/// SourceManager of the run that parsed it, so every run needs its own registry.
ArchRegistry Registry();
/// A real config from tests/data/configs, cut to `layers` decoder layers so one run stays fast.
std::string SmallConfig(const std::string& name, int layers);
/// The text of a file under the source tree (a bundled plan, say).
std::string SourceText(const std::string& relative);
/// Checks and compiles `plan` on `model` at tp 2 and at tp 3 with --sp --lora, and renders
/// everything: diagnostics as text, JSON and SARIF; the program as JSON, DOT and the explain table.
void RunPipeline(const ModelGraph& model, const Plan& plan, Diagnostics& diags);
/// Renders the diagnostics in every format and checks the invariants every run must keep: a fatal
/// diagnostic names a file; error counts agree with the list.
void RenderAll(const Diagnostics& diags);

}  // namespace tpc::fuzz

#endif  // TPC_TESTS_FUZZ_FUZZ_PIPELINE_H_
