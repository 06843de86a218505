// A window of a checkpoint file mapped read-only, and reads of it that survive the file being cut
// short under the mapping (SIGBUS) as an error instead of a crash.
#ifndef TPC_RUNTIME_MAPPED_WINDOW_H_
#define TPC_RUNTIME_MAPPED_WINDOW_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tpc {

class Sha256;

/// Bytes [lo, hi) of one file, mapped read-only with every page present, so that pwritev and the
/// hash read page-cache pages without a fault each; unmapped when it goes.
class MappedWindow {
 public:
  MappedWindow() = default;
  MappedWindow(const MappedWindow&) = delete;
  MappedWindow& operator=(const MappedWindow&) = delete;
  ~MappedWindow() { Unmap(); }

  bool Covers(int file, uint64_t lo, uint64_t hi) const { return base_ && file == file_ && lo >= lo_ && hi <= hi_; }
  const char* At(uint64_t offset) const { return base_ + (offset - start_); }
  uint64_t lo() const { return lo_; }
  uint64_t hi() const { return hi_; }

  /// False with `reason` set when the file cannot be mapped or ends before `hi`.
  bool Map(int file, int fd, uint64_t lo, uint64_t hi, std::string* reason);

  /// sha->Update of `n` mapped bytes at file offset `at`. False, with the file offset of the byte
  /// that could not be read in `fault`, when the file was cut short under the mapping: the SIGBUS
  /// that read raises is caught (a FaultScope must be alive).
  bool Hash(Sha256* sha, uint64_t at, size_t n, uint64_t* fault) const;

 private:
  void Unmap();

  char* base_ = nullptr;
  size_t length_ = 0;
  int file_ = -1;
  uint64_t start_ = 0, lo_ = 0, hi_ = 0;  // start_: lo_ rounded down to a page
};

/// While one is alive, a SIGBUS raised by a MappedWindow::Hash read inside its own window returns
/// to that call as an error; any other SIGBUS gets the previous disposition again and is raised
/// again. Nests and may be alive on several threads at once.
class FaultScope {
 public:
  FaultScope();
  ~FaultScope();
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;
};

/// "it ended at byte N while being read (was it truncated or rewritten during the run?)", N the
/// size of `fd` now (or `fallback` when it cannot be read).
std::string EndedWhileReading(int fd, uint64_t fallback);

/// The size of `fd` now, or UINT64_MAX when it cannot be read.
uint64_t FileSize(int fd);

}  // namespace tpc

#endif  // TPC_RUNTIME_MAPPED_WINDOW_H_
