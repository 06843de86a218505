#include "support/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tpc {

bool WriteFileAtomic(const std::string& path, const std::string& content, std::string* error) {
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  if (fd < 0) {
    *error = std::strerror(errno);
    return false;
  }
  auto fail = [&](int err) {
    close(fd);
    unlink(name.data());
    *error = std::strerror(err);
    return false;
  };
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno);
    done += static_cast<size_t>(n);
  }
  // mkstemp creates 0600; a program file is an ordinary artifact, readable like any output.
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) return fail(errno);
  if (close(fd) != 0) {
    int err = errno;
    unlink(name.data());
    *error = std::strerror(err);
    return false;
  }
  if (std::rename(name.data(), path.c_str()) != 0) {
    int err = errno;
    unlink(name.data());
    *error = std::strerror(err);
    return false;
  }
  return true;
}

}  // namespace tpc
