// The Gloo communicator: c10d's ProcessGroupGloo over a TCPStore rendezvous, as torchrun sets it up.
// Declared without LibTorch headers; defined in the module libtpc_gloo.so (gloo_communicator.cc),
// built only when CMake finds LibTorch (TPC_WITH_TORCH) and opened on the first ConnectGloo.
#ifndef TPC_RUNTIME_GLOO_COMMUNICATOR_H_
#define TPC_RUNTIME_GLOO_COMMUNICATOR_H_

#include <chrono>
#include <memory>
#include <string>

#include "runtime/communicator.h"

namespace tpc {

/// Where and who this rank is (torchrun's MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE).
struct GlooConfig {
  std::string master_addr;
  int master_port = 0;
  int rank = 0;
  int world_size = 1;
  std::chrono::milliseconds timeout{300000};  ///< for the rendezvous and for every operation
};

/// Connects this rank: rank 0 hosts the TCPStore, every rank checks in and waits for the others
/// (naming the ranks that do not arrive within the timeout), then the Gloo group connects. Null with
/// `error` set on failure, or when libtpc_gloo.so (beside the executable, else on the library path)
/// cannot be opened.
std::unique_ptr<Communicator> ConnectGloo(const GlooConfig& config, std::string* error);

}  // namespace tpc

#endif  // TPC_RUNTIME_GLOO_COMMUNICATOR_H_
