// How `tpc-run load --device cuda` stages a tensor: which byte ranges of the checkpoint are read into
// which of the two pinned host buffers, and how each is copied into the tensor on the device. Plain
// C++ so that the schedule is tested without a GPU; device_loader.cc carries it out.
#ifndef TPC_RUNTIME_STAGING_H_
#define TPC_RUNTIME_STAGING_H_

#include <cstdint>
#include <vector>

#include "runtime/shard_plan.h"

namespace tpc {

/// `rows` rows of `width` bytes, from the staged window at `src` (rows `src_pitch` apart) to the
/// tensor at `dst` (rows `dst_pitch` apart): one launch of the cut kernel.
struct StageCut {
  uint64_t src = 0;
  uint64_t src_pitch = 0;
  uint64_t dst = 0;
  uint64_t dst_pitch = 0;
  uint64_t width = 0;
  uint64_t rows = 0;

  bool operator==(const StageCut&) const = default;
};

/// One window: `bytes` of checkpoint file `file` at `src` read into pinned buffer `buffer` (0 or 1,
/// alternating), then copied to the device, straight to the tensor at byte `dst` when `cuts` is
/// empty, else to a device scratch window that `cuts` cut the tensor's bytes from.
struct StageWindow {
  int file = -1;
  uint64_t src = 0;
  uint64_t bytes = 0;
  int buffer = 0;
  uint64_t dst = 0;
  std::vector<StageCut> cuts;

  bool operator==(const StageWindow&) const = default;
};

/// The windows of at most `window` bytes that fill `t` (offsets relative to its first byte), the
/// first in buffer `first_buffer`. Strided runs of at most limits::kLoadCutMaxRunBytes repeating
/// with one pitch (k runs per row: fused slices) are read with their enclosing rows and cut on the
/// device; every other run is read alone, in pieces of `window` bytes.
std::vector<StageWindow> PlanStaging(const OutTensor& t, uint64_t window, int first_buffer);

}  // namespace tpc

#endif  // TPC_RUNTIME_STAGING_H_
