#include "driver/compile_command.h"

#include "backend/emit_program.h"
#include "backend/render_diagnostics.h"
#include "driver/load_inputs.h"
#include "ir/program_json.h"
#include "support/atomic_file.h"

namespace tpc {

int RunCompileCommand(const CompileRequest& req, std::ostream& out, std::ostream& err) {
  SourceManager sources;
  Diagnostics diags(sources);
  auto report = [&](const std::string& context) { err << RenderText(diags, req.color) << Summary(diags, context); };
  PlanRequest plan_req = req.plan;
  plan_req.tp = req.options.check.tp;
  plan_req.sequence_parallel = req.options.sequence_parallel;
  std::optional<Inputs> in = LoadInputs(req.model_path, plan_req, req.arch_dir, diags);
  if (!in) {
    report("");
    return LoadFailureCode(diags);
  }
  CompileOptions options = req.options;
  options.check.dialect = ChooseDialect(in->plan, req.dialect_given, options.check.dialect);
  options.check.sequence_parallel = options.sequence_parallel;
  options.check.transformers = EffectiveRelease(plan_req, options.check.dialect);
  if (in->plan.meta.sp_mode == SpMode::kIgnored) options.sequence_parallel = false;  // as the seed runs it
  std::string context = RunContext(in->model, options.check.tp, options.check.dialect, options.check.transformers);
  std::optional<Program> program = Compile(in->model, in->plan, options, diags);
  if (!program) {
    report(context);
    return diags.has_fatal() ? kExitUsage : kExitErrors;
  }
  // What the program was compiled from, hashed as it was parsed.
  const ModelGraph& model = in->model;
  InputText config{sources.path(model.config_file), sources.text(model.config_file)};
  InputText plan_text;
  bool bundled = false;
  if (in->plan.file >= 0) {
    plan_text = {sources.path(in->plan.file), sources.text(in->plan.file)};
    bundled = req.plan.plan.empty() || plan_text.path != req.plan.plan;  // a bundled plan's text is built in
  }
  program->inputs =
      DescribeInputs(config, plan_text, bundled, model.checkpoint ? &model.checkpoint->checkpoint : nullptr);
  // Render everything first, then stage every output: none is written unless all of them can be.
  std::vector<std::pair<std::string, std::string>> files;
  if (!req.output.empty()) files.emplace_back(req.output, EmitProgramJson(*program));
  if (!req.dot.empty()) files.emplace_back(req.dot, EmitBlockDot(*program, in->model));
  OutputSet outputs;
  for (auto& [path, what] : InputFiles(sources, &in->model, in->plan, req.plan.plan)) outputs.Protect(path, what);
  OutputError why;
  bool written = true;
  for (const auto& [path, text] : files) {
    StagedOutput* staged = outputs.Stage(path, &why);
    if (!(written = staged && staged->Write(text, &why))) break;
  }
  if (!written || !outputs.Commit(&why)) {
    diags.Report(DiagId::kOutputUnwritable, {}, {why.path, why.reason});
    report(context);
    return kExitUsage;
  }
  if (req.explain) out << RenderExplain(*program, in->model);
  if (diags.warnings() > 0) report(context);
  return kExitOk;
}

}  // namespace tpc
