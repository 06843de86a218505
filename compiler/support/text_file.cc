#include "support/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "support/limits.h"
#include "support/strings.h"

namespace tpc {
namespace {

// "a FIFO", "a directory", ... for what is not a regular file; nullptr for a regular file.
const char* NotRegular(mode_t mode) {
  if (S_ISREG(mode)) return nullptr;
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// `size` is 0 when the file grew past the limit while being read.
std::string TooBig(uint64_t size) {
  return "it is " + (size ? std::to_string(size) + " bytes, over" : std::string("over")) + " the limit of " +
         std::to_string(limits::kMaxInputBytes) + " bytes (" + HumanBytes(static_cast<double>(limits::kMaxInputBytes)) +
         ") for one input file";
}

}  // namespace

bool ReadTextFile(const std::string& path, std::string* text, Diagnostics& diags) {
  auto fail = [&](const std::string& why) {
    int f = diags.sources().AddPath(path);
    diags.Report(DiagId::kFileUnreadable, {f, 0, 0, 0}, {path, why});
    return false;
  };
  auto kind_of = [](const struct stat& st) { return std::string("it is ") + NotRegular(st.st_mode); };
  // Look before opening: open() on a FIFO blocks until a writer comes, and a character device such
  // as /dev/zero never ends.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fail(std::strerror(errno));
  if (NotRegular(st.st_mode)) return fail(kind_of(st));
  // O_NONBLOCK: should the path have become a FIFO since stat, open still returns at once.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (NotRegular(st.st_mode)) return fail(kind_of(st));
  if (static_cast<uint64_t>(st.st_size) > limits::kMaxInputBytes) return fail(TooBig(st.st_size));
  // Read at most one byte past the limit: a file that grows after fstat still cannot exhaust memory.
  text->clear();
  char buf[1 << 16];
  while (text->size() <= limits::kMaxInputBytes) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::strerror(errno));
    if (n == 0) return true;
    text->append(buf, static_cast<size_t>(n));
  }
  return fail(TooBig(0));
}

}  // namespace tpc
