#ifndef TPC_IR_PLAN_H_
#define TPC_IR_PLAN_H_

#include <optional>
#include <string>
#include <vector>

#include "ir/placement.h"
#include "ir/styles.h"
#include "support/source_manager.h"

namespace tpc {

/// A layout written in a plan object: replicate, shard(N) or partial.
struct LayoutSpec {
  enum Kind { kReplicate, kShard, kPartial } kind = kReplicate;
  int dim = 0;
};

/// One `key: style` line of a plan, with where it was written.
struct PlanEntry {
  std::string key;            ///< as written
  bool base_relative = false; ///< from base_model_tp_plan: prefixed with the base model path
  std::string style;          ///< style name (the `style` field of an object style)
  bool is_object = false;     ///< written as {style: ..., input_layouts: ...}
  std::optional<std::vector<LayoutSpec>> input_layouts;
  std::optional<std::vector<LayoutSpec>> output_layouts;
  std::optional<bool> use_local_output;
  SourceLoc key_loc;
  SourceLoc style_loc;
};

/// How a plan file's `sequence_parallel` section changes the plan when SP is requested.
enum class SpMode {
  kNone,     ///< the file has no SP variant
  kUpdate,   ///< the seed's `plan.update(sp_plan)`: keys keep their place, new keys go last
  kReplace,  ///< the seed builds a separate full plan (NeMo's qwen)
  kIgnored,  ///< the seed silently ignores sequence_parallel for this plan
};

/// What a plan file says about itself (the bundled plans in plans/; schemas/plan.schema.json).
struct PlanMeta {
  std::string name;                        ///< nemo/llama, rl/qwen, hf/phi3, default
  std::string seed;                        ///< NeMo AutoModel, NeMo RL, transformers
  std::string origin;                      ///< the seed function or file it copies
  std::string summary;                     ///< one line for `tpc plans`
  std::optional<Dialect> dialect;          ///< the dialect the plan is written in
  std::vector<std::string> architectures;  ///< classes the seed registers it for
  std::vector<std::string> model_types;    ///< configs it is meant for
  std::string requires_model_type;         ///< the seed refuses other model types...
  std::string refusal;                     ///< ...with this message
  SpMode sp_mode = SpMode::kNone;
};

/// A tensor-parallel plan: entries in file order.
struct Plan {
  int file = -1;
  PlanMeta meta;
  std::vector<PlanEntry> entries;
  std::vector<PlanEntry> sp_entries;  ///< the file's sequence_parallel section
  /// class_tp_plan: a *ForCausalLM class's _tp_plan that its transformers release does not apply
  /// (5.7's post_init replaces it). tpc's checks ignore it; NeMo AutoModel reads it (plans/hf57).
  std::vector<PlanEntry> class_entries;
  bool sp_applied = false;            ///< entries already include the SP variant
};

}  // namespace tpc

#endif  // TPC_IR_PLAN_H_
