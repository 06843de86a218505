#ifndef TPC_PASSES_LOWERING_H_
#define TPC_PASSES_LOWERING_H_

#include <optional>
#include <string>
#include <vector>

#include "ir/program.h"
#include "passes/analysis.h"

namespace tpc {

/// What `tpc compile` is asked for, beyond what `tpc check` takes.
struct CompileOptions {
  CheckOptions check;
  bool sequence_parallel = false;  ///< NeMo's SP rewrite: residual stream Shard(1)
  bool lora = false;               ///< LoRA adapters on linears but lm_head (torch: translate_to_lora first)
  int lora_rank = 8;
  std::string dtype;  ///< overrides the config's torch_dtype; bfloat16 when neither says
  LinkModel link;
  /// tpc verify only: lower a plan the checks reject (their errors stay reported), so that its
  /// arithmetic shows where it goes wrong. No command writes such a program.
  bool keep_going = false;
};

/// The state the lowering passes share: the checked analysis plus the width of each activation.
struct Lowering {
  Lowering(const Analysis& analysis, const CompileOptions& options);

  const Analysis& a;
  const CompileOptions& opts;
  const std::vector<Module>& mods;
  const std::vector<int>& order;               ///< dataflow modules in forward order
  const std::vector<std::vector<int>>& users;  ///< per module: dataflow successors
  std::vector<int64_t> width;           ///< per module: elements per token of its output

  /// The attention module fed (directly or through a per-head norm) by module `m`, or -1.
  int AttentionOf(int m) const;
  /// True when `--lora` puts adapters on module `m`: every linear but lm_head, except (torch) one
  /// whose style translate_to_lora leaves unconverted.
  bool HasLora(int m) const;
  /// True when every consumer of `m` works on any sequence slice (residual adds, hidden-dim norms).
  bool SequenceLocalUsers(int m) const;
};

// The lowering passes, in the order Compile runs them. Each fills its part of the program.

/// lower-parameters: placement, local shape and per-rank source slices of every parameter (and of
/// the LoRA adapters), plus the local head counts of head-sharded attention.
bool LowerParameters(const Lowering& l, Program& p, Diagnostics& diags);
/// lower-stored: with a checkpoint, one entry per stored tensor (by stored name and file) in place
/// of the module-tree parameters, each placed as its part of the parameter; extras replicated.
bool LowerStored(const Lowering& l, Program& p, Diagnostics& diags);
/// insert-redistributions: walks the dataflow, gives every edge a layout and lowers each reshard to
/// a collective (or a local slice).
bool InsertRedistributions(const Lowering& l, Program& p, Diagnostics& diags);
/// cost-model: bytes per token with ring factors, α-β time, parameter bytes per rank.
void EstimateCosts(Program& p);

/// Runs the checks, then the lowering; nullopt when a check or a pass reported an error.
std::optional<Program> Compile(const ModelGraph& model, const Plan& plan, const CompileOptions& opts,
                               Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_PASSES_LOWERING_H_
