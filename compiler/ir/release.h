#ifndef TPC_IR_RELEASE_H_
#define TPC_IR_RELEASE_H_

#include <string>

namespace tpc {

/// What a transformers release does with a plan, as far as tpc's checks depend on it: one row of
/// plans/transformers_releases.yaml (read by frontend/releases.h). The defaults are the newest
/// release tpc knows, which the release table's test pins.
struct RuntimeRelease {
  std::string version = "5.24.0";
  int major = 5;
  std::string plans = "hf";          ///< the bundled plan folder of this release
  bool uneven_splits = true;         ///< uneven shards run (torch.chunk sizes, padded collectives)
  std::string uneven_reason;         ///< why they fail when they do not run
  bool embedding_offset_own_rows = false;  ///< vocab offset = rank x own rows (5.7): wrong last rank
  /// adds embed_tokens: embedding_rowwise (#47503); plans/hf carries it already (make_hf_plans.py)
  bool injects_embedding_rowwise = true;
  /// Across the table: the oldest release where uneven splits run and the releases where they
  /// fail ("" when none); the same for the vocab offset. What the release-dependent note says.
  std::string uneven_runs_from, uneven_fails_in;
  std::string offset_right_from, offset_wrong_in;
};

}  // namespace tpc

#endif  // TPC_IR_RELEASE_H_
