#ifndef TPC_PASSES_LAYOUT_RULES_H_
#define TPC_PASSES_LAYOUT_RULES_H_

#include <string>
#include <vector>

#include "ir/placement.h"
#include "passes/analysis.h"

namespace tpc {

/// Where the layouts a module receives break its rule; propagate-placements reports each one.
struct Conflict {
  enum Kind {
    kMismatch,   ///< `got` is not `want`, the layout the module needs there
    kUnreduced,  ///< `got` is a partial sum the module cannot take
    kAttention,  ///< the attention operand `got` is laid out unlike the first one, `first`
    kReduce,     ///< the reducing style of `block` all-reduces `got`, which is no partial sum
  };
  Kind kind;
  Activation got;   ///< the offending activation: an input, or the module's own output
  Layout want = Layout::kReplicate;
  std::string detail;  ///< kMismatch: why it matters; kUnreduced: what consumes the partial sum
  Activation first;    ///< kAttention: the first operand
  int block = -1;      ///< kReduce: the module whose style reduces
};

/// One module's rule applied to the layouts it receives. The runtime half is what the maths does
/// (insert-redistributions lowers every difference to a collective); the declared half is what the
/// plan's styles say (propagate-placements checks it and reports the conflicts).
struct LayoutStep {
  std::vector<Layout> need;  ///< per input: the layout the module computes in
  Layout raw = Layout::kReplicate;  ///< what its maths produces from `need`
  Layout out = Layout::kReplicate;  ///< what it hands on: `raw`, or the layout its style declares
  Activation declared;  ///< what the plan says it hands on; after a conflict, what checking continues with
  bool head_sharded = false;  ///< attention on 1/tp of the heads
  std::vector<Conflict> conflicts;

  /// Whether its output is a partial sum that still needs a reduction.
  bool partial() const { return raw == Layout::kPartial; }
};

/// Applies the rule of module `m`'s kind to `in`, the activations of its dataflow inputs in order
/// (their `producer` says where each comes from).
LayoutStep ApplyRule(const Resolved& a, int m, const std::vector<Activation>& in);

/// The innermost block whose reducing style (gather, moe_tp_experts) applies to `m`'s output
/// because that output leaves the block, or -1.
int ReducingBlockLeft(const Resolved& a, int m);

/// The rule of `block`'s reducing style for `got`: true when `got` is a partial sum, which is
/// all-reduced once; anything else is left alone at runtime and recorded as a conflict (when
/// `conflicts` is not null).
bool ReducesOnce(int block, const Activation& got, std::vector<Conflict>* conflicts);

}  // namespace tpc

#endif  // TPC_PASSES_LAYOUT_RULES_H_
