#include "driver/compile_command.h"

#include "backend/emit_program.h"
#include "backend/render_diagnostics.h"
#include "driver/load_inputs.h"
#include "support/atomic_file.h"

namespace tpc {

int RunCompileCommand(const CompileRequest& req, std::ostream& out, std::ostream& err) {
  SourceManager sources;
  Diagnostics diags(sources);
  auto report = [&](const std::string& context) { err << RenderText(diags, req.color) << Summary(diags, context); };
  std::optional<Inputs> in = LoadInputs(req.model_path, req.plan_path, req.arch_dir, diags);
  if (!in) {
    report("");
    return kExitUsage;
  }
  std::string context = RunContext(in->model, req.options.check.tp, req.options.check.dialect);
  std::optional<Program> program = Compile(in->model, in->plan, req.options, diags);
  if (!program) {
    report(context);
    return diags.has_fatal() ? kExitUsage : kExitErrors;
  }
  // Render everything first: nothing is written unless every output can be produced.
  std::vector<std::pair<std::string, std::string>> files;
  if (!req.output.empty()) files.emplace_back(req.output, EmitProgramJson(*program));
  if (!req.dot.empty()) files.emplace_back(req.dot, EmitBlockDot(*program, in->model));
  for (const auto& [path, text] : files) {
    std::string why;
    if (!WriteFileAtomic(path, text, &why)) {
      diags.Report(DiagId::kOutputUnwritable, {}, {path, why});
      report(context);
      return kExitUsage;
    }
  }
  if (req.explain) out << RenderExplain(*program, in->model);
  if (diags.warnings() > 0) report(context);
  return kExitOk;
}

}  // namespace tpc
