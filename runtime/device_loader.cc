#include "runtime/device_loader.h"

#include <algorithm>

#include "runtime/staging.h"

namespace tpc {

Stager::~Stager() {
  std::string ignored;
  if (capacity_ > 0) dev_.Synchronize(&ignored);
  for (void* p : pinned_)
    if (p) dev_.FreePinned(p);
  if (scratch_) dev_.Free(scratch_);
}

// Buffers of at least `bytes` (at most the window): a larger window waits for every queued copy.
bool Stager::Reserve(uint64_t bytes, std::string* error) {
  if (bytes <= capacity_) return true;
  uint64_t want = std::min(window_, std::max(bytes, 2 * capacity_));
  if (capacity_ > 0 && !dev_.Synchronize(error)) return false;
  for (void*& p : pinned_) {
    if (p) dev_.FreePinned(p);
    p = nullptr;
  }
  if (scratch_) dev_.Free(scratch_);
  scratch_ = nullptr;
  capacity_ = 0;
  for (void*& p : pinned_)
    if (!dev_.AllocPinned(want, &p, error)) return false;
  if (!dev_.Alloc(want, &scratch_, error)) return false;
  capacity_ = want;
  return true;
}

bool Stager::Stage(const OutTensor& t, uint8_t* dst, std::string* error) {
  std::vector<StageWindow> windows = PlanStaging(t, window_, next_buffer_);
  for (const StageWindow& w : windows) {
    if (!Reserve(w.bytes, error)) return false;
    auto* host = static_cast<uint8_t*>(pinned_[w.buffer]);
    // The copy queued from this buffer two windows ago must be done before the read overwrites it.
    if (!dev_.Wait(w.buffer, error)) return false;
    if (!read_(w.file, w.src, host, w.bytes)) return error->clear(), false;
    if (w.cuts.empty()) {
      if (!dev_.CopyIn(dst + w.dst, host, w.bytes, error)) return false;
    } else {
      // The stream orders the cuts of this window before the next copy into the scratch window.
      auto* scratch = static_cast<uint8_t*>(scratch_);
      if (!dev_.CopyIn(scratch, host, w.bytes, error)) return false;
      for (const StageCut& c : w.cuts)
        if (!dev_.Cut(dst + c.dst, c.dst_pitch, scratch + c.src, c.src_pitch, c.width, c.rows, error)) return false;
    }
    if (!dev_.Record(w.buffer, error)) return false;
    next_buffer_ = 1 - w.buffer;
  }
  return true;
}

bool AllocParts(Device& device, const std::vector<uint64_t>& sizes, std::vector<uint8_t*>* parts,
                std::shared_ptr<void>* owner, std::string* error) {
  constexpr uint64_t kAlign = 256;
  std::vector<uint64_t> at;
  uint64_t total = 0;
  for (uint64_t n : sizes) {
    at.push_back(total);
    total += (n + kAlign - 1) / kAlign * kAlign;
  }
  void* block = nullptr;
  if (!device.Alloc(std::max<uint64_t>(total, 1), &block, error)) return false;
  *owner = std::shared_ptr<void>(block, [&device](void* p) { device.Free(p); });
  parts->clear();
  for (uint64_t a : at) parts->push_back(static_cast<uint8_t*>(block) + a);
  return true;
}

}  // namespace tpc
