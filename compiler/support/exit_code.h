#ifndef TPC_SUPPORT_EXIT_CODE_H_
#define TPC_SUPPORT_EXIT_CODE_H_

namespace tpc {

/// Exit codes of every tpc program (one enum, like ninja's exit_status.h): 1 when the input has
/// errors, 2 when it is unusable or the command line is wrong, 3 when tpc itself failed.
enum ExitCode { kExitOk = 0, kExitErrors = 1, kExitUsage = 2, kExitInternal = 3 };

}  // namespace tpc

#endif  // TPC_SUPPORT_EXIT_CODE_H_
