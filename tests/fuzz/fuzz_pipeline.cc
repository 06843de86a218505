#include "fuzz/fuzz_pipeline.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "backend/emit_plan.h"
#include "backend/emit_program.h"
#include "backend/render_diagnostics.h"
#include "driver/load_inputs.h"
#include "frontend/plan_loader.h"
#include "ir/program_json.h"
#include "passes/lowering.h"
#include "passes/translate_lora.h"

namespace tpc::fuzz {
namespace {

// An invariant broke: stop the run the way a sanitizer would, so the fuzzer keeps the input.
[[noreturn]] void Broken(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  __builtin_trap();
}

// Keeps the optimizer from dropping a rendering whose result nobody reads.
volatile size_t sink;

// What every compiled program must satisfy whatever the input: positive global shapes, per-rank
// slices inside the tensor that cover its sharded dim exactly `replicas` times, non-negative local
// shapes, and positive sizes for collectives and parameter bytes.
void CheckProgram(const Program& p) {
  for (const ProgramParam& param : p.params) {
    for (int64_t d : param.global_shape)
      if (d <= 0) Broken("a parameter has a non-positive global dimension");
    for (int r = 0; r < p.tp; ++r)
      for (int64_t d : param.LocalShape(r))
        if (d < 0) Broken("a rank holds a negative dimension");
    if (param.ranks.empty()) continue;
    int dim = param.placement.dim < 0 ? param.placement.dim + static_cast<int>(param.global_shape.size())
                                      : param.placement.dim;
    if (dim < 0 || dim >= static_cast<int>(param.global_shape.size())) Broken("a shard dim outside the tensor");
    int64_t covered = 0;
    for (const std::vector<Slice>& slices : param.ranks)
      for (const Slice& s : slices) {
        if (s.start < 0 || s.length < 0 || s.start > param.global_shape[dim] - s.length)
          Broken("a slice outside its tensor");
        covered += s.length;
      }
    if (covered != param.global_shape[dim] * param.replicas) Broken("slices do not tile the sharded dim");
  }
  for (const Collective& c : p.collectives)
    if (c.bytes_per_token <= 0 || c.elements_per_token <= 0) Broken("a collective moves no bytes");
  if (p.summary.param_bytes_total <= 0) Broken("the model has no bytes");
  for (int64_t b : p.summary.param_bytes_per_rank)
    if (b < 0) Broken("a rank holds negative bytes");
}

}  // namespace

ArchRegistry Registry() {
  ArchRegistry r;
  SourceManager sm;
  Diagnostics d(sm);
  if (!r.Load("", d)) throw std::runtime_error("the bundled architecture templates do not load");
  return r;
}

std::string SourceText(const std::string& relative) {
  std::ifstream in(std::string(TPC_SOURCE_DIR) + "/" + relative, std::ios::binary);
  if (!in) throw std::runtime_error("fuzz: cannot read " + relative);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string SmallConfig(const std::string& name, int layers) {
  nlohmann::json config = nlohmann::json::parse(SourceText("tests/data/configs/" + name + "/config.json"));
  config["num_hidden_layers"] = layers;
  return config.dump(2);
}

void RenderAll(const Diagnostics& diags) {
  int errors = 0;
  for (const Diagnostic& d : diags.all()) {
    if (d.severity == Severity::kFatal && !d.loc.valid()) Broken("a fatal diagnostic names no file");
    if (d.message.empty()) Broken("a diagnostic has no message");
    errors += d.severity >= Severity::kError;
  }
  if (errors != diags.errors()) Broken("the error count disagrees with the diagnostics");
  sink = RenderText(diags, true).size() + RenderJson(diags).size() + RenderSarif(diags).size() +
         Summary(diags, "fuzz").size();
}

void RunPipeline(const ModelGraph& model, const Plan& plan, Diagnostics& diags) {
  sink = EmitPlanYaml(plan, "# fuzz\n").size();
  // Two runs cover even and uneven splits, plain and SP, with and without LoRA adapters.
  for (int tp : {2, 3}) {
    {
      bool sp = tp == 3;
      Plan p = plan;
      if (sp) ApplySequenceParallel(p);
      CompileOptions opts;
      opts.check.tp = tp;
      opts.check.dialect = ChooseDialect(p, false, Dialect::kHfV5);
      opts.check.sequence_parallel = sp;
      opts.sequence_parallel = sp && p.meta.sp_mode != SpMode::kIgnored;
      opts.lora = sp;
      SourceManager sm = diags.sources();  // the plan's and the model's file ids stay valid
      Diagnostics run(sm);
      std::optional<Program> program = Compile(model, p, opts, run);
      if (program) {
        CheckProgram(*program);
        sink = EmitProgramJson(*program).size() + EmitBlockDot(*program, model).size() +
               RenderExplain(*program, model).size();
      } else if (!run.has_errors()) {
        Broken("compile failed without an error");
      }
      RenderAll(run);
    }
  }
  if (plan.meta.dialect == Dialect::kTorch) sink = TranslateToLora(plan, LoraSections::kWithSpPlan, diags).entries.size();
  RenderAll(diags);
}

}  // namespace tpc::fuzz
