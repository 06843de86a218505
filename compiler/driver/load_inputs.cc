#include "driver/load_inputs.h"

#include <memory>

#include "frontend/bind_checkpoint.h"
#include "frontend/checkpoint_loader.h"
#include "frontend/model_loader.h"
#include "support/sha256.h"

namespace tpc {

std::optional<Inputs> LoadInputs(const std::string& model_path, const PlanRequest& plan_req, const std::string& arch_dir,
                                 Diagnostics& diags) {
  Inputs in;
  if (!in.registry.Load(arch_dir, diags)) return std::nullopt;
  std::optional<ModelGraph> model = LoadModel(model_path, in.registry, diags);
  if (!model || diags.has_fatal()) return std::nullopt;
  // A checkpoint directory with weights: its headers are read and bound to the model here; what
  // disagrees with config.json is reported by check-checkpoint.
  if (HasWeights(model_path)) {
    std::optional<Checkpoint> checkpoint = LoadCheckpoint(model_path, diags);
    if (!checkpoint || diags.has_fatal()) return std::nullopt;
    model->checkpoint = std::make_shared<const CheckpointBinding>(BindCheckpoint(*model, std::move(*checkpoint)));
  }
  std::optional<Plan> plan = SelectPlan(*model, plan_req, diags);
  if (!plan || diags.has_fatal()) return std::nullopt;
  in.model = std::move(*model);
  in.plan = std::move(*plan);
  return in;
}

std::vector<std::pair<std::string, std::string>> InputFiles(const SourceManager& sources, const ModelGraph* model,
                                                            const Plan& plan, const std::string& plan_arg) {
  std::vector<std::pair<std::string, std::string>> files;
  if (model && model->config_file >= 0) files.emplace_back(sources.path(model->config_file), "the model's config.json, read as input");
  // A bundled plan has a file name too, but its text is built in: only a path --plan names is read.
  if (plan.file >= 0 && !plan_arg.empty() && sources.path(plan.file) == plan_arg)
    files.emplace_back(plan_arg, "the plan file, read as input");
  return files;
}

ProgramInputs DescribeInputs(const InputText& config, const InputText& plan, bool bundled_plan,
                             const Checkpoint* checkpoint) {
  auto hashed = [](const InputText& in) {
    if (in.path.empty()) return InputFile{};
    return InputFile{in.path, Sha256Hex(in.text), static_cast<int64_t>(in.text.size())};
  };
  ProgramInputs out;
  out.tpc_version = TPC_VERSION;
  out.config = hashed(config);
  out.plan = hashed(plan);
  out.bundled_plan = bundled_plan && !plan.path.empty();
  if (checkpoint) {
    out.checkpoint_dir = checkpoint->dir;
    if (!checkpoint->index_path.empty())
      out.index = {checkpoint->index_path, checkpoint->index_sha256, checkpoint->index_bytes};
    for (const CheckpointFile& f : checkpoint->files) out.shards.push_back({f.path, f.header_sha256, f.bytes});
  }
  return out;
}

Dialect ChooseDialect(const Plan& plan, bool dialect_given, Dialect cli) {
  if (dialect_given) return cli;
  return plan.meta.dialect.value_or(cli);
}

int LoadFailureCode(const Diagnostics& diags) { return diags.has_fatal() || !diags.has_errors() ? kExitUsage : kExitErrors; }

std::string RunContext(const ModelGraph& model, int tp, Dialect dialect, const RuntimeRelease& transformers) {
  std::string context = model.model_type + ", " + std::to_string(model.num_layers) +
                        (model.num_layers == 1 ? " layer, tp " : " layers, tp ") + std::to_string(tp) + ", dialect " +
                        DialectName(dialect);
  // The release whose behaviour the hf dialects model (torch's rules are DTensor's own).
  if (dialect != Dialect::kTorch) context += ", transformers " + transformers.version;
  if (const CheckpointBinding* b = model.checkpoint.get()) {
    size_t files = b->checkpoint.files.size(), tensors = b->checkpoint.tensors.size();
    context += ", checkpoint of " + std::to_string(tensors) + (tensors == 1 ? " tensor in " : " tensors in ") +
               std::to_string(files) + (files == 1 ? " file" : " files");
  }
  return context;
}

}  // namespace tpc
