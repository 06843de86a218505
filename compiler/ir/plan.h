#ifndef TPC_IR_PLAN_H_
#define TPC_IR_PLAN_H_

#include <optional>
#include <string>
#include <vector>

#include "ir/placement.h"
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

/// A tensor-parallel plan: entries in file order.
struct Plan {
  int file = -1;
  std::vector<PlanEntry> entries;
};

}  // namespace tpc

#endif  // TPC_IR_PLAN_H_
