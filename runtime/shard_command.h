// `tpc-run shard`: a compiled program applied to the checkpoint it was compiled from, offline.
#ifndef TPC_RUNTIME_SHARD_COMMAND_H_
#define TPC_RUNTIME_SHARD_COMMAND_H_

#include <iosfwd>
#include <string>

namespace tpc {

struct ShardRequest {
  std::string program;
  std::string weights;
  std::string out;
  int first = 0;
  int last = -1;  ///< -1: the program's last rank
  int jobs = 0;   ///< 0: one per hardware thread
  bool json = false;
  bool progress = false;
};

/// Reads the program and the checkpoint's headers, plans every requested rank and writes them with
/// their manifest. Diagnostics go to `err` ("tpc-run: error: ... [code]"); the summary to `out`,
/// one line of text or a JSON object. Returns an ExitCode.
int RunShardCommand(const ShardRequest& req, std::ostream& out, std::ostream& err);

}  // namespace tpc

#endif  // TPC_RUNTIME_SHARD_COMMAND_H_
