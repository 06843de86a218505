#ifndef TPC_DRIVER_TRANSLATE_LORA_COMMAND_H_
#define TPC_DRIVER_TRANSLATE_LORA_COMMAND_H_

#include <ostream>
#include <string>

#include "frontend/select_plan.h"

namespace tpc {

/// Everything `tpc translate-lora` takes from the command line.
struct TranslateLoraRequest {
  std::string model_path;  ///< optional: with it, --plan auto picks the plan NeMo AutoModel would
  PlanRequest plan;        ///< --plan, --transformers
  std::string arch_dir;
  std::string output;      ///< -o: the LoRA plan file; empty writes it to `out`
  bool color = false;
};

/// Writes the LoRA variant of a torch-dialect plan (and of its sequence-parallel section) as YAML,
/// atomically to `req.output` or to `out`; notes on the styles left unconverted go to `err`.
/// Returns the exit code; on any error nothing is written.
int RunTranslateLoraCommand(const TranslateLoraRequest& req, std::ostream& out, std::ostream& err);

}  // namespace tpc

#endif  // TPC_DRIVER_TRANSLATE_LORA_COMMAND_H_
