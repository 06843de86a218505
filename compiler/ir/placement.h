#ifndef TPC_IR_PLACEMENT_H_
#define TPC_IR_PLACEMENT_H_

#include <string>

namespace tpc {

/// How an activation is laid out over the tp ranks, along the dataflow.
enum class Layout {
  kReplicate,  ///< every rank holds the whole tensor
  kShardLast,  ///< the feature (last) dim is split: colwise outputs, head-sharded attention
  kShardSeq,   ///< the sequence dim is split (sequence parallel)
  kPartial,    ///< every rank holds a partial sum that still needs an all-reduce
};

/// One-letter layouts for the tables that list many of them (the style table, reshard rules):
/// Replicate, Shard(last), sequence shard (Q), Partial.
namespace layouts {
constexpr Layout R = Layout::kReplicate;
constexpr Layout S = Layout::kShardLast;
constexpr Layout Q = Layout::kShardSeq;
constexpr Layout P = Layout::kPartial;
}  // namespace layouts

/// An activation on one dataflow edge: its layout and whether it is a plain local tensor (a torch
/// style with use_local_output=True, or any hf-v5 style) or a DTensor that carries its layout.
struct Activation {
  Layout layout = Layout::kReplicate;
  bool local = true;
  int producer = -1;  ///< module id that produced it; -1 for the model input
};

/// How a parameter is placed over the tp ranks.
struct Placement {
  enum Kind { kReplicate, kShard } kind = kReplicate;
  int dim = 0;  ///< for kShard: the tensor dim that is split

  bool operator==(const Placement&) const = default;
};

/// "replicate", "shard(0)".
std::string ToString(Placement p);
/// "replicated", "sharded on the last dim", ...: for messages.
std::string Describe(Layout l);

}  // namespace tpc

#endif  // TPC_IR_PLACEMENT_H_
