#include "support/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "support/limits.h"

namespace tpc {
namespace {

namespace fs = std::filesystem;

std::string Errno(int err) { return std::strerror(err); }

// Writes all of `data`, retrying short and interrupted writes; 0 or the errno.
int WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// WriteAll for a FIFO whose reader may leave: EPIPE, reported like any error, instead of a silent
// death by SIGPIPE.
int WriteThrough(int fd, std::string_view data) {
  sigset_t pipe_signal, old;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
  int err = WriteAll(fd, data);
  timespec now{0, 0};
  if (err == EPIPE) sigtimedwait(&pipe_signal, nullptr, &now);  // the one this write raised
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return err;
}

std::string DirOf(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// What a file of mode `m` is when an output cannot be one; nullptr for the kinds it can be.
const char* RefusedKind(mode_t m) {
  if (S_ISREG(m) || S_ISCHR(m) || S_ISFIFO(m)) return nullptr;
  if (S_ISDIR(m)) return "a directory";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISBLK(m)) return "a block device";
  return "neither a regular file, a character device nor a FIFO";
}

// The file that writing `path` changes: `path` with each symlink in its last component followed
// (the directories above may be links; rename goes through them), and its lstat.
struct Resolved {
  std::string path;
  bool exists = false;
  struct stat st {};
};

bool Resolve(const std::string& path, Resolved* r, std::string* reason) {
  r->path = path;
  for (int hops = 0;; ++hops) {
    if (lstat(r->path.c_str(), &r->st) != 0) {
      if (errno != ENOENT) return *reason = Errno(errno), false;
      r->exists = false;  // a new file, or a dangling link's target; a missing directory fails later
      return true;
    }
    r->exists = true;
    if (!S_ISLNK(r->st.st_mode)) return true;
    if (hops == limits::kMaxSymlinkHops) return *reason = Errno(ELOOP), false;
    std::error_code ec;
    fs::path link = fs::read_symlink(r->path, ec);
    if (ec) return *reason = ec.message(), false;
    r->path = link.is_absolute() ? link.string() : (fs::path(r->path).parent_path() / link).string();
  }
}

}  // namespace

bool StagedOutput::Write(std::string_view data, OutputError* error) {
  if (set_->done_) return set_->Fail(*this, "its output set was already committed or abandoned", error);
  if (through_) {  // a device or FIFO: held until commit, so a failed sibling stops it
    pending_.append(data);
    return true;
  }
  if (int err = WriteAll(fd_, data)) return set_->Fail(*this, Errno(err), error);
  return true;
}

bool StagedOutput::WriteAt(uint64_t offset, std::string_view data, OutputError* error) {
  iovec one{const_cast<char*>(data.data()), data.size()};
  return WriteAt(offset, &one, 1, error);
}

bool StagedOutput::WriteAt(uint64_t offset, const iovec* iov, int count, OutputError* error) {
  // Never abandons the set itself: another thread may be writing through the same descriptor.
  auto fail = [&](const std::string& reason) {
    *error = {path_, reason};
    bool expected = false;
    if (failed_.compare_exchange_strong(expected, true)) failure_ = reason;
    return false;
  };
  if (set_->done_) return fail("its output set was already committed or abandoned");
  if (through_) return fail("it is not a regular file, so it cannot be written at an offset");
  std::vector<iovec> left(iov, iov + count);  // what a short write leaves, advanced in place
  size_t first = 0;
  while (first < left.size()) {
    if (left[first].iov_len == 0) {
      ++first;
      continue;
    }
    int n_iov = static_cast<int>(std::min<size_t>(left.size() - first, IOV_MAX));
    ssize_t n = pwritev(fd_, left.data() + first, n_iov, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(Errno(errno));
    if (n == 0) return fail(Errno(EIO));
    offset += static_cast<uint64_t>(n);
    for (size_t done = static_cast<size_t>(n); done > 0;) {
      size_t take = std::min(done, left[first].iov_len);
      left[first].iov_base = static_cast<char*>(left[first].iov_base) + take;
      left[first].iov_len -= take;
      done -= take;
      if (left[first].iov_len == 0) ++first;
    }
  }
  return true;
}

OutputSet::~OutputSet() { Abandon(); }

void OutputSet::Protect(std::string path, std::string what) { protected_.emplace_back(std::move(path), std::move(what)); }

StagedOutput* OutputSet::Stage(const std::string& path, OutputError* error) {
  outputs_.push_back(std::make_unique<StagedOutput>());
  StagedOutput& out = *outputs_.back();
  out.set_ = this;
  out.path_ = path;
  if (done_) return Fail(out, "its output set was already committed or abandoned", error), nullptr;
  Resolved r;
  std::string reason;
  if (!Resolve(path, &r, &reason)) return Fail(out, reason, error), nullptr;
  out.target_ = r.path;
  std::string it = r.path == path ? "it is " : "it links to '" + r.path + "', which is ";
  if (const char* kind = r.exists ? RefusedKind(r.st.st_mode) : nullptr) return Fail(out, it + kind, error), nullptr;
  for (const auto& [input, what] : protected_)
    if (SameFile(r.path, input)) return Fail(out, it + what, error), nullptr;
  for (const auto& other : outputs_)
    if (other.get() != &out && SameFile(r.path, other->target_))
      return Fail(out, it + "'" + other->path_ + "', another output of this command", error), nullptr;

  if (r.exists && (S_ISCHR(r.st.st_mode) || S_ISFIFO(r.st.st_mode))) {
    // Written through, never renamed over: replacing /dev/null would break it for everyone. A FIFO
    // is opened non-blocking so that one without a reader fails now instead of hanging.
    bool fifo = S_ISFIFO(r.st.st_mode);
    out.through_ = true;
    out.fd_ = open(r.path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC | (fifo ? O_NONBLOCK : 0));
    if (out.fd_ < 0) return Fail(out, fifo && errno == ENXIO ? "no process is reading the FIFO" : Errno(errno), error), nullptr;
    int flags = fcntl(out.fd_, F_GETFL);
    if (fifo && (flags < 0 || fcntl(out.fd_, F_SETFL, flags & ~O_NONBLOCK) != 0)) return Fail(out, Errno(errno), error), nullptr;
    return &out;
  }
  // A short name of its own, not `path` plus a suffix, which would pass NAME_MAX for a long name.
  std::string name = DirOf(r.path) + "/.tpc-XXXXXX";
  out.fd_ = mkostemp(name.data(), O_CLOEXEC);
  if (out.fd_ < 0) return Fail(out, Errno(errno), error), nullptr;
  out.temp_ = name;
  if (r.exists) out.mode_ = r.st.st_mode & 0777;  // a rewritten file keeps its permissions
  return &out;
}

bool OutputSet::Commit(OutputError* error) {
  if (done_) {
    *error = {"", "the output set was already committed or abandoned"};
    return false;
  }
  for (auto& out : outputs_)  // a failed positional write leaves its file incomplete
    if (out->failed_) return Fail(*out, out->failure_, error);
  for (auto& out : outputs_) {  // every temporary file complete and on disk
    if (out->through_) continue;
    // mkstemp creates 0600; a new output is an ordinary artifact, readable like any other.
    if (fchmod(out->fd_, out->mode_) != 0 || fsync(out->fd_) != 0) return Fail(*out, Errno(errno), error);
    if (close(std::exchange(out->fd_, -1)) != 0) return Fail(*out, Errno(errno), error);
  }
  for (auto& out : outputs_) {  // devices and FIFOs: a write error here (ENOSPC) still changes no file
    if (!out->through_) continue;
    if (int err = WriteThrough(out->fd_, out->pending_)) return Fail(*out, Errno(err), error);
    if (close(std::exchange(out->fd_, -1)) != 0) return Fail(*out, Errno(errno), error);
    std::string().swap(out->pending_);
  }
  std::vector<std::string> dirs;
  for (auto& out : outputs_) {
    if (out->through_) continue;
    if (std::rename(out->temp_.c_str(), out->target_.c_str()) != 0) return Fail(*out, Errno(errno), error);
    out->temp_.clear();
    dirs.push_back(DirOf(out->target_));
  }
  done_ = true;
  // The renames are done; syncing their directories makes them durable, and a filesystem that
  // cannot sync a directory does not undo them, so this is best effort.
  for (const std::string& dir : dirs) {
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;
    fsync(fd);
    close(fd);
  }
  return true;
}

bool OutputSet::Fail(const StagedOutput& out, const std::string& reason, OutputError* error) {
  *error = {out.path_, reason};
  Abandon();
  return false;
}

void OutputSet::Abandon() {
  for (auto& out : outputs_) {
    if (out->fd_ >= 0) close(std::exchange(out->fd_, -1));
    if (!out->temp_.empty()) unlink(out->temp_.c_str());
    out->temp_.clear();
    std::string().swap(out->pending_);
  }
  done_ = true;
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  bool a_exists = stat(a.c_str(), &sa) == 0, b_exists = stat(b.c_str(), &sb) == 0;
  if (a_exists && b_exists) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  if (a_exists || b_exists) return false;
  std::error_code ea, eb;
  fs::path pa = fs::absolute(a, ea), pb = fs::absolute(b, eb);
  if (ea || eb) return fs::path(a).lexically_normal() == fs::path(b).lexically_normal();
  return pa.lexically_normal() == pb.lexically_normal();
}

}  // namespace tpc
