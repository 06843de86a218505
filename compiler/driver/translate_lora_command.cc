#include "driver/translate_lora_command.h"

#include "backend/emit_plan.h"
#include "backend/render_diagnostics.h"
#include "driver/load_inputs.h"
#include "passes/translate_lora.h"
#include "support/atomic_file.h"
#include "support/strings.h"

namespace tpc {
namespace {

using InputList = std::vector<std::pair<std::string, std::string>>;

// The plan to translate: the one --plan names, or, given a model, the one plan selection picks;
// `inputs` gets the files read for it, which the output must not replace.
std::optional<Plan> Source(const TranslateLoraRequest& req, Diagnostics& diags, InputList* inputs) {
  if (req.model_path.empty()) {
    std::optional<Plan> plan = LoadPlanArg(req.plan.plan, diags);
    if (plan) *inputs = InputFiles(diags.sources(), nullptr, *plan, req.plan.plan);
    return plan;
  }
  PlanRequest plan_req = req.plan;
  // The seed translates only when it parallelizes (tp > 1); above 1, selection does not depend on
  // tp. The SP section is translated as a section, so SP itself stays off.
  plan_req.tp = 2;
  plan_req.sequence_parallel = false;
  std::optional<Inputs> in = LoadInputs(req.model_path, plan_req, req.arch_dir, diags);
  if (!in) return std::nullopt;
  *inputs = InputFiles(diags.sources(), &in->model, in->plan, req.plan.plan);
  return std::move(in->plan);
}

// Every style must be one the torch runtime knows; an unknown one is an error, as in `check`.
bool KnownStyles(const Plan& plan, Diagnostics& diags) {
  bool ok = true;
  for (const std::vector<PlanEntry>* entries : {&plan.entries, &plan.sp_entries})
    for (const PlanEntry& e : *entries) {
      if (FindStyle(Dialect::kTorch, e.style)) continue;
      diags.Report(DiagId::kUnknownStyle, e.style_loc, {e.style, "torch", UnknownStyleHint(e.style, Dialect::kTorch, false)});
      ok = false;
    }
  return ok;
}

// The metadata of the LoRA plan; a plan translated already keeps its own.
void Relabel(PlanMeta& meta) {
  meta.dialect = Dialect::kTorch;
  const std::string prefix = "translate_to_lora over ", suffix = "; LoRA styles";
  if (!meta.name.empty() && !EndsWith(meta.name, "_lora")) meta.name += "_lora";
  if (!meta.origin.empty() && !StartsWith(meta.origin, prefix)) meta.origin = prefix + meta.origin;
  if (!meta.summary.empty() && !EndsWith(meta.summary, suffix)) meta.summary += suffix;
}

std::string Header(const Plan& lora, const std::string& from) {
  return "The LoRA variant of " + from + ", written by `tpc translate-lora`.\n"
         "NeMo AutoModel's translate_to_lora maps the exact classes ColwiseParallel, RowwiseParallel and\n"
         "SequenceParallel to ColwiseParallelLora, RowwiseParallelLora and SequenceParallelLora, which place\n"
         "lora_A/lora_B and keep requires_grad; subclass styles stay as they are (automodel.md §3).\n" +
         std::string(lora.sp_entries.empty() ? "" : "sp_plan is the sequence-parallel section, translated the same way.\n");
}

}  // namespace

int RunTranslateLoraCommand(const TranslateLoraRequest& req, std::ostream& out, std::ostream& err) {
  SourceManager sources;
  Diagnostics diags(sources);
  auto report = [&] {
    if (!diags.all().empty()) err << RenderText(diags, req.color) << Summary(diags, "translate-lora");
  };
  InputList inputs;
  std::optional<Plan> plan = Source(req, diags, &inputs);
  if (!plan || diags.has_fatal()) {
    report();
    return LoadFailureCode(diags);
  }
  std::string from = !plan->meta.name.empty() ? plan->meta.name : req.plan.plan;
  Dialect dialect = plan->meta.dialect.value_or(Dialect::kTorch);
  if (dialect != Dialect::kTorch) {
    diags.Report(DiagId::kLoraNeedsTorch, {plan->file, 0, 0, 0},
                 {from, DialectName(dialect)});
    report();
    return kExitUsage;
  }
  if (!KnownStyles(*plan, diags)) {
    report();
    return kExitErrors;
  }
  Plan lora = TranslateToLora(*plan, LoraSections::kWithSpPlan, diags);
  Relabel(lora.meta);
  std::string text = EmitPlanYaml(lora, Header(lora, from));
  if (req.output.empty()) {
    out << text;  // main reports a failed standard output
  } else {
    OutputSet outputs;
    for (auto& [path, what] : inputs) outputs.Protect(path, what);
    OutputError why;
    StagedOutput* staged = outputs.Stage(req.output, &why);
    if (!staged || !staged->Write(text, &why) || !outputs.Commit(&why)) {
      diags.Report(DiagId::kOutputUnwritable, {}, {why.path, why.reason});
      report();
      return kExitUsage;
    }
  }
  report();
  return kExitOk;
}

}  // namespace tpc
