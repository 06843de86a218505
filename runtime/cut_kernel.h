// The cut kernel of `tpc-run load --device cuda` (cut_kernel.cu): the rank's columns of strided runs,
// cut from their enclosing rows in device memory. Only module code includes this.
#ifndef TPC_RUNTIME_CUT_KERNEL_H_
#define TPC_RUNTIME_CUT_KERNEL_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace tpc {

/// Queues on `stream`: `rows` rows of `width` bytes from `src` (rows `src_pitch` apart) to `dst` (rows
/// `dst_pitch` apart). Returns the launch's status.
cudaError_t LaunchCut(void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint64_t width,
                      uint64_t rows, cudaStream_t stream);

}  // namespace tpc

#endif  // TPC_RUNTIME_CUT_KERNEL_H_
