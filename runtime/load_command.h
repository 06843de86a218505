// `tpc-run load`: one rank of a torchrun job loads its shards of a compiled program and reports.
#ifndef TPC_RUNTIME_LOAD_COMMAND_H_
#define TPC_RUNTIME_LOAD_COMMAND_H_

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "runtime/communicator.h"
#include "runtime/loader.h"

namespace tpc {

/// torchrun's variables for this process.
struct RankEnv {
  std::string master_addr;
  int master_port = 0;
  int rank = 0;
  int world_size = 0;
  int local_rank = 0;
};

/// Reads MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE and LOCAL_RANK through `get` (getenv); false
/// with `error` naming the first missing or malformed one.
bool ReadRankEnv(const std::function<const char*(const char*)>& get, RankEnv* env, std::string* error);

struct LoadRequest {
  std::string program;
  std::string weights;
  LoadOptions options;  ///< its program_path is set from `program`
  int timeout_seconds = 300;
  bool json = false;
  bool cuda = false;  ///< --device cuda: tensors end in GPU LOCAL_RANK's memory
};

/// Connects this rank to the others; null with `error` set when it cannot.
using ConnectFn =
    std::function<std::unique_ptr<Communicator>(const RankEnv&, std::chrono::milliseconds, std::string* error)>;

/// --device cuda's GPU (opened before the rendezvous, so that a missing one fails at once) and its NCCL
/// communicator (connected after it).
struct CudaHooks {
  std::function<std::unique_ptr<Device>(int local_rank, std::string* error)> open;
  std::function<std::unique_ptr<DeviceComm>(const RankEnv&, std::chrono::milliseconds, Device&, std::string* error)>
      connect;
};

/// Reads the program, checks the world size against its tp, connects with `connect`, loads, and has
/// rank 0 print every rank's bytes, seconds and GB/s to `out` (text or JSON). Diagnostics go to
/// `err`. Returns an ExitCode: 1 when verification finds wrong bytes, 2 for any other failure.
int RunLoadCommand(const LoadRequest& req, const RankEnv& env, const ConnectFn& connect, std::ostream& out,
                   std::ostream& err, const CudaHooks* cuda = nullptr);

}  // namespace tpc

#endif  // TPC_RUNTIME_LOAD_COMMAND_H_
