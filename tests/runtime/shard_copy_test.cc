// CopyRuns and WriteShards on hand-written plans over a file written here: the rank files' bytes and
// SHA-256 against what the test cuts and hashes itself, with windows small enough to split tensors;
// and a checkpoint cut short after a window is mapped (a hook truncates it) is an error
// naming the file, never a SIGBUS, with nothing left in OUT.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/command_output.h"
#include "support/atomic_file.h"
#include "runtime/shard_copy.h"
#include "runtime/shard_writer.h"
#include "support/sha256.h"

namespace tpc {
namespace {

namespace fs = std::filesystem;

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/tpc-shard-copy-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~Dir() { fs::remove_all(path); }
};

constexpr uint64_t kHeader = 64;      // bytes before the first tensor in the source file
constexpr uint64_t kData = 3 * 8192;  // three 8 KiB tensors: rows, columns, replicated

std::string Source() {
  std::string s(kHeader + kData, '\0');
  uint32_t x = 7;
  for (char& c : s) c = static_cast<char>((x = x * 1103515245u + 12345u) >> 16);
  return s;
}

void Write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string Read(const std::string& path) {
  std::ostringstream s;
  s << std::ifstream(path, std::ios::binary).rdbuf();
  return s.str();
}

// Two ranks of three [64, 64] 2-byte tensors (rows 128 bytes): "rows" split along dim 0, "cols"
// along dim 1 (64 strided runs of 64 bytes), "whole" replicated. `reversed`: rank 0's rows tensor
// holds its two halves swapped, so its bytes do not come in source order.
ShardPlan Plan(bool reversed) {
  ShardPlan plan;
  plan.files = {"model.safetensors"};
  for (int r = 0; r < 2; ++r) {
    RankPlan rank;
    rank.rank = r;
    uint64_t at = 0;
    OutTensor rows{0, "rows", "BF16", {32, 64}, at, 4096, {}};
    uint64_t src = kHeader + r * 4096;
    if (reversed && r == 0)
      rows.runs = {{0, src + 2048, 2048, at}, {0, src, 2048, at + 2048}};
    else
      rows.runs = {{0, src, 4096, at}};
    at += 4096;
    OutTensor cols{1, "cols", "BF16", {64, 32}, at, 4096, {}};
    for (uint64_t i = 0; i < 64; ++i) cols.runs.push_back({0, kHeader + 8192 + i * 128 + r * 64, 64, at + i * 64});
    at += 4096;
    OutTensor whole{2, "whole", "BF16", {64, 64}, at, 8192, {{0, kHeader + 16384, 8192, at}}};
    at += 8192;
    rank.tensors = {rows, cols, whole};
    rank.data_bytes = at;
    plan.ranks.push_back(rank);
  }
  return plan;
}

// What rank `r`'s data section must hold, cut from `source` by the test.
std::string Expected(const std::string& source, int r, bool reversed) {
  std::string rows = source.substr(kHeader + r * 4096, 4096);
  if (reversed && r == 0) rows = rows.substr(2048) + rows.substr(0, 2048);
  std::string cols;
  for (int i = 0; i < 64; ++i) cols += source.substr(kHeader + 8192 + i * 128 + r * 64, 64);
  return rows + cols + source.substr(kHeader + 16384, 8192);
}

std::string g_truncate;  // the file the hook cuts to 0 bytes after the first window is mapped

void TruncateAfterMap(int, uint64_t, uint64_t) {
  if (!g_truncate.empty()) CHECK(truncate(g_truncate.c_str(), 0) == 0);
  g_truncate.clear();
}

struct Sharded {
  bool ok = false;
  std::string message;  // the diagnostics as tpc-run prints them
  std::vector<std::string> out_files;
};

Sharded Shard(const Dir& d, bool reversed, uint64_t window, int jobs, bool truncate_after_map) {
  fs::create_directories(d.path + "/ck");
  Write(d.path + "/ck/model.safetensors", Source());
  Write(d.path + "/program.json", "{}");
  Program program;
  program.tp = 2;
  ShardPlan plan = Plan(reversed);
  ShardOptions opts;
  opts.program_path = d.path + "/program.json";
  opts.program_sha256 = std::string(64, '0');
  opts.weights_dir = d.path + "/ck";
  opts.out_dir = d.path + "/out";
  opts.jobs = jobs;
  opts.window_bytes = window;
  if (truncate_after_map) g_truncate = d.path + "/ck/model.safetensors";
  SetWindowMappedHookForTesting(TruncateAfterMap);
  SourceManager sources;
  Diagnostics diags(sources);
  ShardResult result;
  Sharded s;
  s.ok = WriteShards(program, plan, opts, &result, diags);
  SetWindowMappedHookForTesting(nullptr);
  g_truncate.clear();
  std::ostringstream err;
  RenderRunDiagnostics(diags, err);
  s.message = err.str();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(opts.out_dir, ec)) s.out_files.push_back(e.path().filename());
  return s;
}

TEST_SUITE("shard copy") {
  // Without hashes the first read of the mapping is pwritev's, which fails with EFAULT.
  TEST_CASE("CopyRuns without hashes: a checkpoint cut short after its window is mapped is a read error") {
    for (int jobs : {1, 2}) {
      CAPTURE(jobs);
      Dir d;
      std::string path = d.path + "/model.safetensors";
      Write(path, Source());
      ShardPlan plan = Plan(false);
      OutputSet set;
      std::vector<CopyTarget> targets;
      for (const RankPlan& rank : plan.ranks) {
        OutputError err;
        StagedOutput* out = set.Stage(d.path + "/rank" + std::to_string(rank.rank), &err);
        REQUIRE(out);
        targets.push_back({&rank, out, "", nullptr, nullptr});
      }
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      g_truncate = path;
      SetWindowMappedHookForTesting(TruncateAfterMap);
      std::atomic<uint64_t> copied{0};
      CopyError error;
      bool ok = CopyRuns({fd}, {path}, targets, jobs, 64u << 20, &copied, &error);
      SetWindowMappedHookForTesting(nullptr);
      g_truncate.clear();
      close(fd);
      CHECK_FALSE(ok);
      CHECK(error.read);
      CHECK(error.path == path);
      CHECK(error.reason == "it ended at byte 0 while being read (was it truncated or rewritten during the run?)");
    }
  }

  TEST_CASE("rank files hold their slices and their SHA-256, for windows that split tensors") {
    for (bool reversed : {false, true})
      for (uint64_t window : {uint64_t{1000}, uint64_t{5000}, uint64_t{64} << 20})
        for (int jobs : {1, 2}) {
          CAPTURE(reversed);
          CAPTURE(window);
          CAPTURE(jobs);
          Dir d;
          Sharded s = Shard(d, reversed, window, jobs, false);
          REQUIRE_MESSAGE(s.ok, s.message);
          std::string manifest = Read(d.path + "/out/manifest.json");
          for (int r = 0; r < 2; ++r) {
            std::string file = Read(d.path + "/out/rank" + std::to_string(r) + ".safetensors");
            uint64_t n = 0;
            for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(file[i])) << (8 * i);
            REQUIRE(file.size() == 8 + n + 16384);
            CHECK(file.substr(8 + n) == Expected(Source(), r, reversed));
            CHECK(manifest.find(Sha256Hex(file)) != std::string::npos);
          }
        }
  }

  // The hashes come first and read the mapping themselves: the read raises SIGBUS.
  TEST_CASE("a checkpoint cut short after its window is mapped is an error naming it, and OUT stays empty") {
    for (bool reversed : {true, false})
      for (int jobs : {1, 2}) {
        CAPTURE(reversed);
        CAPTURE(jobs);
        Dir d;
        Sharded s = Shard(d, reversed, 64u << 20, jobs, true);
        CHECK_FALSE(s.ok);
        CHECK_MESSAGE(s.message.find("shard-read-failed") != std::string::npos, s.message);
        CHECK_MESSAGE(s.message.find(d.path + "/ck/model.safetensors' at offset ") != std::string::npos, s.message);
        CHECK_MESSAGE(s.message.find("it ended at byte 0 while being read (was it truncated or rewritten during the "
                                     "run?)") != std::string::npos,
                      s.message);
        CHECK(s.out_files.empty());
      }
  }
}

}  // namespace
}  // namespace tpc
