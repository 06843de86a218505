#include "runtime/shard_copy.h"

#include <sys/uio.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <map>
#include <memory>
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
  size_t target = 0;
  std::vector<const CopyRun*> runs;  // by src
};

// One stored tensor as read (a program entry): its source range and every rank tensor that reads it.
struct Group {
  int file = -1;
  uint64_t lo = UINT64_MAX, hi = 0;
  std::vector<Reader> readers;
};

// Bytes [lo, hi) of a group, inside one window.
struct Part {
  size_t group = 0;
  uint64_t lo = 0, hi = 0;
};

// One unit of work: a span of one file mapped once, and the parts of groups in it (in entry
// order); or (whole_hash) the hash of target `target` on its own.
struct Task {
  int file = -1;
  uint64_t lo = 0, hi = 0;
  std::vector<Part> parts;
  bool whole_hash = false;
  size_t target = 0;
};

// Calls f(run, lo, hi) for each piece [lo, hi) of `r`'s runs inside [lo, hi), in source order.
template <typename F>
bool ForPieces(const Reader& r, uint64_t lo, uint64_t hi, F f) {
  auto it = std::partition_point(r.runs.begin(), r.runs.end(),
                                 [&](const CopyRun* run) { return run->src + run->length <= lo; });
  for (; it != r.runs.end() && (*it)->src < hi; ++it) {
    const CopyRun& run = **it;
    if (!f(run, std::max(run.src, lo), std::min(run.src + run.length, hi))) return false;
  }
  return true;
}

class Copier {
 public:
  Copier(const std::vector<int>& fds, const std::vector<std::string>& paths, uint64_t window,
         std::atomic<uint64_t>* copied)
      : fds_(fds), paths_(paths), window_(window), copied_(copied), start_(Clock::now()) {}

  void Build(const std::vector<CopyTarget>& targets) {
    targets_ = &targets;
    // By program entry, so that each stored tensor is mapped once for every rank (a tied lm_head, a
    // second entry of the same tensor, is mapped again).
    std::map<int, Group> by_entry;
    for (size_t i = 0; i < targets.size(); ++i)
      for (const OutTensor& tensor : targets[i].rank->tensors) {
        if (tensor.runs.empty()) continue;
        Group& g = by_entry[tensor.entry];
        g.file = tensor.runs.front().file;
        Reader r{i, {}};
        for (const CopyRun& run : tensor.runs) {
          r.runs.push_back(&run);
          g.lo = std::min(g.lo, run.src);
          g.hi = std::max(g.hi, run.src + run.length);
        }
        std::sort(r.runs.begin(), r.runs.end(), [](const CopyRun* a, const CopyRun* b) { return a->src < b->src; });
        g.readers.push_back(std::move(r));
        pending_[i] += tensor.bytes;
      }
    for (auto& [entry, g] : by_entry) groups_.push_back(std::move(g));
    PlanHashes();
    for (size_t i = 0; i < targets.size(); ++i)
      if (targets[i].sha256 && !inline_[i]) tasks_.push_back({-1, 0, 0, {}, true, i});
    first_window_ = tasks_.size();
    // Windows in entry order: a group larger than a window in window-sized pieces, small groups of
    // one file together while their span stays within a window.
    for (size_t i = 0; i < groups_.size(); ++i) {
      const Group& g = groups_[i];
      for (uint64_t at = g.lo; at < g.hi; at += window_) {
        uint64_t hi = std::min(g.hi, at + window_);
        Task* last = tasks_.size() > first_window_ ? &tasks_.back() : nullptr;
        if (last && last->file == g.file && std::max(last->hi, hi) - std::min(last->lo, at) <= window_) {
          last->lo = std::min(last->lo, at), last->hi = std::max(last->hi, hi);
        } else {
          tasks_.push_back({g.file, at, hi, {}, false, 0});
        }
        tasks_.back().parts.push_back({i, at, hi});
      }
    }
  }

  bool Run(int jobs, CopyError* error) {
    if (!CheckSizes()) {
      *error = error_;
      return false;
    }
    for (size_t i = 0; i < targets_->size(); ++i)
      if (inline_[i]) {
        sha_[i] = std::make_unique<Sha256>();
        sha_[i]->Update((*targets_)[i].header);
      }
    turn_.assign(targets_->size(), first_window_);
    std::vector<std::thread> pool;
    for (int j = 1; j < jobs; ++j) pool.emplace_back([this] { Work(); });
    Work();
    for (std::thread& t : pool) t.join();
    if (failed_) {
      *error = error_;
      return false;
    }
    for (size_t i = 0; i < targets_->size(); ++i)
      if (inline_[i]) *(*targets_)[i].sha256 = sha_[i]->Hex();
    return true;
  }

 private:
  // A target is hashed inline, window by window as its bytes are written, when its pieces in the
  // windows' order (entries in order, each by source offset) are its data section in file order.
  void PlanHashes() {
    std::vector<uint64_t> next(targets_->size(), 0);
    inline_.assign(targets_->size(), true);
    sha_.resize(targets_->size());
    for (const Group& g : groups_)
      for (const Reader& r : g.readers)
        for (const CopyRun* run : r.runs) {
          inline_[r.target] = inline_[r.target] && run->dst == next[r.target];
          next[r.target] += run->length;
        }
    for (size_t i = 0; i < targets_->size(); ++i)
      inline_[i] = inline_[i] && (*targets_)[i].sha256 && next[i] == (*targets_)[i].rank->data_bytes;
  }

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
      if (t.whole_hash) {
        if (!HashWhole(t.target, map)) return;
        continue;
      }
      if (!MapRange(map, t.file, t.lo, t.hi)) return Abort();
      for (const Part& p : t.parts)
        for (const Reader& r : groups_[p.group].readers)
          if (!Scatter(p, r, map)) return Abort();
      if (!HashInOrder(i, t, map)) return Abort();
    }
  }

  // Hashes the inline targets' pieces of window `i`, each target once its pieces of every window
  // before it are hashed: a thread hashing one window follows the thread hashing the previous one
  // a target behind, so both hash at once.
  bool HashInOrder(size_t i, const Task& t, const MappedWindow& map) {
    for (size_t target = 0; target < targets_->size(); ++target) {
      if (!inline_[target]) continue;
      {
        std::unique_lock<std::mutex> lock(mu_);
        turn_cv_.wait(lock, [&] { return turn_[target] == i || failed_; });
        if (failed_) return false;
      }
      for (const Part& p : t.parts)
        for (const Reader& r : groups_[p.group].readers) {
          if (r.target != target) continue;
          bool ok = ForPieces(r, p.lo, p.hi, [&](const CopyRun& run, uint64_t lo, uint64_t hi) {
            return Hash(sha_[target].get(), map, run.file, lo, hi);
          });
          if (!ok) return false;
        }
      std::lock_guard<std::mutex> lock(mu_);
      ++turn_[target];
      turn_cv_.notify_all();
    }
    return true;
  }

  void Abort() {
    std::lock_guard<std::mutex> lock(mu_);
    turn_cv_.notify_all();
  }

  bool MapRange(MappedWindow& map, int file, uint64_t lo, uint64_t hi) {
    std::string reason;
    if (map.Covers(file, lo, hi)) return true;
    if (!map.Map(file, fds_[file], lo, hi, &reason)) return Fail({paths_[file], reason, true, lo, hi - lo});
    if (WindowMappedHook hook = g_window_mapped.load()) hook(file, lo, hi);
    return true;
  }

  bool Hash(Sha256* sha, const MappedWindow& map, int file, uint64_t lo, uint64_t hi) {
    uint64_t fault = 0;
    if (map.Hash(sha, lo, hi - lo, &fault)) return true;
    return Fail({paths_[file], EndedWhileReading(fds_[file], fault), true, fault, hi - fault});
  }

  // The SHA-256 of target `i`'s file from the bytes it is made of, in file order: its header, then
  // each tensor's runs (they tile the data section in destination order).
  bool HashWhole(size_t i, MappedWindow& map) {
    const CopyTarget& t = (*targets_)[i];
    Sha256 sha;
    sha.Update(t.header);
    for (const OutTensor& tensor : t.rank->tensors)
      for (const CopyRun& run : tensor.runs)
        for (uint64_t at = run.src, end = run.src + run.length; at < end;) {
          uint64_t hi = std::min(end, at + window_);
          // A window from here on: the next rows of a strided slice fall in it too.
          if (!map.Covers(run.file, at, hi) && !MapRange(map, run.file, at, std::max(hi, WindowEnd(run.file, at))))
            return false;
          if (!Hash(&sha, map, run.file, at, hi)) return false;
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

  // Writes the pieces of `r`'s runs inside part `p`. Pieces that follow each other in the
  // destination go in one pwritev (a column slice: one piece per row).
  bool Scatter(const Part& p, const Reader& r, const MappedWindow& map) {
    const CopyTarget& target = (*targets_)[r.target];
    std::vector<iovec> pieces;
    uint64_t dst = 0, pending = 0;
    auto flush = [&]() -> bool {
      if (pieces.empty()) return true;
      uint64_t at = target.header.size() + dst;
      OutputError err;
      if (!target.out->WriteAt(at, pieces.data(), static_cast<int>(pieces.size()), &err)) {
        // pwritev from a mapping whose file was cut short fails with EFAULT: name the checkpoint.
        int file = groups_[p.group].file;
        if (FileSize(fds_[file]) < p.hi)
          return Fail({paths_[file], EndedWhileReading(fds_[file], p.hi), true, p.lo, p.hi - p.lo});
        return Fail({err.path, err.reason, false, at, pending});
      }
      Landed(r.target, pending);
      pieces.clear();
      pending = 0;
      return true;
    };
    bool ok = ForPieces(r, p.lo, p.hi, [&](const CopyRun& run, uint64_t lo, uint64_t hi) {
      uint64_t to = run.dst + (lo - run.src);
      if (!pieces.empty() && (dst + pending != to || pieces.size() == IOV_MAX) && !flush()) return false;
      if (pieces.empty()) dst = to;
      pieces.push_back({const_cast<char*>(map.At(lo)), hi - lo});
      pending += hi - lo;
      return true;
    });
    return ok && flush();
  }

  void Landed(size_t target, uint64_t bytes) {
    copied_->fetch_add(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    const CopyTarget& t = (*targets_)[target];
    if ((pending_[target] -= bytes) == 0 && t.finished)
      *t.finished = std::chrono::duration<double>(Clock::now() - start_).count();
  }

  bool Fail(CopyError e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.exchange(true)) error_ = std::move(e);
    turn_cv_.notify_all();
    return false;
  }

  const std::vector<int>& fds_;
  const std::vector<std::string>& paths_;
  const uint64_t window_;
  std::atomic<uint64_t>* copied_;
  const Clock::time_point start_;
  const std::vector<CopyTarget>* targets_ = nullptr;
  std::vector<Group> groups_;  // in entry order
  std::vector<Task> tasks_;    // whole-file hashes, then windows in entry order
  size_t first_window_ = 0;
  std::vector<bool> inline_;                   // each target: hashed window by window
  std::vector<std::unique_ptr<Sha256>> sha_;   // their digests so far
  std::map<size_t, uint64_t> pending_;         // bytes of each target still to write
  std::atomic<size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::condition_variable turn_cv_;
  std::vector<size_t> turn_;  // each target: the window whose pieces it hashes next
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
