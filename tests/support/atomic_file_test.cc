// StagedOutput's positional writes: pieces land where they are asked to, past IOV_MAX too.
#include "support/atomic_file.h"

#include <doctest/doctest.h>
#include <sys/uio.h>

#include <climits>
#include <string>
#include <vector>

#include "test_util.h"

namespace tpc {
namespace {

using test::ReadFile;
using test::TempDir;

TEST_SUITE("atomic_file") {
  TEST_CASE("a vectored positional write puts its pieces one after another from the offset") {
    TempDir dir;
    OutputSet set;
    OutputError err;
    StagedOutput* out = set.Stage(dir / "f", &err);
    REQUIRE(out);
    REQUIRE(out->WriteAt(0, "head", &err));
    // 3000 one-letter pieces, more than one pwritev takes (IOV_MAX is 1024 on Linux).
    std::string letters = "abcdefghijklmnopqrstuvwxyz";
    std::vector<iovec> pieces;
    std::string want = "head";
    for (int i = 0; i < 3000; ++i) {
      pieces.push_back({&letters[static_cast<size_t>(i % 26)], 1});
      want += letters[static_cast<size_t>(i % 26)];
    }
    static_assert(3000 > IOV_MAX);
    REQUIRE(out->WriteAt(4, pieces.data(), static_cast<int>(pieces.size()), &err));
    iovec empty_then_tail[] = {{nullptr, 0}, {const_cast<char*>("tail"), 4}};
    REQUIRE(out->WriteAt(3004, empty_then_tail, 2, &err));
    REQUIRE(set.Commit(&err));
    CHECK(ReadFile(dir / "f") == want + "tail");
  }
}

}  // namespace
}  // namespace tpc
