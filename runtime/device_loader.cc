#include "runtime/device_loader.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>

#include "runtime/staging.h"
#include "support/limits.h"

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

// Parts of at least limits::kLoadReadPartBytes on up to limits::kLoadReadThreads threads, this one
// included: one thread cannot copy out of the page cache as fast as the GPU takes the bytes.
bool Stager::Read(int file, uint64_t offset, uint8_t* to, uint64_t n) {
  uint64_t parts = std::min<uint64_t>(limits::kLoadReadThreads, n / limits::kLoadReadPartBytes);
  if (parts <= 1) return read_(file, offset, to, n);
  uint64_t step = (n + parts - 1) / parts;
  std::atomic<bool> ok{true};
  auto part = [&](uint64_t i) {
    uint64_t at = i * step;
    if (at < n && !read_(file, offset + at, to + at, std::min(step, n - at))) ok = false;
  };
  std::vector<std::thread> threads;
  for (uint64_t i = 1; i < parts; ++i) {
    try {
      threads.emplace_back(part, i);
    } catch (const std::system_error&) {
      part(i);  // no thread to be had: read it here
    }
  }
  part(0);
  for (std::thread& t : threads) t.join();
  return ok;
}

bool Stager::Stage(const OutTensor& t, uint8_t* dst, std::string* error) {
  std::vector<StageWindow> windows = PlanStaging(t, window_, next_buffer_);
  for (const StageWindow& w : windows) {
    if (!Reserve(w.bytes, error)) return false;
    auto* host = static_cast<uint8_t*>(pinned_[w.buffer]);
    // The copy queued from this buffer two windows ago must be done before the read overwrites it.
    if (!dev_.Wait(w.buffer, error)) return false;
    if (!Read(w.file, w.src, host, w.bytes)) return error->clear(), false;
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

bool GatherParts(Device& device, DeviceComm& comm, const std::vector<uint64_t>& sizes, int me, const void* mine,
                 std::vector<Bytes>* parts, std::string* error) {
  uint64_t most = 0;
  for (uint64_t n : sizes) most = std::max(most, n);
  parts->assign(sizes.size(), Bytes());
  if (most == 0) return true;
  std::vector<uint8_t*> buf;
  std::shared_ptr<void> owner;
  Bytes all(most * sizes.size());
  if (!AllocParts(device, {most, all.size()}, &buf, &owner, error)) return false;
  if (mine && !device.CopyWithin(buf[0], mine, sizes[static_cast<size_t>(me)], error)) return false;
  if (!comm.AllGather(buf[0], buf[1], most, error) || !device.CopyOut(all.data(), buf[1], all.size(), error))
    return false;
  for (size_t r = 0; r < sizes.size(); ++r)
    (*parts)[r].assign(all.begin() + static_cast<long>(r * most), all.begin() + static_cast<long>(r * most + sizes[r]));
  return true;
}

}  // namespace tpc
