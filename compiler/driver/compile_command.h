#ifndef TPC_DRIVER_COMPILE_COMMAND_H_
#define TPC_DRIVER_COMPILE_COMMAND_H_

#include <ostream>
#include <string>

#include "frontend/select_plan.h"
#include "passes/lowering.h"

namespace tpc {

/// Everything `tpc compile` and `tpc explain` take from the command line.
struct CompileRequest {
  std::string model_path;
  PlanRequest plan;  ///< --plan, --transformers; tp and sequence_parallel mirror options
  bool dialect_given = false;
  std::string arch_dir;
  CompileOptions options;
  std::string output;  ///< program.json path; empty for explain
  std::string dot;     ///< optional Graphviz of one decoder block
  bool explain = false;
  bool color = false;
};

/// Compiles and writes the program (and the dot file) atomically; diagnostics go to `err`, the
/// explain table to `out`. Returns the exit code; on any error nothing is written.
int RunCompileCommand(const CompileRequest& req, std::ostream& out, std::ostream& err);

}  // namespace tpc

#endif  // TPC_DRIVER_COMPILE_COMMAND_H_
