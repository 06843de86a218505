// The compile pipeline: the check passes (CheckPasses(), the same as `tpc check`), then the lowering
// passes that turn a checked plan into a sharding program.
#include "passes/lowering.h"

#include "passes/translate_lora.h"

namespace tpc {
namespace {

// NeMo translates the plan to LoRA styles when it parallelizes (tp > 1) a torch model with adapters.
bool TranslatesToLora(const CompileOptions& opts) {
  return opts.lora && opts.check.dialect == Dialect::kTorch && opts.check.tp > 1;
}

}  // namespace

Lowering::Lowering(const Analysis& analysis, const CompileOptions& options)
    : a(analysis), opts(options), mods(analysis.model.modules()), order(a.flow.order), users(a.flow.users) {
  width.assign(mods.size(), 0);
  for (int m : order) {
    const Module& mod = mods[m];
    int64_t in = mod.inputs.empty() ? 0 : width[mod.inputs[0]];
    const std::vector<int64_t>* w = mod.params.empty() ? nullptr : &mod.params[0].shape;
    switch (mod.kind) {
      case ModuleKind::kLinear:
      case ModuleKind::kRouter: width[m] = w && !w->empty() ? w->front() : in; break;
      case ModuleKind::kEmbedding: width[m] = w && w->size() == 2 ? (*w)[1] : in; break;
      default: width[m] = in; break;
    }
  }
}

int Lowering::AttentionOf(int m) const {
  for (int depth = 0; m >= 0 && depth < 3; ++depth) {
    int next = -1;
    for (int u : users[m]) {
      if (mods[u].kind == ModuleKind::kAttention) return u;
      if (mods[u].kind == ModuleKind::kNorm) next = u;  // qwen3's k_norm sits between k_proj and attention
    }
    m = next;
  }
  return -1;
}

bool Lowering::HasLora(int m) const {
  const Module& mod = mods[m];
  if (!opts.lora || mod.kind != ModuleKind::kLinear || mod.role == Role::kLmHead || mod.params.empty()) return false;
  if (!TranslatesToLora(opts)) return true;
  // The plan went through translate_to_lora: a linear sharded by a style it left unconverted has
  // no placement for its adapters (reported as lora-unplaced).
  int e = a.EntryFor(m);
  const StyleInfo* s = e >= 0 ? a.EffectiveStyle(e) : nullptr;
  return !s || s->split == WeightSplit::kNone || s->lora_class;
}

bool Lowering::SequenceLocalUsers(int m) const {
  if (users[m].empty()) return false;
  for (int u : users[m]) {
    const Module& mod = mods[u];
    bool local = mod.kind == ModuleKind::kAdd || (mod.kind == ModuleKind::kNorm && !mod.per_head);
    if (!local) return false;
  }
  return true;
}

std::optional<Program> Compile(const ModelGraph& model, const Plan& plan, const CompileOptions& opts,
                               Diagnostics& diags) {
  std::optional<Plan> lora_plan;
  if (TranslatesToLora(opts)) lora_plan = TranslateToLora(plan, LoraSections::kPlanOnly, diags);
  std::optional<Analysis> a = RunChecks(model, lora_plan ? *lora_plan : plan, opts.check, diags, opts.keep_going);
  if (!a) return std::nullopt;
  if (!model.quant.method.empty() && (model.quant.method != "fp8" || model.quant.weight_block.size() != 2)) {
    // check-quantization warned (config only); a program would place the tensors as if unquantised.
    diags.Report(DiagId::kUnsupportedQuantization, model.quant.loc,
                 {model.quant.method, "a program for it would place the stored tensors as if they were not quantised"});
    return std::nullopt;
  }
  Program p;
  p.model_type = model.model_type;
  p.dtype = !opts.dtype.empty() ? opts.dtype : !model.dtype.empty() ? model.dtype : "bfloat16";
  p.tp = opts.check.tp;
  p.sequence_parallel = opts.sequence_parallel;
  p.lora = opts.lora;
  p.lora_rank = opts.lora ? opts.lora_rank : 0;
  p.kv_replication = opts.check.kv_replication;
  p.dialect = DialectName(opts.check.dialect);
  p.link = opts.link;
  Lowering l(*a, opts);
  int before = diags.errors();
  if (DtypeBytes(p.dtype) == 0) {
    diags.Report(DiagId::kUnknownDtype, {model.config_file, 0, 0, 0}, {p.dtype, DtypeNames()});
    return std::nullopt;
  }
  LowerParameters(l, p, diags);
  LowerStored(l, p, diags);
  InsertRedistributions(l, p, diags);
  if (diags.errors() != before && !opts.keep_going) return std::nullopt;
  EstimateCosts(p);
  return p;
}

}  // namespace tpc
