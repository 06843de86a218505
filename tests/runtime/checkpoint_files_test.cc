// Reads of the checkpoint that fail: a file that cannot be opened, and one cut short after
// LoadShards has planned from its headers and before it reads the bytes (a test hook truncates it
// at the first read), where every rank ends with an error naming the file, the offset of the read
// and the byte the file now ends at, and holds no tensor.
#include <doctest/doctest.h>

#include <cerrno>

#include "runtime/checkpoint_files.h"
#include "runtime/load_fixture.h"

namespace tpc {
namespace {

using namespace load_fixture;  // NOLINT: the fixture is this file's vocabulary
namespace fs = std::filesystem;

void CheckHoldsNothing(const RankRun& run) {
  CHECK_FALSE(run.ok);
  CHECK(run.loaded.tensors.empty());
  CHECK(run.loaded.bytes == 0);
}

// Both sources read 'embed' (10 x 4 BF16, 8 bytes a row, the first tensor of the first file) first
// for rank 1: at tp 2 its rows 5-9, the 40 bytes 40 past the data start; at tp 4 (rows 3, 3, 2, 2)
// its rows 3-5, the 24 bytes 24 past it. The cut leaves half of them (the pread returns those,
// then 0 bytes) or none (0 bytes at once).
struct EmbedRead {
  int tp;
  uint64_t at, n;  // past the data start
};
constexpr EmbedRead kRank1Embed[] = {{2, 40, 40}, {4, 24, 24}};

TEST_SUITE("checkpoint files") {
  TEST_CASE("a file that cannot be opened fails its first read with the reason open gave") {
    TempDir tmp;
    CheckpointFiles files(tmp.path.string(), {"missing.safetensors"});
    errno = 0;  // what the calls between the open and the read leave there
    SourceManager sources;
    Diagnostics diags(sources);
    uint8_t b[4];
    CHECK_FALSE(files.Read(0, 8, b, 4, diags));
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].message == "cannot read 4 bytes of '" + (tmp.path / "missing.safetensors").string() +
                                        "' at offset 8: No such file or directory");
  }

  TEST_CASE("--source local: a checkpoint cut short while rank 1 reads it ends every rank with rank 1's error") {
    for (EmbedRead read : kRank1Embed)
      for (uint64_t kept : {read.n / 2, uint64_t{0}}) {
        CAPTURE(read.tp);
        CAPTURE(kept);
        TempDir tmp;
        Checkpoint c = MakeCheckpoint(tmp.path / "ck", read.tp);
        // Rank 1 reads its own copy, so that the cut reaches it alone.
        fs::copy(c.dir, tmp.path / "cut", fs::copy_options::recursive);
        fs::path cut = tmp.path / "cut" / "model-00001-of-00002.safetensors";
        uint64_t start = DataStart(cut);
        CutOnce hook(cut, start + read.at + kept);
        auto runs = LoadAll(c, {}, std::chrono::seconds(20), [&](int r) { return r == 1 ? tmp.path / "cut" : c.dir; });
        REQUIRE(hook.fired());
        CHECK(fs::file_size(cut) == start + read.at + kept);
        std::string error = ShortRead(cut, read.n, start + read.at, start + read.at + kept);
        for (int r = 0; r < read.tp; ++r) {
          CAPTURE(r);
          const RankRun& run = runs[static_cast<size_t>(r)];
          if (r == 1)
            CHECK(run.messages == "shard-read-failed: " + error + "\n");
          else
            CHECK(run.messages == "load-rank-failed: rank 1 failed: " + error + " [shard-read-failed]\n");
          CheckHoldsNothing(run);
        }
      }
  }

  TEST_CASE("--source root: a checkpoint cut short while rank 0 reads rank 1's bytes ends every rank with its error") {
    for (EmbedRead read : kRank1Embed)
      for (uint64_t kept : {read.n / 2, uint64_t{0}}) {
        CAPTURE(read.tp);
        CAPTURE(kept);
        TempDir tmp;
        Checkpoint c = MakeCheckpoint(tmp.path / "ck", read.tp);
        fs::path cut = c.dir / "model-00001-of-00002.safetensors";
        uint64_t start = DataStart(cut);
        CutOnce hook(cut, start + read.at + kept);
        auto runs =
            LoadAll(c, {LoadOptions::Source::kRoot, LoadOptions::Verify::kNone, "", ""}, std::chrono::seconds(20));
        REQUIRE(hook.fired());
        std::string error = ShortRead(cut, read.n, start + read.at, start + read.at + kept);
        CHECK(runs[0].messages == "shard-read-failed: " + error + "\n");
        // The others hear of it in the status message before their first batch; the agreement that
        // follows repeats it to no rank.
        for (int r = 1; r < read.tp; ++r) {
          CAPTURE(r);
          CHECK(runs[static_cast<size_t>(r)].messages == "load-rank-failed: rank 0 failed: " + error +
                                                             " [shard-read-failed]\n");
        }
        for (const RankRun& run : runs) CheckHoldsNothing(run);
      }
  }
}

}  // namespace
}  // namespace tpc
