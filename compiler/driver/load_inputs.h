#ifndef TPC_DRIVER_LOAD_INPUTS_H_
#define TPC_DRIVER_LOAD_INPUTS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frontend/arch_template.h"
#include "frontend/select_plan.h"
#include "ir/checkpoint.h"
#include "ir/model_graph.h"
#include "ir/plan.h"
#include "ir/program.h"
#include "ir/styles.h"
#include "support/diagnostics.h"
#include "support/exit_code.h"

namespace tpc {

/// A model and a plan, loaded and parsed: what every command starts from.
struct Inputs {
  ArchRegistry registry;
  ModelGraph model;
  Plan plan;
};

/// Loads the architecture templates, the model and the plan; nullopt (with diagnostics) when any of
/// them is unusable, which every command answers with exit code 2.
/// The plan is chosen by SelectPlan (a file, a bundled plan, or the seed's automatic choice), and
/// `dialect` becomes the plan's own unless `dialect_given`.
std::optional<Inputs> LoadInputs(const std::string& model_path, const PlanRequest& plan, const std::string& arch_dir,
                                 Diagnostics& diags);

/// The files a command read from disk, each with what it is ("the plan file, read as input"): the
/// config.json `model` came from (when there is one) and the plan file --plan `plan_arg` named.
std::vector<std::pair<std::string, std::string>> InputFiles(const SourceManager& sources, const ModelGraph* model,
                                                            const Plan& plan, const std::string& plan_arg);

/// One input of a compile as it was read: its path (a bundled plan: its name) and its exact bytes.
struct InputText {
  std::string path;
  std::string_view text;
};

/// The inputs block of a program: tpc's version and each input's path, SHA-256 and size. `plan` has
/// an empty path when the seed chose the plan itself; a bundled plan is hashed from its embedded
/// text. `checkpoint` (optional) gives its index and each file's header hash as loaded.
ProgramInputs DescribeInputs(const InputText& config, const InputText& plan, bool bundled_plan,
                             const Checkpoint* checkpoint);

/// The dialect a command runs in: `cli` when given on the command line, else the plan's own, else
/// `cli` (the command line's default).
Dialect ChooseDialect(const Plan& plan, bool dialect_given, Dialect cli);

/// The exit code when LoadInputs fails: 2 for unusable input, 1 when the seed has no plan to give.
int LoadFailureCode(const Diagnostics& diags);

/// "llama, 126 layers, tp 8, dialect hf-v5, transformers 5.24.0": the context of a summary line (the
/// release only under the hf dialects; the newest known when not given).
std::string RunContext(const ModelGraph& model, int tp, Dialect dialect,
                       const RuntimeRelease& transformers = RuntimeRelease{});

}  // namespace tpc

#endif  // TPC_DRIVER_LOAD_INPUTS_H_
