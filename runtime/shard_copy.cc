#include "runtime/shard_copy.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace tpc {
namespace {

using Clock = std::chrono::steady_clock;

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

// One unit of work: bytes [lo, hi) of a group's source.
struct Window {
  size_t group = 0;
  uint64_t lo = 0, hi = 0;
};

class Copier {
 public:
  Copier(const std::vector<int>& fds, const std::vector<std::string>& paths, uint64_t buffer,
         std::atomic<uint64_t>* copied)
      : fds_(fds), paths_(paths), buffer_(buffer), copied_(copied), start_(Clock::now()) {}

  void Build(const std::vector<CopyTarget>& targets) {
    // By program entry, so that each stored tensor is read once for every rank (a tied lm_head, a
    // second entry of the same tensor, is read again).
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
    for (size_t i = 0; i < groups_.size(); ++i)
      for (uint64_t at = groups_[i].lo; at < groups_[i].hi; at += buffer_)
        windows_.push_back({i, at, std::min(groups_[i].hi, at + buffer_)});
    // Largest first, so that the last worker does not start a long window alone.
    std::stable_sort(windows_.begin(), windows_.end(),
                     [](const Window& a, const Window& b) { return a.hi - a.lo > b.hi - b.lo; });
  }

  bool Run(int jobs, CopyError* error) {
    std::vector<std::thread> pool;
    for (int j = 1; j < jobs; ++j) pool.emplace_back([this] { Work(); });
    Work();
    for (std::thread& t : pool) t.join();
    if (failed_) *error = error_;
    return !failed_;
  }

 private:
  void Work() {
    std::unique_ptr<char[]> in, gather;
    while (!failed_) {
      size_t i = next_.fetch_add(1);
      if (i >= windows_.size()) return;
      const Window& w = windows_[i];
      if (!in) in = std::make_unique_for_overwrite<char[]>(buffer_);
      if (!Read(w, in.get())) return;
      for (const Reader& r : groups_[w.group].readers)
        if (!Scatter(w, r, in.get(), gather)) return;
    }
  }

  bool Read(const Window& w, char* buf) {
    int file = groups_[w.group].file;
    uint64_t done = 0, want = w.hi - w.lo;
    while (done < want) {
      ssize_t n = pread(fds_[file], buf + done, want - done, static_cast<off_t>(w.lo + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return Fail({paths_[file], n < 0 ? std::strerror(errno) : "the file ends there (was it truncated?)", true,
                     w.lo + done, want - done});
      done += static_cast<uint64_t>(n);
    }
    return true;
  }

  // Writes the parts of `r`'s runs inside window `w`. Pieces that follow each other in the
  // destination are gathered into one write (a column slice: one piece per row).
  bool Scatter(const Window& w, const Reader& r, const char* in, std::unique_ptr<char[]>& gather) {
    auto first = std::partition_point(r.runs.begin(), r.runs.end(),
                                      [&](const CopyRun* run) { return run->src + run->length <= w.lo; });
    struct Piece {
      const char* data;
      uint64_t length, dst;
    };
    std::vector<Piece> pieces;
    uint64_t pending = 0;
    auto flush = [&]() -> bool {
      if (pieces.empty()) return true;
      uint64_t dst = r.target->data_start + pieces.front().dst;
      std::string_view bytes(pieces.front().data, pieces.front().length);
      if (pieces.size() > 1) {
        if (!gather) gather = std::make_unique_for_overwrite<char[]>(buffer_);
        uint64_t at = 0;
        for (const Piece& p : pieces) std::memcpy(gather.get() + at, p.data, p.length), at += p.length;
        bytes = std::string_view(gather.get(), pending);
      }
      OutputError err;
      if (!r.target->out->WriteAt(dst, bytes, &err)) return Fail({err.path, err.reason, false, dst, bytes.size()});
      Landed(r.target, pending);
      pieces.clear();
      pending = 0;
      return true;
    };
    for (auto it = first; it != r.runs.end() && (*it)->src < w.hi; ++it) {
      const CopyRun& run = **it;
      uint64_t lo = std::max(run.src, w.lo), hi = std::min(run.src + run.length, w.hi);
      Piece p{in + (lo - w.lo), hi - lo, run.dst + (lo - run.src)};
      bool follows = !pieces.empty() && pieces.back().dst + pieces.back().length == p.dst;
      if (!pieces.empty() && (!follows || pending + p.length > buffer_) && !flush()) return false;
      pieces.push_back(p);
      pending += p.length;
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
  const uint64_t buffer_;
  std::atomic<uint64_t>* copied_;
  const Clock::time_point start_;
  std::vector<Group> groups_;
  std::vector<Window> windows_;
  std::map<const CopyTarget*, uint64_t> pending_;  // bytes of each target still to write
  std::atomic<size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  CopyError error_;
};

}  // namespace

bool CopyRuns(const std::vector<int>& files, const std::vector<std::string>& file_paths,
              const std::vector<CopyTarget>& targets, int jobs, uint64_t buffer_bytes,
              std::atomic<uint64_t>* copied, CopyError* error) {
  Copier copier(files, file_paths, std::max<uint64_t>(buffer_bytes, 1), copied);
  copier.Build(targets);
  return copier.Run(std::max(jobs, 1), error);
}

}  // namespace tpc
