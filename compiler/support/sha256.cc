// SHA-256 through OpenSSL's EVP interface (libcrypto), never a hand-written digest.
#include "support/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

namespace tpc {
namespace {

EVP_MD_CTX* Ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

// Chunk read at a time by Sha256File: large enough to amortise syscalls, small enough for the stack
// of any caller (it lives on the heap anyway).
constexpr size_t kChunkBytes = size_t{1} << 20;

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(Ctx(ctx_), EVP_sha256(), nullptr) != 1) throw std::bad_alloc();
}

Sha256::~Sha256() { EVP_MD_CTX_free(Ctx(ctx_)); }

void Sha256::Update(std::string_view bytes) {
  if (!bytes.empty() && EVP_DigestUpdate(Ctx(ctx_), bytes.data(), bytes.size()) != 1)
    throw std::bad_alloc();
}

std::string Sha256::Hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(Ctx(ctx_), digest, &n) != 1) throw std::bad_alloc();
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += {kDigits[digest[i] >> 4], kDigits[digest[i] & 15]};
  return hex;
}

std::string Sha256Hex(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Hex();
}

bool Sha256File(const std::string& path, std::string* hex, int64_t* bytes, std::string* error) {
  struct stat st;
  // Look before opening: open() on a FIFO blocks until a writer comes.
  if (::stat(path.c_str(), &st) != 0) return *error = std::strerror(errno), false;
  if (!S_ISREG(st.st_mode)) return *error = "it is not a regular file", false;
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return *error = std::strerror(errno), false;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return *error = std::strerror(errno), false;
  if (!S_ISREG(st.st_mode)) return *error = "it is not a regular file", false;
  Sha256 h;
  std::vector<char> buf(kChunkBytes);
  int64_t total = 0;
  for (;;) {
    ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return *error = std::strerror(errno), false;
    if (got == 0) break;
    h.Update(std::string_view(buf.data(), static_cast<size_t>(got)));
    total += got;
  }
  *hex = h.Hex();
  *bytes = total;
  return true;
}

}  // namespace tpc
