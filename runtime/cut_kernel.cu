// Kept to the kernel and its launch: nvcc is slow, and everything else is plain C++.
#include "runtime/cut_kernel.h"

namespace tpc {
namespace {

// One row per block row of the grid; threads walk the row's words. T is the widest word that divides
// both pointers, both pitches and the width (16 bytes for bf16 rows of 8 or more elements).
template <typename T>
__global__ void Cut(T* dst, uint64_t dst_pitch, const T* src, uint64_t src_pitch, uint64_t width, uint64_t rows) {
  for (uint64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const T* from = src + r * src_pitch;
    T* to = dst + r * dst_pitch;
    for (uint64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < width; i += uint64_t{blockDim.x} * gridDim.x)
      to[i] = from[i];
  }
}

template <typename T>
cudaError_t Launch(void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint64_t width, uint64_t rows,
                   cudaStream_t stream) {
  uint64_t words = width / sizeof(T);
  constexpr unsigned kThreads = 256;
  dim3 grid(static_cast<unsigned>(std::min<uint64_t>((words + kThreads - 1) / kThreads, 64)),
            static_cast<unsigned>(std::min<uint64_t>(rows, 65535)));
  Cut<T><<<grid, kThreads, 0, stream>>>(static_cast<T*>(dst), dst_pitch / sizeof(T), static_cast<const T*>(src),
                                        src_pitch / sizeof(T), words, rows);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchCut(void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint64_t width,
                      uint64_t rows, cudaStream_t stream) {
  if (width == 0 || rows == 0) return cudaSuccess;
  uint64_t all = reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | dst_pitch | src_pitch | width;
  if (all % 16 == 0) return Launch<uint4>(dst, dst_pitch, src, src_pitch, width, rows, stream);
  if (all % 4 == 0) return Launch<uint32_t>(dst, dst_pitch, src, src_pitch, width, rows, stream);
  return Launch<uint8_t>(dst, dst_pitch, src, src_pitch, width, rows, stream);
}

}  // namespace tpc
