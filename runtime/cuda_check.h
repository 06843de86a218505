// Checked CUDA and NCCL calls for the module libtpc_nccl.so: a failure returns false from the calling
// function with `error` set to "file:line: call: the library's text". Only module code includes this.
#ifndef TPC_RUNTIME_CUDA_CHECK_H_
#define TPC_RUNTIME_CUDA_CHECK_H_

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

namespace tpc {

/// Sets `error` to "cuda_device.cc:42: cudaMalloc: out of memory" and returns false.
bool CallFailed(const char* file, int line, const char* call, const std::string& text, std::string* error);

/// NCCL's text for `r`, with its last error message when it has one.
std::string NcclText(ncclResult_t r);

}  // namespace tpc

#define TPC_CUDA_CHECK(call)                                                                    \
  do {                                                                                          \
    cudaError_t tpc_cuda_status_ = (call);                                                      \
    if (tpc_cuda_status_ != cudaSuccess)                                                        \
      return ::tpc::CallFailed(__FILE__, __LINE__, #call, cudaGetErrorString(tpc_cuda_status_), error); \
  } while (0)

// ncclInProgress is success for a non-blocking communicator: the work completes later.
#define TPC_NCCL_CHECK(call)                                                                     \
  do {                                                                                           \
    ncclResult_t tpc_nccl_status_ = (call);                                                      \
    if (tpc_nccl_status_ != ncclSuccess && tpc_nccl_status_ != ncclInProgress)                   \
      return ::tpc::CallFailed(__FILE__, __LINE__, #call, ::tpc::NcclText(tpc_nccl_status_), error); \
  } while (0)

#endif  // TPC_RUNTIME_CUDA_CHECK_H_
