#ifndef TPC_RUNTIME_COMMAND_OUTPUT_H_
#define TPC_RUNTIME_COMMAND_OUTPUT_H_

#include <cstdint>
#include <ostream>

#include "support/diagnostics.h"

namespace tpc {

/// tpc-run's diagnostics, one line each: "path:line:col: error: message [code]", or
/// "tpc-run: error: ..." when it points at no line of a file.
void RenderRunDiagnostics(const Diagnostics& diags, std::ostream& err);

/// Bytes over seconds in GB/s (10^9 bytes), 0 for no time.
double GigabytesPerSecond(uint64_t bytes, double seconds);

}  // namespace tpc

#endif  // TPC_RUNTIME_COMMAND_OUTPUT_H_
