// The copy engine of `tpc-run shard`: every run of a ShardPlan, pread from the checkpoint and
// pwritten into staged rank files by a pool of threads with bounded buffers.
#ifndef TPC_RUNTIME_SHARD_COPY_H_
#define TPC_RUNTIME_SHARD_COPY_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/shard_plan.h"
#include "support/atomic_file.h"

namespace tpc {

/// Where one rank's tensor data goes.
struct CopyTarget {
  const RankPlan* rank = nullptr;
  StagedOutput* out = nullptr;
  uint64_t data_start = 0;  ///< the rank file's header size: where its data section starts
  double* finished = nullptr;  ///< seconds from the start until its last byte was written
};

/// Why a copy stopped.
struct CopyError {
  std::string path;  ///< the file that failed
  std::string reason;
  bool read = false;  ///< a checkpoint read (else a write)
  uint64_t offset = 0, length = 0;
};

/// Copies every run of `targets` from `files` (open descriptors, in ShardPlan::files order) with
/// `jobs` threads. Each source window of at most `buffer_bytes` is read once and written to every
/// rank that holds part of it; the strided runs of one rank inside a window are gathered into one
/// write. `copied` counts bytes as they land. False with `error` set on the first failure.
bool CopyRuns(const std::vector<int>& files, const std::vector<std::string>& file_paths,
              const std::vector<CopyTarget>& targets, int jobs, uint64_t buffer_bytes,
              std::atomic<uint64_t>* copied, CopyError* error);

}  // namespace tpc

#endif  // TPC_RUNTIME_SHARD_COPY_H_
