// Opening tpc-run's modules (libtpc_gloo.so, libtpc_nccl.so) on first use, so that nothing loads
// LibTorch, CUDA or NCCL before a command needs them.
#ifndef TPC_RUNTIME_PLUGIN_H_
#define TPC_RUNTIME_PLUGIN_H_

#include <string>

namespace tpc {

/// The address of `symbol` in module `name` (beside the running executable first, then wherever the
/// dynamic loader finds it), opened once and kept for the life of the process; null with `error`
/// ("cannot open libtpc_nccl.so (the NCCL communicator): ...") when either is missing.
void* FindInModule(const char* name, const char* what, const char* symbol, std::string* error);

}  // namespace tpc

#endif  // TPC_RUNTIME_PLUGIN_H_
