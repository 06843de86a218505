// OpenCudaDevice and ConnectNccl without CUDA, NCCL or LibTorch in the process until --device cuda
// needs them: their code is in the module libtpc_nccl.so.
#include "runtime/device.h"
#include "runtime/plugin.h"

namespace tpc {
namespace {

constexpr const char* kModule = "libtpc_nccl.so";
constexpr const char* kWhat = "CUDA and the NCCL communicator";

}  // namespace

std::unique_ptr<Device> OpenCudaDevice(int local_rank, std::string* error) {
  using Entry = Device* (*)(int, std::string*);
  auto entry = reinterpret_cast<Entry>(FindInModule(kModule, kWhat, "tpc_open_cuda_device", error));
  if (!entry) return nullptr;
  return std::unique_ptr<Device>(entry(local_rank, error));
}

std::unique_ptr<DeviceComm> ConnectNccl(const NcclConfig& config, Device& device, std::string* error) {
  using Entry = DeviceComm* (*)(const NcclConfig*, Device*, std::string*);
  auto entry = reinterpret_cast<Entry>(FindInModule(kModule, kWhat, "tpc_connect_nccl", error));
  if (!entry) return nullptr;
  return std::unique_ptr<DeviceComm>(entry(&config, &device, error));
}

}  // namespace tpc
