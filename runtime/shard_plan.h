// What `tpc-run shard` copies: for each rank, its output tensors and the byte runs of the
// checkpoint that fill them, from a program.json (version 2, checkpoint names) and the headers of
// the checkpoint it was compiled from.
#ifndef TPC_RUNTIME_SHARD_PLAN_H_
#define TPC_RUNTIME_SHARD_PLAN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/program.h"
#include "support/diagnostics.h"
#include "support/safetensors_header.h"

namespace tpc {

/// One contiguous copy from a checkpoint file into a rank's tensor data.
struct CopyRun {
  int file = -1;      ///< index into ShardPlan::files
  uint64_t src = 0;   ///< byte offset in that file (its 8-byte length and header included)
  uint64_t length = 0;
  uint64_t dst = 0;   ///< byte offset in the rank file's data section (after its header)

  bool operator==(const CopyRun&) const = default;
};

/// One tensor of a rank file.
struct OutTensor {
  int entry = -1;  ///< index into Program::params
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;  ///< the local shape
  uint64_t offset = 0;         ///< where its data starts in the rank file's data section
  uint64_t bytes = 0;
  std::vector<CopyRun> runs;   ///< in destination order, tiling [offset, offset + bytes)
};

/// One rank's file: its tensors in the order of the program's entries, data packed without gaps.
struct RankPlan {
  int rank = 0;
  std::vector<OutTensor> tensors;
  uint64_t data_bytes = 0;
};

/// Every requested rank's plan and the checkpoint files they read.
struct ShardPlan {
  std::vector<std::string> files;  ///< checkpoint files, relative to the checkpoint directory
  std::vector<RankPlan> ranks;
};

/// The checkpoint's headers by file (relative to the checkpoint directory, as entries name them).
using CheckpointHeaders = std::map<std::string, SafetensorsHeader>;

/// Reads the header of every file the program names under `weights_dir` and checks each against the
/// header SHA-256 its inputs recorded. Every problem is a fatal diagnostic naming the file;
/// `program_path` names the program in them.
bool ReadCheckpointHeaders(const Program& program, const std::string& program_path, const std::string& weights_dir,
                           CheckpointHeaders* out, Diagnostics& diags);

/// Plans ranks [first, last] of `program` over `headers`: checks that the program names checkpoint
/// tensors, that the ranks lie inside its tp, and that every stored tensor it reads exists with its
/// dtype and global shape and every slice lies inside it; then computes the runs (box intersection:
/// one run per slice along dim 0, strided runs along a later dim, whole tensors for replicated and
/// owner-held entries). `program_path` only names the program in diagnostics.
bool PlanShards(const Program& program, const std::string& program_path, const CheckpointHeaders& headers,
                int first, int last, ShardPlan* out, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_RUNTIME_SHARD_PLAN_H_
