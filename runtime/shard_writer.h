// Writes the rank files of a ShardPlan and their manifest: OUT/rank<r>.safetensors and
// OUT/manifest.json, all committed together or not at all.
#ifndef TPC_RUNTIME_SHARD_WRITER_H_
#define TPC_RUNTIME_SHARD_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/program.h"
#include "runtime/shard_plan.h"
#include "support/diagnostics.h"
#include "support/limits.h"

namespace tpc {

struct ShardOptions {
  std::string program_path;    ///< protected from being overwritten
  std::string program_sha256;  ///< of the program file, recorded in each rank file and the manifest
  std::string weights_dir;
  std::string out_dir;  ///< created when missing
  int jobs = 1;         ///< worker threads
  uint64_t window_bytes = limits::kShardWindowBytes;  ///< how much of the checkpoint each worker maps at a time
  bool progress = false;  ///< a one-line progress on stderr
};

/// What happened to one rank file.
struct RankResult {
  int rank = 0;
  std::string file;
  uint64_t bytes = 0;  ///< the whole file
  std::string sha256;
  bool skipped = false;  ///< already on disk with the manifest's checksum
  double seconds = 0;    ///< from the start of the copy until its last byte was written
};

struct ShardResult {
  std::vector<RankResult> ranks;
  uint64_t bytes_written = 0;  ///< over every rank file written
  double seconds = 0;          ///< the whole run, hashing and commit included
  double copy_seconds = 0;     ///< copying and hashing the rank files
  double commit_seconds = 0;   ///< fsync of every file, the renames and the directory sync
};

/// The safetensors header of a rank file, 8-byte length included, padded with spaces to a multiple
/// of 8 as the reference writer pads it; tensors in the plan's order after "__metadata__".
std::string RankHeader(const RankPlan& rank, const std::string& program_sha256);

/// Writes every rank of `plan` (skipping those whose file already matches OUT/manifest.json for the
/// same program), then the manifest, and commits them together. Runs are pwritten at their offsets
/// from mapped windows of the checkpoint by `jobs` threads, and each file is hashed from the same
/// bytes, never read back. On any failure it
/// reports a fatal diagnostic naming the file and leaves OUT as it was.
bool WriteShards(const Program& program, const ShardPlan& plan, const ShardOptions& opts, ShardResult* result,
                 Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_RUNTIME_SHARD_WRITER_H_
