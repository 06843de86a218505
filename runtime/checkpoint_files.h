// How `tpc-run load` reads the checkpoint: the files of a ShardPlan open for pread, exact byte
// ranges of them, and a tensor's runs read through windows of its source span. A file that is cut
// short or rewritten while it is read is an error naming the file, the offset and where it now ends.
#ifndef TPC_RUNTIME_CHECKPOINT_FILES_H_
#define TPC_RUNTIME_CHECKPOINT_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/shard_plan.h"
#include "support/diagnostics.h"

namespace tpc {

/// The checkpoint files of a plan, open read-only; closed when it goes.
class CheckpointFiles {
 public:
  /// Opens `dir`/f for each f of `rel` (ShardPlan::files); a file that cannot be opened fails at
  /// its first read, with the reason open gave.
  CheckpointFiles(const std::string& dir, const std::vector<std::string>& rel);
  ~CheckpointFiles();
  CheckpointFiles(const CheckpointFiles&) = delete;
  CheckpointFiles& operator=(const CheckpointFiles&) = delete;

  /// Exactly `n` bytes at `offset` of file `f` (an index into `rel`) into `to`; false with a
  /// shard-read-failed diagnostic otherwise.
  bool Read(int f, uint64_t offset, uint8_t* to, uint64_t n, Diagnostics& diags) const;

  /// Read without the diagnostic, safe from several threads: "" or why the bytes are not there.
  std::string Pread(int f, uint64_t offset, uint8_t* to, uint64_t n) const;

  /// The diagnostic of a failed Pread, as Read reports it; returns false.
  bool Report(int f, uint64_t offset, uint64_t n, const std::string& reason, Diagnostics& diags) const;

 private:
  std::vector<std::string> paths_;
  std::vector<int> fds_;
  std::vector<int> open_errors_;  // errno of a failed open, else 0
};

/// Fills `into` (t.bytes bytes) with `t`'s runs: those shorter than `window` come out of reads of
/// at most `window` bytes of its source span (strided runs of one window from one read), longer
/// ones are read alone. False with a diagnostic on the first failed read.
bool ReadTensor(const CheckpointFiles& files, const OutTensor& t, uint64_t window, uint8_t* into, Diagnostics& diags);

/// The same into `out`, resized to t.bytes.
bool ReadTensor(const CheckpointFiles& files, const OutTensor& t, uint64_t window, std::vector<uint8_t>* out,
                Diagnostics& diags);

/// Called with a file's path before each ranged read (Read, Pread) of `n` bytes at `offset`.
using BeforeReadHook = void (*)(const std::string& path, uint64_t offset, uint64_t n);

/// Tests only: a hook that can cut a checkpoint short after the load is planned and before its
/// bytes are read; nullptr removes it.
void SetBeforeReadHookForTesting(BeforeReadHook hook);

}  // namespace tpc

#endif  // TPC_RUNTIME_CHECKPOINT_FILES_H_
