#ifndef TPC_SUPPORT_ATOMIC_FILE_H_
#define TPC_SUPPORT_ATOMIC_FILE_H_

#include <string>

namespace tpc {

/// Writes `content` to `path` through a temporary file in the same directory and a rename, so a
/// reader (or an interrupted run) sees the old file or the whole new one, never a half. On failure
/// returns false, sets `error` to the reason, and leaves `path` untouched.
bool WriteFileAtomic(const std::string& path, const std::string& content, std::string* error);

}  // namespace tpc

#endif  // TPC_SUPPORT_ATOMIC_FILE_H_
