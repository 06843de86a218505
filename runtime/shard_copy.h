// The copy engine of `tpc-run shard`: every run of a ShardPlan, pwritten into staged rank files
// straight from windows of the mapped checkpoint by a pool of threads, and each rank file's SHA-256.
#ifndef TPC_RUNTIME_SHARD_COPY_H_
#define TPC_RUNTIME_SHARD_COPY_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/shard_plan.h"
#include "support/atomic_file.h"

namespace tpc {

/// Where one rank's tensor data goes.
struct CopyTarget {
  const RankPlan* rank = nullptr;
  StagedOutput* out = nullptr;
  std::string_view header;  ///< the rank file's header, already written; its size is where the data starts
  double* finished = nullptr;  ///< seconds from the start until its last byte was written
  std::string* sha256 = nullptr;  ///< the whole file's SHA-256 (header, then data in file order)
};

/// Why a copy stopped.
struct CopyError {
  std::string path;  ///< the file that failed
  std::string reason;
  bool read = false;  ///< a checkpoint read (else a write)
  uint64_t offset = 0, length = 0;
};

/// Called by the thread that mapped a window of `file` (an index into CopyRuns' files), right after.
using WindowMappedHook = void (*)(int file, uint64_t lo, uint64_t hi);

/// Tests only: a hook that can cut the checkpoint short under a mapped window; nullptr removes it.
void SetWindowMappedHookForTesting(WindowMappedHook hook);

/// Copies every run of `targets` from `files` (open descriptors, in ShardPlan::files order) with
/// `jobs` threads, and hashes each target. Each source window of at most `window_bytes` is mapped
/// once and written to every rank that holds part of it, the pieces that follow each other in a
/// rank file in one pwritev (no copy in user space); a rank file is hashed from the same mapped
/// source bytes in file order, so nothing is read back (one task per rank file, beside the writes:
/// no thread waits for another). A thread maps one window at a time, so the mapped
/// memory stays under `jobs` x `window_bytes`. `copied` counts bytes as they land. False with
/// `error` set on the first failure; a checkpoint cut short during the copy (SIGBUS on a mapped
/// read, EFAULT from pwritev) is a read error naming the file and the byte it now ends at.
bool CopyRuns(const std::vector<int>& files, const std::vector<std::string>& file_paths,
              const std::vector<CopyTarget>& targets, int jobs, uint64_t window_bytes,
              std::atomic<uint64_t>* copied, CopyError* error);

}  // namespace tpc

#endif  // TPC_RUNTIME_SHARD_COPY_H_
