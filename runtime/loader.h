// `tpc-run load`'s engine, for programs that embed it: every rank of a communicator ends with its
// slices of every stored tensor the program places on it, in memory, read from the checkpoint by
// itself or sent by rank 0, and optionally verified against the checkpoint.
#ifndef TPC_RUNTIME_LOADER_H_
#define TPC_RUNTIME_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/program.h"
#include "runtime/communicator.h"
#include "runtime/device.h"
#include "support/diagnostics.h"
#include "support/limits.h"

namespace tpc {

struct LoadOptions {
  enum class Source { kLocal, kRoot };
  enum class Verify { kNone, kChecksum, kGather };
  Source source = Source::kLocal;  ///< kLocal: each rank reads its runs; kRoot: rank 0 reads and sends
  Verify verify = Verify::kNone;
  std::string program_path;  ///< names the program in diagnostics
  std::string manifest;      ///< kChecksum: a `tpc-run shard` manifest.json to compare with, or "" (rank 0 reads)
  uint64_t window_bytes = limits::kLoadWindowBytes;  ///< one read of a tensor's runs; one message of kRoot
  /// With a device (--device cuda), tensors end in its memory, --source root sends them with
  /// `device_comm` (NCCL) and --verify gather gathers them there; both outlive the LoadedShards.
  Device* device = nullptr;
  DeviceComm* device_comm = nullptr;
};

/// One tensor as this rank holds it.
struct LoadedTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;  ///< the local shape
  std::vector<uint8_t> bytes;  ///< empty when loaded to a device
  void* device = nullptr;      ///< the tensor in device memory, when loaded to a device
};

struct LoadedShards {
  int rank = 0;
  std::vector<LoadedTensor> tensors;  ///< in the program's entry order
  uint64_t bytes = 0;                 ///< over every tensor
  double seconds = 0;                 ///< reading (and receiving), verification excluded
  double verify_seconds = 0;
  std::string sha256;  ///< of the tensors' bytes in order (kChecksum only)
  std::shared_ptr<void> device_memory;  ///< owns every tensor's device memory; frees it through the Device
};

/// Loads this rank's tensors of `program` from the checkpoint in `weights_dir`. Every rank calls it
/// together. Errors on any rank (a bad checkpoint, a failed read, a mismatch found by verification,
/// a rank that stops or never arrives) end every rank with false and a fatal diagnostic naming the
/// rank and the problem; the ranks agree on the outcome wherever they can still talk. On false
/// `out` holds no tensor; its device memory, if any, is freed when it goes.
bool LoadShards(const Program& program, const std::string& weights_dir, Communicator& comm, const LoadOptions& opts,
                LoadedShards* out, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_RUNTIME_LOADER_H_
