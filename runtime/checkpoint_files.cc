#include "runtime/checkpoint_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "runtime/mapped_window.h"

namespace tpc {
namespace {

std::atomic<BeforeReadHook> g_before_read{nullptr};

}  // namespace

CheckpointFiles::CheckpointFiles(const std::string& dir, const std::vector<std::string>& rel) {
  for (const std::string& f : rel) {
    paths_.push_back(dir + "/" + f);
    fds_.push_back(::open(paths_.back().c_str(), O_RDONLY | O_CLOEXEC));
    open_errors_.push_back(fds_.back() < 0 ? errno : 0);  // errno itself is long gone by the first read
  }
}

CheckpointFiles::~CheckpointFiles() {
  for (int fd : fds_)
    if (fd >= 0) ::close(fd);
}

bool CheckpointFiles::Read(int f, uint64_t offset, uint8_t* to, uint64_t n, Diagnostics& diags) const {
  std::string reason = Pread(f, offset, to, n);
  return reason.empty() || Report(f, offset, n, reason, diags);
}

std::string CheckpointFiles::Pread(int f, uint64_t offset, uint8_t* to, uint64_t n) const {
  if (BeforeReadHook hook = g_before_read.load()) hook(paths_[static_cast<size_t>(f)], offset, n);
  int fd = fds_[static_cast<size_t>(f)];
  uint64_t done = 0;
  std::string reason = fd < 0 ? std::strerror(open_errors_[static_cast<size_t>(f)]) : "";
  while (fd >= 0 && done < n) {
    ssize_t got = ::pread(fd, to + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      // The plan was made from the headers, which said the bytes are there: a pread that ends early
      // means the file was cut short (or rewritten) since, and it says where it ends now.
      reason = got == 0 ? EndedWhileReading(fd, offset + done) : std::strerror(errno);
      break;
    }
    done += static_cast<uint64_t>(got);
  }
  return done == n ? "" : reason;
}

bool CheckpointFiles::Report(int f, uint64_t offset, uint64_t n, const std::string& reason, Diagnostics& diags) const {
  const std::string& path = paths_[static_cast<size_t>(f)];
  diags.Report(DiagId::kShardReadFailed, {diags.sources().AddPath(path), 0, 0, 0},
               {std::to_string(n), path, std::to_string(offset), reason});
  return false;
}

bool ReadTensor(const CheckpointFiles& files, const OutTensor& t, uint64_t window, uint8_t* into, Diagnostics& diags) {
  std::vector<uint8_t> buffer;
  uint64_t lo = 0, hi = 0;  // the file range `buffer` holds
  int file = -1;
  uint64_t span_end = 0;
  for (const CopyRun& run : t.runs) span_end = std::max(span_end, run.src + run.length);
  for (const CopyRun& run : t.runs) {
    uint8_t* to = into + (run.dst - t.offset);
    if (run.length >= window) {
      if (!files.Read(run.file, run.src, to, run.length, diags)) return false;
      continue;
    }
    if (run.file != file || run.src < lo || run.src + run.length > hi) {
      file = run.file;
      lo = run.src;
      hi = std::max(run.src + run.length, std::min(span_end, lo + window));
      buffer.resize(hi - lo);
      if (!files.Read(file, lo, buffer.data(), hi - lo, diags)) return false;
    }
    std::memcpy(to, buffer.data() + (run.src - lo), run.length);
  }
  return true;
}

bool ReadTensor(const CheckpointFiles& files, const OutTensor& t, uint64_t window, std::vector<uint8_t>* out,
                Diagnostics& diags) {
  out->assign(t.bytes, 0);
  return ReadTensor(files, t, window, out->data(), diags);
}

void SetBeforeReadHookForTesting(BeforeReadHook hook) { g_before_read.store(hook); }

}  // namespace tpc
