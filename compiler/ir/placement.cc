#include "ir/placement.h"

namespace tpc {

std::string ToString(Placement p) {
  return p.kind == Placement::kReplicate ? "replicate" : "shard(" + std::to_string(p.dim) + ")";
}

std::string Describe(Layout l) {
  switch (l) {
    case Layout::kReplicate: return "a replicated tensor";
    case Layout::kShardLast: return "a tensor sharded on the last dim";
    case Layout::kShardSeq: return "a sequence-sharded tensor";
    case Layout::kPartial: return "partial sums";
  }
  return "?";
}

}  // namespace tpc
