#ifndef TPC_SUPPORT_SHA256_H_
#define TPC_SUPPORT_SHA256_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tpc {

/// The SHA-256 of `bytes` as 64 lowercase hex digits (OpenSSL's EVP digest).
std::string Sha256Hex(std::string_view bytes);

/// Hashes the regular file `path` in fixed-size chunks, never holding it whole: its digest
/// (lowercase hex) in `hex` and its size in `bytes`. False with the reason in `error` when it
/// cannot be read or is not a regular file (a FIFO is refused before it is opened, so it never
/// blocks).
bool Sha256File(const std::string& path, std::string* hex, int64_t* bytes, std::string* error);

/// Incremental SHA-256: Update with pieces in order, then Hex once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view bytes);
  std::string Hex();

 private:
  void* ctx_;  // EVP_MD_CTX, kept out of the header so users need no OpenSSL include
};

}  // namespace tpc

#endif  // TPC_SUPPORT_SHA256_H_
