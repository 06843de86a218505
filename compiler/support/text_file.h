#ifndef TPC_SUPPORT_TEXT_FILE_H_
#define TPC_SUPPORT_TEXT_FILE_H_

#include <string>

#include "support/diagnostics.h"

namespace tpc {

/// Reads a whole regular file of at most limits::kMaxInputBytes; on failure reports file-unreadable
/// with the system's reason (or what the path is instead: a FIFO, a directory, ...).
bool ReadTextFile(const std::string& path, std::string* text, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_SUPPORT_TEXT_FILE_H_
