#ifndef TPC_DRIVER_CHECK_COMMAND_H_
#define TPC_DRIVER_CHECK_COMMAND_H_

#include <ostream>
#include <string>

#include "driver/load_inputs.h"
#include "passes/analysis.h"

namespace tpc {

enum class OutputFormat { kText, kJson, kSarif };

/// Everything `tpc check` takes from the command line.
struct CheckRequest {
  std::string model_path;
  PlanRequest plan;       ///< --plan, --sp, --transformers; plan.tp mirrors options.tp
  bool dialect_given = false;
  std::string arch_dir;  ///< extra architecture templates, overriding the bundled ones
  CheckOptions options;
  OutputFormat format = OutputFormat::kText;
  bool color = false;
};

/// Loads model and plan, runs the checks and writes diagnostics to `out`; returns the exit code.
/// In text format, input that does not load is reported on `err` instead.
int RunCheckCommand(const CheckRequest& req, std::ostream& out, std::ostream& err);

}  // namespace tpc

#endif  // TPC_DRIVER_CHECK_COMMAND_H_
