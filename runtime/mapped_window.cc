#include "runtime/mapped_window.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "support/sha256.h"

namespace tpc {
namespace {

// Where a thread reading a window returns to when the read faults. Plain data: the handler reads
// it through a thread_local pointer.
struct FaultJump {
  const char* lo;
  const char* hi;
  const char* volatile addr;  // the faulting address, set by the handler
  sigjmp_buf env;
};

thread_local FaultJump* t_jump = nullptr;  // set only while this thread reads a window

std::mutex g_mu;
int g_scopes = 0;             // FaultScopes alive
struct sigaction g_previous;  // SIGBUS's disposition before the first of them

void OnSigbus(int sig, siginfo_t* info, void* context) {
  FaultJump* j = t_jump;
  const char* addr = static_cast<const char*>(info->si_addr);
  if (j && info->si_code > 0 && addr >= j->lo && addr < j->hi) {
    t_jump = nullptr;
    j->addr = addr;
    siglongjmp(j->env, 1);
  }
  // Not a read of our window: what was there before. A fault raises again when the instruction is
  // retried on return; a signal sent by kill would be lost, so it is raised again here.
  sigaction(SIGBUS, &g_previous, nullptr);
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (info->si_code <= 0) raise(SIGBUS);
}

}  // namespace

FaultScope::FaultScope() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_scopes++ > 0) return;
  struct sigaction sa {};
  sa.sa_sigaction = OnSigbus;
  // SA_NODEFER: SIGBUS stays unblocked in the handler, so the jump need not restore the signal mask
  // (sigsetjmp without it makes no system call: it runs once per hashed piece).
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_previous);
}

FaultScope::~FaultScope() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (--g_scopes == 0) sigaction(SIGBUS, &g_previous, nullptr);
}

bool MappedWindow::Map(int file, int fd, uint64_t lo, uint64_t hi, std::string* reason) {
  Unmap();
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t start = lo / page * page;
  size_t length = static_cast<size_t>(hi - start);
  void* p = mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(start));
  if (p == MAP_FAILED) return *reason = std::strerror(errno), false;
  base_ = static_cast<char*>(p), length_ = length, file_ = file, start_ = start, lo_ = lo, hi_ = hi;
  madvise(p, length, MADV_SEQUENTIAL);  // readahead in big steps when the file is not cached
  // Faults every page in now, in one call; on a file that was cut short it fails (EFAULT)
  // instead of raising SIGBUS at the first read past its end. Kernels before 5.14 lack it (EINVAL).
  if (madvise(p, length, MADV_POPULATE_READ) != 0 && errno != EINVAL) {
    *reason = errno == EFAULT ? EndedWhileReading(fd, hi) : std::strerror(errno);
    Unmap();
    return false;
  }
  return true;
}

// Nothing with a destructor lives between sigsetjmp and the read, so the jump skips none; the
// digest's state is abandoned with the hash.
bool MappedWindow::Hash(Sha256* sha, uint64_t at, size_t n, uint64_t* fault) const {
  FaultJump jump;
  jump.lo = base_;
  jump.hi = base_ + length_;
  jump.addr = nullptr;
  if (sigsetjmp(jump.env, 0) != 0) {
    *fault = start_ + static_cast<uint64_t>(jump.addr - base_);
    return false;
  }
  t_jump = &jump;
  sha->Update(std::string_view(At(at), n));
  t_jump = nullptr;
  return true;
}

void MappedWindow::Unmap() {
  if (base_) munmap(base_, length_);
  base_ = nullptr;
}

uint64_t FileSize(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : UINT64_MAX;
}

std::string EndedWhileReading(int fd, uint64_t fallback) {
  uint64_t size = FileSize(fd);
  return "it ended at byte " + std::to_string(size == UINT64_MAX ? fallback : size) +
         " while being read (was it truncated or rewritten during the run?)";
}

}  // namespace tpc
