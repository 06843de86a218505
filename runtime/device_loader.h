// The device half of LoadShards (loader.cc): checkpoint runs staged through two pinned host buffers
// into device memory, by PlanStaging's schedule, and the device memory that holds a rank's tensors.
#ifndef TPC_RUNTIME_DEVICE_LOADER_H_
#define TPC_RUNTIME_DEVICE_LOADER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/communicator.h"
#include "runtime/device.h"
#include "runtime/shard_plan.h"

namespace tpc {

/// Reads exactly `n` bytes of checkpoint file `file` at `offset`; reports its own diagnostic.
using ReadRunFn = std::function<bool(int file, uint64_t offset, uint8_t* to, uint64_t n)>;

/// Stages tensors into device memory: while the copy from one pinned buffer runs, the next window is
/// read into the other (a large one by several threads, `read` being safe to call from them); a
/// buffer is reused only after the event recorded behind its copy.
class Stager {
 public:
  Stager(Device& device, uint64_t window, ReadRunFn read) : dev_(device), window_(window), read_(std::move(read)) {}
  ~Stager();
  Stager(const Stager&) = delete;
  Stager& operator=(const Stager&) = delete;

  /// Queues `t`'s windows into `dst` (t.bytes of device memory). False with `error` set when the
  /// device fails, or with it empty when a read failed (its diagnostic is reported).
  bool Stage(const OutTensor& t, uint8_t* dst, std::string* error);
  /// Waits until every queued copy is done.
  bool Finish(std::string* error) { return dev_.Synchronize(error); }

 private:
  bool Reserve(uint64_t bytes, std::string* error);
  bool Read(int file, uint64_t offset, uint8_t* to, uint64_t n);

  Device& dev_;
  uint64_t window_;
  ReadRunFn read_;
  void* pinned_[2] = {nullptr, nullptr};
  void* scratch_ = nullptr;  // device memory the enclosing rows of strided runs land in
  uint64_t capacity_ = 0;
  int next_buffer_ = 0;
};

/// One block of device memory holding parts of `sizes` bytes (each 256-byte aligned); `owner` frees
/// it through `device` when its last copy goes.
bool AllocParts(Device& device, const std::vector<uint64_t>& sizes, std::vector<uint8_t*>* parts,
                std::shared_ptr<void>* owner, std::string* error);

/// --verify gather on a device: every rank's `sizes[r]` bytes (this rank `me`'s at `mine`, null when
/// it holds none) padded to the largest, all-gathered by `comm` and copied back into `parts`.
bool GatherParts(Device& device, DeviceComm& comm, const std::vector<uint64_t>& sizes, int me, const void* mine,
                 std::vector<Bytes>* parts, std::string* error);

}  // namespace tpc

#endif  // TPC_RUNTIME_DEVICE_LOADER_H_
