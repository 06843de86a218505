#ifndef TPC_RUNTIME_VERIFY_VERIFY_COMMAND_H_
#define TPC_RUNTIME_VERIFY_VERIFY_COMMAND_H_

// `tpc verify`: compiles the plan as `tpc compile` does, runs the reference forward and the sharded
// forward on a deterministic token batch, and reports per layer and for the logits the largest
// relative error, and the first module where the two part.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "frontend/select_plan.h"

namespace tpc::verify {

struct VerifyRequest {
  std::string model_path;  ///< a checkpoint directory (config.json + safetensors)
  PlanRequest plan;        ///< --plan, --transformers; tp and sequence_parallel mirror the fields below
  std::string arch_dir;
  int tp = 1;
  bool sequence_parallel = false;
  bool kv_replication = false;
  int tokens = 16;            ///< per sequence; the batch holds 2
  std::string dtype = "fp32";  ///< fp32 or fp64
  double tolerance = 1e-4;     ///< relative: max |sharded - reference| / max |reference|
  bool json = false;
  bool color = false;
  bool random_weights = false;  ///< model_path is a config: deterministic weights are made for it
  bool shrink = false;          ///< scale the config down first (implies random_weights)
  uint64_t seed = 0;
  bool processes = false;          ///< ranks as processes over Gloo, not threads
  int timeout_seconds = 300;       ///< --processes: for the whole sharded forward and each collective
  std::vector<std::string> args;   ///< the flags as given: --processes starts its ranks with them
};

/// Runs it. Exit code: 0 within tolerance, 1 when not, 2 for unusable input (a model without a
/// checkpoint or without a reference forward, a plan the compiler refuses, a failed rank).
int RunVerifyCommand(const VerifyRequest& req, std::ostream& out, std::ostream& err);

/// One rank process of `--processes` (tpc-verify --worker DIR FLAGS...): compiles and loads as
/// RunVerifyCommand does, joins the Gloo group of torchrun's variables, runs its rank of the
/// sharded forward and writes its report (values, and where and why it stopped) into `dir`. Exit 0
/// when its forward finished, kRankStopped when it stopped (its report written, its error in `err`),
/// 2 with `err` saying why when it could not run or write.
int RunVerifyWorker(const VerifyRequest& req, const std::string& dir, std::ostream& err);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_VERIFY_COMMAND_H_
