#ifndef TPC_FRONTEND_RELEASES_H_
#define TPC_FRONTEND_RELEASES_H_

#include <optional>
#include <string>
#include <vector>

#include "ir/release.h"

namespace tpc {

/// Every transformers release of plans/transformers_releases.yaml (embedded), oldest first.
const std::vector<RuntimeRelease>& TransformersReleases();

/// The release `--transformers SPEC` means: "4" or "5" the newest of that major, "5.7" or "5.7.0"
/// the newest known release at or below it within its major. nullopt with `why` when SPEC is not
/// a version or no known release of its major is that old.
std::optional<RuntimeRelease> FindTransformersRelease(const std::string& spec, std::string* why);

/// The newest release tpc knows: what runs when --transformers is not given.
const RuntimeRelease& NewestTransformersRelease();

}  // namespace tpc

#endif  // TPC_FRONTEND_RELEASES_H_
