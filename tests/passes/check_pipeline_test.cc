#include <doctest/doctest.h>

#include <type_traits>

#include "test_util.h"

namespace tpc {
namespace {

using ResolvedChecker = bool (*)(const Resolved&, Diagnostics&);

TEST_SUITE("pipeline") {
  TEST_CASE("check and compile run the check passes in the one documented order") {
    CHECK(CheckPasses().Names() == std::vector<std::string>{"resolve-plan", "check-checkpoint", "check-styles",
                                                            "propagate-placements", "check-divisibility", "check-fused",
                                                            "check-tied", "check-seed-defects", "check-quantization"});
  }

  TEST_CASE("a checker that reads the layouts cannot run before propagate-placements") {
    // Only a checker of a Resolved fits between the producers; head_sharded is not in a Resolved.
    CHECK(std::is_convertible_v<decltype(&CheckStyles), ResolvedChecker>);
    CHECK(!std::is_convertible_v<decltype(&CheckDivisibility), ResolvedChecker>);
    CHECK(!std::is_base_of_v<Layouts, Resolved>);
  }
}

}  // namespace
}  // namespace tpc
