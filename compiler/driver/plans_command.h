#ifndef TPC_DRIVER_PLANS_COMMAND_H_
#define TPC_DRIVER_PLANS_COMMAND_H_

#include <ostream>

namespace tpc {

/// `tpc plans`: lists the bundled plans, as aligned text or (markdown) as the table in
/// plans/README.md. Returns the exit code.
int RunPlansCommand(bool markdown, std::ostream& out);

}  // namespace tpc

#endif  // TPC_DRIVER_PLANS_COMMAND_H_
