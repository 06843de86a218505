#ifndef TPC_SUPPORT_ATOMIC_FILE_H_
#define TPC_SUPPORT_ATOMIC_FILE_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tpc {

/// Where an output could not be written, and why.
struct OutputError {
  std::string path;    ///< the path as the caller named it
  std::string reason;  ///< "No such file or directory", "it is a directory", ...
};

class OutputSet;

/// One output of an OutputSet: its bytes, written in pieces, reach its path only when the set commits.
class StagedOutput {
 public:
  /// Appends `data`; false with `error` set (and the whole set abandoned) when it cannot be written.
  bool Write(std::string_view data, OutputError* error);
  /// Writes `data` at byte `offset` of a regular-file output (pwrite). Safe from several threads at
  /// once on disjoint ranges; a failure returns false with `error` set and marks the output failed,
  /// so that Commit refuses the set (destroying it removes every temporary file). A device or FIFO
  /// output refuses positional writes.
  bool WriteAt(uint64_t offset, std::string_view data, OutputError* error);
  /// WriteAt of the `count` pieces of `iov`, one after another from `offset` (pwritev, at most
  /// IOV_MAX pieces a call): a strided slice lands without being gathered first.
  bool WriteAt(uint64_t offset, const iovec* iov, int count, OutputError* error);
  /// The temporary file holding the bytes written so far, readable until the set commits or is
  /// abandoned; "" for a device or FIFO.
  const std::string& staged_path() const { return temp_; }

 private:
  friend class OutputSet;
  OutputSet* set_ = nullptr;
  std::string path_;    // as the caller named it
  std::string target_;  // the file that changes: `path_` with every symlink followed
  bool through_ = false;  // a device or FIFO, written through at commit instead of renamed over
  std::string temp_;    // the temporary file beside `target_`, until it is renamed
  int fd_ = -1;
  mode_t mode_ = 0644;
  std::string pending_;  // a device's or FIFO's bytes, held until commit
  std::atomic<bool> failed_{false};  // a WriteAt failed: the set must not commit
  std::string failure_;              // its reason, set once by the thread that failed first
};

/// Every output of one command, staged and then committed together: on any failure before Commit
/// no target changes and no temporary file is left.
///
/// A new path or a regular file is written to a temporary file beside it (".tpc-XXXXXX", so a name
/// near NAME_MAX still works), synced and renamed over it at commit: a reader sees the old file or
/// the whole new one. A symlink keeps being a link; the file it points to is replaced. A character
/// device or a FIFO is opened at staging and written through at commit, never renamed over (a FIFO
/// needs a reader already). A directory, socket or block device is refused.
class OutputSet {
 public:
  OutputSet() = default;
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;
  ~OutputSet();

  /// Refuses any output that names the file at `path` (an input), saying "it is `what`".
  void Protect(std::string path, std::string what);
  /// Begins an output at `path`; nullptr with `error` set, and the whole set abandoned, when it
  /// cannot be written there or names a protected file or another output.
  StagedOutput* Stage(const std::string& path, OutputError* error);
  /// Writes every staged output to its path: devices first (their failure still changes no file),
  /// then the renames, then a sync of each directory. False with `error` set on the first failure.
  bool Commit(OutputError* error);

 private:
  friend class StagedOutput;
  bool Fail(const StagedOutput& out, const std::string& reason, OutputError* error);
  void Abandon();

  std::vector<std::pair<std::string, std::string>> protected_;  // path, what it is
  std::vector<std::unique_ptr<StagedOutput>> outputs_;
  bool done_ = false;  // committed or abandoned: nothing more is accepted
};

/// Whether `a` and `b` name one file: the same device and inode when both exist, else the same
/// lexically normal absolute path.
bool SameFile(const std::string& a, const std::string& b);

}  // namespace tpc

#endif  // TPC_SUPPORT_ATOMIC_FILE_H_
