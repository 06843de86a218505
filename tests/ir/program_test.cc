// torch.chunk's row split, the one piece of arithmetic every pass that splits rows shares.
#include <doctest/doctest.h>

#include <cstdint>

#include "ir/program.h"

namespace tpc {
namespace {

bool Is(RowRange r, int64_t begin, int64_t end) { return r.begin == begin && r.end == end; }

TEST_SUITE("chunk range") {
  TEST_CASE("ceil-sized chunks: 10 rows over 4 ranks are 3, 3, 3, 1") {
    CHECK(Is(ChunkRange(10, 4, 0), 0, 3));
    CHECK(Is(ChunkRange(10, 4, 1), 3, 6));
    CHECK(Is(ChunkRange(10, 4, 2), 6, 9));
    CHECK(Is(ChunkRange(10, 4, 3), 9, 10));
    CHECK(ChunkRange(10, 4, 3).size() == 1);
  }

  TEST_CASE("fewer rows than ranks leaves the last ranks empty at the end") {
    CHECK(Is(ChunkRange(2, 4, 1), 1, 2));
    CHECK(Is(ChunkRange(2, 4, 2), 2, 2));
    CHECK(Is(ChunkRange(2, 4, 3), 2, 2));
    // 9 over 4: chunks of 3, so rank 3 gets nothing though rank 2 is full.
    CHECK(Is(ChunkRange(9, 4, 3), 9, 9));
  }

  TEST_CASE("a vocabulary that does not divide: 32001 over 8") {
    CHECK(Is(ChunkRange(32001, 8, 0), 0, 4001));
    CHECK(Is(ChunkRange(32001, 8, 7), 28007, 32001));
  }

  TEST_CASE("bad arguments give an empty range") {
    CHECK(ChunkRange(0, 4, 0).size() == 0);
    CHECK(ChunkRange(10, 0, 0).size() == 0);
    CHECK(ChunkRange(10, 4, -1).size() == 0);
  }

  TEST_CASE("rows and ranks near INT64_MAX do not overflow") {
    CHECK(Is(ChunkRange(INT64_MAX, 2, 1), INT64_MAX / 2 + 1, INT64_MAX));
    CHECK(Is(ChunkRange(10, 4, INT64_MAX), 10, 10));
  }

  TEST_CASE("ChunkOf is the same split, moved by the offset") {
    Slice s = ChunkOf(10, 4, 3, 100);
    CHECK(s.start == 109);
    CHECK(s.length == 1);
  }
}

}  // namespace
}  // namespace tpc
