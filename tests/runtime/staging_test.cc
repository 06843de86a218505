// PlanStaging: which checkpoint bytes go to which pinned buffer and which cuts carve a rank's columns,
// against schedules worked out by hand.
#include <doctest/doctest.h>

#include "runtime/staging.h"

namespace tpc {
namespace {

OutTensor Tensor(uint64_t offset, uint64_t bytes, std::vector<CopyRun> runs) {
  OutTensor t;
  t.offset = offset;
  t.bytes = bytes;
  t.runs = std::move(runs);
  return t;
}

TEST_SUITE("staging") {
  TEST_CASE("a contiguous run longer than the window is read in window-sized pieces into alternating buffers") {
    OutTensor t = Tensor(500, 100, {{0, 1000, 100, 500}});
    CHECK(PlanStaging(t, 40, 0) == std::vector<StageWindow>{{0, 1000, 40, 0, 0, {}},
                                                            {0, 1040, 40, 1, 40, {}},
                                                            {0, 1080, 20, 0, 80, {}}});
    CHECK(PlanStaging(t, 40, 1)[0].buffer == 1);
    CHECK(PlanStaging(t, 40, 1)[1].buffer == 0);
  }

  TEST_CASE("strided runs go with their enclosing rows, as many rows as fit a window, and are cut on the device") {
    // 4 rows of 24 bytes from file offset 100; this rank holds bytes 6..12 of each row.
    std::vector<CopyRun> runs;
    for (uint64_t r = 0; r < 4; ++r) runs.push_back({1, 106 + r * 24, 6, 30 + r * 6});
    OutTensor t = Tensor(30, 24, runs);
    // A window of 60 holds (60 - 6) / 24 + 1 = 3 rows: 54 bytes from the first run's start.
    CHECK(PlanStaging(t, 60, 0) ==
          std::vector<StageWindow>{{1, 106, 54, 0, 0, {{0, 24, 0, 6, 6, 3}}}, {1, 178, 6, 1, 18, {{0, 24, 18, 6, 6, 1}}}});
  }

  TEST_CASE("fused slices, two runs per row, are one window with one cut per slice") {
    // Row r: 4 bytes at 200 + 40r and 2 bytes at 220 + 40r, packed into 6 bytes of the tensor.
    std::vector<CopyRun> runs;
    for (uint64_t r = 0; r < 3; ++r) {
      runs.push_back({0, 200 + r * 40, 4, r * 6});
      runs.push_back({0, 220 + r * 40, 2, r * 6 + 4});
    }
    OutTensor t = Tensor(0, 18, runs);
    CHECK(PlanStaging(t, 1000, 0) ==
          std::vector<StageWindow>{{0, 200, 102, 0, 0, {{0, 40, 0, 6, 4, 3}, {20, 40, 4, 6, 2, 3}}}});
  }

  TEST_CASE("long strided runs, and rows wider than the window, are read run by run") {
    std::vector<CopyRun> long_runs = {{0, 8, 70000, 0}, {0, 140008, 70000, 70000}};
    CHECK(PlanStaging(Tensor(0, 140000, long_runs), 1 << 20, 0) ==
          std::vector<StageWindow>{{0, 8, 70000, 0, 0, {}}, {0, 140008, 70000, 1, 70000, {}}});
    std::vector<CopyRun> rows = {{0, 106, 6, 0}, {0, 130, 6, 6}};
    CHECK(PlanStaging(Tensor(0, 12, rows), 5, 0) == std::vector<StageWindow>{{0, 106, 5, 0, 0, {}},
                                                                             {0, 111, 1, 1, 5, {}},
                                                                             {0, 130, 5, 0, 6, {}},
                                                                             {0, 135, 1, 1, 11, {}}});
  }

  TEST_CASE("runs that do not repeat with one pitch are not cut") {
    // Rows along dim 0 of a fused q/k: two runs of different lengths, once each.
    std::vector<CopyRun> runs = {{0, 100, 8, 0}, {0, 300, 4, 8}};
    CHECK(PlanStaging(Tensor(0, 12, runs), 1000, 0) ==
          std::vector<StageWindow>{{0, 100, 8, 0, 0, {}}, {0, 300, 4, 1, 8, {}}});
  }
}

}  // namespace
}  // namespace tpc
