#include "runtime/cuda_device.h"

#include "runtime/cuda_check.h"
#include "runtime/cut_kernel.h"

namespace tpc {

bool CallFailed(const char* file, int line, const char* call, const std::string& text, std::string* error) {
  std::string f(file), c(call);
  *error = f.substr(f.rfind('/') + 1) + ":" + std::to_string(line) + ": " + c.substr(0, c.find('(')) + ": " + text;
  return false;
}

std::string NcclText(ncclResult_t r) {
  std::string text = ncclGetErrorString(r);
  const char* last = ncclGetLastError(nullptr);
  if (last && *last) text += " (" + std::string(last) + ")";
  return text;
}

std::unique_ptr<CudaDevice> CudaDevice::Open(int index, std::string* error) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    *error = std::string("no CUDA device is visible (cudaGetDeviceCount: ") +
             (status != cudaSuccess ? cudaGetErrorString(status) : "0 devices") + ")";
    return nullptr;
  }
  if (index >= count) {
    *error = "LOCAL_RANK is " + std::to_string(index) + ", but " + std::to_string(count) +
             " CUDA devices are visible; start at most that many ranks per host or set CUDA_VISIBLE_DEVICES";
    return nullptr;
  }
  std::unique_ptr<CudaDevice> d(new CudaDevice);
  d->index_ = index;
  if (!d->Init(error)) return nullptr;
  return d;
}

bool CudaDevice::Init(std::string* error) {
  TPC_CUDA_CHECK(cudaSetDevice(index_));
  TPC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  for (cudaEvent_t& e : events_) TPC_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return true;
}

CudaDevice::~CudaDevice() {
  if (stream_) cudaStreamSynchronize(stream_);
  for (cudaEvent_t e : events_)
    if (e) cudaEventDestroy(e);
  if (stream_) cudaStreamDestroy(stream_);
}

bool CudaDevice::Alloc(uint64_t bytes, void** p, std::string* error) {
  TPC_CUDA_CHECK(cudaMalloc(p, bytes));
  return true;
}

void CudaDevice::Free(void* p) { cudaFree(p); }

bool CudaDevice::AllocPinned(uint64_t bytes, void** p, std::string* error) {
  TPC_CUDA_CHECK(cudaHostAlloc(p, bytes, cudaHostAllocDefault));
  return true;
}

void CudaDevice::FreePinned(void* p) { cudaFreeHost(p); }

bool CudaDevice::CopyIn(void* dst, const void* src, uint64_t bytes, std::string* error) {
  TPC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  return true;
}

bool CudaDevice::CopyWithin(void* dst, const void* src, uint64_t bytes, std::string* error) {
  TPC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  return true;
}

bool CudaDevice::Cut(void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint64_t width, uint64_t rows,
                     std::string* error) {
  TPC_CUDA_CHECK(LaunchCut(dst, dst_pitch, src, src_pitch, width, rows, stream_));
  return true;
}

bool CudaDevice::Record(int slot, std::string* error) {
  TPC_CUDA_CHECK(cudaEventRecord(events_[slot], stream_));
  return true;
}

bool CudaDevice::Wait(int slot, std::string* error) {
  TPC_CUDA_CHECK(cudaEventSynchronize(events_[slot]));
  return true;
}

bool CudaDevice::CopyOut(void* dst, const void* src, uint64_t bytes, std::string* error) {
  TPC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  TPC_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return true;
}

bool CudaDevice::Synchronize(std::string* error) {
  TPC_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return true;
}

}  // namespace tpc

// The module's entry points (cuda_plugin.cc): the caller owns the result.
extern "C" __attribute__((visibility("default"))) tpc::Device* tpc_open_cuda_device(int index, std::string* error) {
  return tpc::CudaDevice::Open(index, error).release();
}
