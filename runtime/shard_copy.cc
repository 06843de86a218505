#include "runtime/shard_copy.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "runtime/mapped_window.h"
#include "support/sha256.h"

namespace tpc {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<WindowMappedHook> g_window_mapped{nullptr};

// The runs of one rank tensor, sorted by source offset, and where they go.
struct Reader {
  const CopyTarget* target = nullptr;
  std::vector<const CopyRun*> runs;  // by src
};

// One stored tensor as read: its source range and every rank tensor that reads it.
struct Group {
  int file = -1;
  uint64_t lo = UINT64_MAX, hi = 0;
  std::vector<Reader> readers;
};

// One unit of work: bytes [lo, hi) of a group's source written to its readers, or (group ==
// kHash) the hash of target `lo`.
struct Task {
  static constexpr size_t kHash = SIZE_MAX;
  size_t group = 0;
  uint64_t lo = 0, hi = 0;
};

class Copier {
 public:
  Copier(const std::vector<int>& fds, const std::vector<std::string>& paths, uint64_t window,
         std::atomic<uint64_t>* copied)
      : fds_(fds), paths_(paths), window_(window), copied_(copied), start_(Clock::now()) {}

  void Build(const std::vector<CopyTarget>& targets) {
    targets_ = &targets;
    // By program entry, so that each stored tensor is mapped once for every rank (a tied lm_head, a
    // second entry of the same tensor, is mapped again).
    std::map<int, size_t> by_entry;
    for (const CopyTarget& t : targets)
      for (const OutTensor& tensor : t.rank->tensors) {
        if (tensor.runs.empty()) continue;
        auto [it, added] = by_entry.emplace(tensor.entry, groups_.size());
        if (added) groups_.push_back({tensor.runs.front().file, UINT64_MAX, 0, {}});
        Group& g = groups_[it->second];
        Reader r{&t, {}};
        for (const CopyRun& run : tensor.runs) {
          r.runs.push_back(&run);
          g.lo = std::min(g.lo, run.src);
          g.hi = std::max(g.hi, run.src + run.length);
        }
        std::sort(r.runs.begin(), r.runs.end(), [](const CopyRun* a, const CopyRun* b) { return a->src < b->src; });
        g.readers.push_back(std::move(r));
        pending_[&t] += tensor.bytes;
      }
    // The hashes first: each is one long pass over a whole rank file.
    for (size_t i = 0; i < targets.size(); ++i)
      if (targets[i].sha256) tasks_.push_back({Task::kHash, i, 0});
    std::vector<Task> writes;
    for (size_t i = 0; i < groups_.size(); ++i)
      for (uint64_t at = groups_[i].lo; at < groups_[i].hi; at += window_)
        writes.push_back({i, at, std::min(groups_[i].hi, at + window_)});
    // Largest first, so that the last worker does not start a long window alone.
    std::stable_sort(writes.begin(), writes.end(),
                     [](const Task& a, const Task& b) { return a.hi - a.lo > b.hi - b.lo; });
    tasks_.insert(tasks_.end(), writes.begin(), writes.end());
  }

  bool Run(int jobs, CopyError* error) {
    if (!CheckSizes()) {
      *error = error_;
      return false;
    }
    std::vector<std::thread> pool;
    for (int j = 1; j < jobs; ++j) pool.emplace_back([this] { Work(); });
    Work();
    for (std::thread& t : pool) t.join();
    if (failed_) *error = error_;
    return !failed_;
  }

 private:
  // A file shorter than the runs it holds fails here with its size, not at a mapping.
  bool CheckSizes() {
    for (const Group& g : groups_) {
      uint64_t size = FileSize(fds_[g.file]);
      if (size == UINT64_MAX) return Fail({paths_[g.file], "cannot read its size", true, g.lo, g.hi - g.lo});
      if (size < g.hi)
        return Fail({paths_[g.file], "the file ends at byte " + std::to_string(size) + " (was it truncated?)", true,
                     std::max(g.lo, size), g.hi - std::max(g.lo, size)});
    }
    return true;
  }

  void Work() {
    MappedWindow map;
    while (!failed_) {
      size_t i = next_.fetch_add(1);
      if (i >= tasks_.size()) return;
      const Task& t = tasks_[i];
      if (t.group == Task::kHash) {
        if (!Hash((*targets_)[t.lo], map)) return;
        continue;
      }
      const Group& g = groups_[t.group];
      if (!MapRange(map, g.file, t.lo, t.hi)) return;
      for (const Reader& r : g.readers)
        if (!Scatter(t, r, map)) return;
    }
  }

  bool MapRange(MappedWindow& map, int file, uint64_t lo, uint64_t hi) {
    std::string reason;
    if (map.Covers(file, lo, hi)) return true;
    if (!map.Map(file, fds_[file], lo, hi, &reason)) return Fail({paths_[file], reason, true, lo, hi - lo});
    if (WindowMappedHook hook = g_window_mapped.load()) hook(file, lo, hi);
    return true;
  }

  // The SHA-256 of target `t`'s file from the bytes it is made of, in file order: its header, then
  // each tensor's runs (they tile the data section in destination order).
  bool Hash(const CopyTarget& t, MappedWindow& map) {
    Sha256 sha;
    sha.Update(t.header);
    for (const OutTensor& tensor : t.rank->tensors)
      for (const CopyRun& run : tensor.runs)
        for (uint64_t at = run.src, end = run.src + run.length; at < end;) {
          uint64_t hi = std::min(end, at + window_);
          // A window from here on: the next rows of a strided slice fall in it too.
          if (!map.Covers(run.file, at, hi) && !MapRange(map, run.file, at, std::max(hi, WindowEnd(run.file, at))))
            return false;
          uint64_t fault = 0;
          if (!map.Hash(&sha, at, hi - at, &fault))
            return Fail({paths_[run.file], EndedWhileReading(fds_[run.file], fault), true, fault, hi - fault});
          at = hi;
        }
    *t.sha256 = sha.Hex();
    return true;
  }

  // Where a window starting at `at` of `file` ends: `window_` later, or at the end of the file's
  // last group.
  uint64_t WindowEnd(int file, uint64_t at) {
    uint64_t end = 0;
    for (const Group& g : groups_)
      if (g.file == file) end = std::max(end, g.hi);
    return std::min(end, at + window_);
  }

  // Writes the parts of `r`'s runs inside task `t`'s window. Pieces that follow each other in the
  // destination go in one pwritev (a column slice: one piece per row).
  bool Scatter(const Task& t, const Reader& r, const MappedWindow& map) {
    auto first = std::partition_point(r.runs.begin(), r.runs.end(),
                                      [&](const CopyRun* run) { return run->src + run->length <= t.lo; });
    std::vector<iovec> pieces;
    uint64_t dst = 0, pending = 0;
    auto flush = [&]() -> bool {
      if (pieces.empty()) return true;
      uint64_t at = r.target->header.size() + dst;
      OutputError err;
      if (!r.target->out->WriteAt(at, pieces.data(), static_cast<int>(pieces.size()), &err)) {
        // pwritev from a mapping whose file was cut short fails with EFAULT: name the checkpoint.
        int file = groups_[t.group].file;
        if (FileSize(fds_[file]) < t.hi)
          return Fail({paths_[file], EndedWhileReading(fds_[file], t.hi), true, t.lo, t.hi - t.lo});
        return Fail({err.path, err.reason, false, at, pending});
      }
      Landed(r.target, pending);
      pieces.clear();
      pending = 0;
      return true;
    };
    for (auto it = first; it != r.runs.end() && (*it)->src < t.hi; ++it) {
      const CopyRun& run = **it;
      uint64_t lo = std::max(run.src, t.lo), hi = std::min(run.src + run.length, t.hi);
      uint64_t to = run.dst + (lo - run.src);
      if (!pieces.empty() && (dst + pending != to || pieces.size() == IOV_MAX) && !flush()) return false;
      if (pieces.empty()) dst = to;
      pieces.push_back({const_cast<char*>(map.At(lo)), hi - lo});
      pending += hi - lo;
    }
    return flush();
  }

  void Landed(const CopyTarget* t, uint64_t bytes) {
    copied_->fetch_add(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if ((pending_[t] -= bytes) == 0 && t->finished)
      *t->finished = std::chrono::duration<double>(Clock::now() - start_).count();
  }

  bool Fail(CopyError e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.exchange(true)) error_ = std::move(e);
    return false;
  }

  const std::vector<int>& fds_;
  const std::vector<std::string>& paths_;
  const uint64_t window_;
  std::atomic<uint64_t>* copied_;
  const Clock::time_point start_;
  const std::vector<CopyTarget>* targets_ = nullptr;
  std::vector<Group> groups_;
  std::vector<Task> tasks_;
  std::map<const CopyTarget*, uint64_t> pending_;  // bytes of each target still to write
  std::atomic<size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  CopyError error_;
};

}  // namespace

void SetWindowMappedHookForTesting(WindowMappedHook hook) { g_window_mapped.store(hook); }

bool CopyRuns(const std::vector<int>& files, const std::vector<std::string>& file_paths,
              const std::vector<CopyTarget>& targets, int jobs, uint64_t window_bytes,
              std::atomic<uint64_t>* copied, CopyError* error) {
  FaultScope faults;
  Copier copier(files, file_paths, std::max<uint64_t>(window_bytes, 1), copied);
  copier.Build(targets);
  return copier.Run(std::max(jobs, 1), error);
}

}  // namespace tpc
