// What `tpc-run load --device cuda` needs of a GPU and of NCCL, declared without CUDA headers. The
// CUDA implementation lives in the module libtpc_nccl.so (cuda_device.cc, nccl_communicator.cc),
// opened by cuda_plugin.cc on first use; tests implement Device in host memory.
#ifndef TPC_RUNTIME_DEVICE_H_
#define TPC_RUNTIME_DEVICE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tpc {

/// One GPU and one stream on it. Queued calls run in order on the stream; every call returns false
/// with `error` ("file:line: cudaMemcpyAsync: out of memory") when the runtime reports a failure.
class Device {
 public:
  virtual ~Device() = default;
  virtual bool Alloc(uint64_t bytes, void** p, std::string* error) = 0;
  virtual void Free(void* p) = 0;
  /// Page-locked host memory (cudaHostAlloc), what host-to-device copies run at full speed from.
  virtual bool AllocPinned(uint64_t bytes, void** p, std::string* error) = 0;
  virtual void FreePinned(void* p) = 0;
  /// Queues a copy of `bytes` from pinned host memory to device memory.
  virtual bool CopyIn(void* dst, const void* src, uint64_t bytes, std::string* error) = 0;
  /// Queues a device-to-device copy.
  virtual bool CopyWithin(void* dst, const void* src, uint64_t bytes, std::string* error) = 0;
  /// Queues the cut kernel: `rows` rows of `width` bytes from `src` (rows `src_pitch` apart) to `dst`
  /// (rows `dst_pitch` apart), both in device memory.
  virtual bool Cut(void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint64_t width, uint64_t rows,
                   std::string* error) = 0;
  /// Marks the stream's current end for host buffer `slot` (0 or 1); Wait blocks until it is reached.
  virtual bool Record(int slot, std::string* error) = 0;
  virtual bool Wait(int slot, std::string* error) = 0;
  /// Waits for the stream, then copies `bytes` of device memory to host memory.
  virtual bool CopyOut(void* dst, const void* src, uint64_t bytes, std::string* error) = 0;
  virtual bool Synchronize(std::string* error) = 0;
};

/// One send or receive of device memory, to or from `peer`.
struct DeviceTransfer {
  void* data = nullptr;
  uint64_t bytes = 0;
  int peer = 0;
  bool send = false;
};

/// NCCL over the Device's stream. Each call waits until its work is done, fails, or the timeout
/// passes; a failure aborts the communicator and names the rank at fault when it is known.
class DeviceComm {
 public:
  virtual ~DeviceComm() = default;
  /// Every transfer at once (one NCCL group), matched by the peers' own calls.
  virtual bool Exchange(const std::vector<DeviceTransfer>& transfers, std::string* error) = 0;
  /// `bytes` of every rank's `send` into `recv` (world × bytes, rank-major).
  virtual bool AllGather(const void* send, void* recv, uint64_t bytes, std::string* error) = 0;
};

/// Where and who this rank is, for the NCCL rendezvous through the TCPStore rank 0 already hosts.
struct NcclConfig {
  std::string master_addr;
  int master_port = 0;
  int rank = 0;
  int world_size = 1;
  std::chrono::milliseconds timeout{300000};
};

/// Opens GPU `local_rank` (cudaSetDevice) with a stream and two events. Null with `error` set when
/// libtpc_nccl.so cannot be opened or no such device is visible.
std::unique_ptr<Device> OpenCudaDevice(int local_rank, std::string* error);

/// Connects this rank's NCCL communicator on `device` (which must outlive it): rank 0 makes the
/// unique id and puts it in the store, the others take it. Null with `error` set on failure.
std::unique_ptr<DeviceComm> ConnectNccl(const NcclConfig& config, Device& device, std::string* error);

}  // namespace tpc

#endif  // TPC_RUNTIME_DEVICE_H_
