// The CUDA Device of libtpc_nccl.so: one GPU, one non-blocking stream and two events (one per pinned
// staging buffer). nccl_communicator.cc runs NCCL on the same stream, so copies and transfers keep
// their order.
#ifndef TPC_RUNTIME_CUDA_DEVICE_H_
#define TPC_RUNTIME_CUDA_DEVICE_H_

#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "runtime/device.h"

namespace tpc {

class CudaDevice : public Device {
 public:
  /// GPU `index` made current, or null with `error` ("no CUDA device is visible (cudaGetDeviceCount:
  /// ...)", "LOCAL_RANK is 3, but 2 CUDA devices are visible").
  static std::unique_ptr<CudaDevice> Open(int index, std::string* error);
  ~CudaDevice() override;

  int index() const { return index_; }
  cudaStream_t stream() const { return stream_; }

  bool Alloc(uint64_t bytes, void** p, std::string* error) override;
  void Free(void* p) override;
  bool AllocPinned(uint64_t bytes, void** p, std::string* error) override;
  void FreePinned(void* p) override;
  bool CopyIn(void* dst, const void* src, uint64_t bytes, std::string* error) override;
  bool CopyWithin(void* dst, const void* src, uint64_t bytes, std::string* error) override;
  bool Cut(void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint64_t width, uint64_t rows,
           std::string* error) override;
  bool Record(int slot, std::string* error) override;
  bool Wait(int slot, std::string* error) override;
  bool CopyOut(void* dst, const void* src, uint64_t bytes, std::string* error) override;
  bool Synchronize(std::string* error) override;

 private:
  bool Init(std::string* error);

  int index_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t events_[2] = {nullptr, nullptr};
};

}  // namespace tpc

#endif  // TPC_RUNTIME_CUDA_DEVICE_H_
