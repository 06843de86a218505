// N ranks as threads of one process, for tests: every call copies bytes through a hub under one mutex.
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>

#include "runtime/communicator.h"

namespace tpc {

class InProcessHub {
 public:
  InProcessHub(int world, std::chrono::milliseconds timeout) : world_(world), timeout_(timeout) {}

  int world() const { return world_; }

  // Collective call number `round` of every rank: each leaves `bytes` and waits for all the others.
  bool Collective(int rank, uint64_t round, std::span<const uint8_t> bytes, std::vector<Bytes>* out,
                  const char* what, std::string* error) {
    std::unique_lock lock(mu_);
    Round& r = rounds_[round];
    r.parts.resize(static_cast<size_t>(world_));
    r.parts[static_cast<size_t>(rank)] = Bytes(bytes.begin(), bytes.end());
    cv_.notify_all();
    auto all_here = [&] {
      for (const auto& p : r.parts)
        if (!p) return false;
      return true;
    };
    auto gone_missing = [&] {  // a rank that left before its part of this round
      for (const auto& [who, why] : gone_)
        if (!r.parts[static_cast<size_t>(who)]) return true;
      return false;
    };
    if (!cv_.wait_for(lock, timeout_, [&] { return all_here() || gone_missing(); }) || !all_here()) {
      if (gone_missing()) return *error = std::string(what) + " failed: " + Gone(r), false;
      std::string missing;
      for (size_t i = 0; i < r.parts.size(); ++i)
        if (!r.parts[i]) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
      *error = std::string(what) + " failed: rank " + missing + " did not arrive within " + Seconds();
      return false;
    }
    out->clear();
    for (const auto& p : r.parts) out->push_back(*p);
    if (++r.taken == world_) rounds_.erase(round);
    return true;
  }

  void Send(int from, int to, std::span<const uint8_t> bytes) {
    std::lock_guard lock(mu_);
    mail_[{from, to}].emplace_back(bytes.begin(), bytes.end());
    cv_.notify_all();
  }

  bool Recv(int from, int to, Bytes* bytes, std::string* error) {
    std::unique_lock lock(mu_);
    std::deque<Bytes>& box = mail_[{from, to}];
    if (!cv_.wait_for(lock, timeout_, [&] { return !box.empty() || gone_.count(from); })) {
      *error = "receive from rank " + std::to_string(from) + " failed: rank " + std::to_string(from) +
               " sent nothing within " + Seconds();
      return false;
    }
    if (box.empty()) {
      const std::string& why = gone_.at(from);
      return *error = "receive from rank " + std::to_string(from) + " failed: it stopped" +
                      (why.empty() ? "" : " (" + why + ")"), false;
    }
    *bytes = std::move(box.front());
    box.pop_front();
    return true;
  }

  // Rank `rank` makes no more calls: whoever waits on it fails now instead of at the timeout.
  void Leave(int rank, const std::string& why) {
    std::lock_guard lock(mu_);
    gone_.emplace(rank, why);
    cv_.notify_all();
  }

 private:
  struct Round {
    std::vector<std::optional<Bytes>> parts;
    int taken = 0;
  };

  std::string Seconds() const {
    char s[32];
    std::snprintf(s, sizeof s, "%g s", static_cast<double>(timeout_.count()) / 1000);  // "0.3 s", "300 s"
    return s;
  }

  // Names a rank that left before its part of `round`. Under mu_.
  std::string Gone(const Round& round) const {
    auto it = gone_.begin();
    while (std::next(it) != gone_.end() && round.parts[static_cast<size_t>(it->first)]) ++it;
    const auto& [rank, why] = *it;
    return "rank " + std::to_string(rank) + " stopped" + (why.empty() ? "" : " (" + why + ")");
  }

  int world_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Round> rounds_;
  std::map<std::pair<int, int>, std::deque<Bytes>> mail_;
  std::map<int, std::string> gone_;  // ranks that left, and why
};

std::vector<std::unique_ptr<InProcessCommunicator>> InProcessCommunicator::Create(int world,
                                                                                  std::chrono::milliseconds timeout) {
  auto hub = std::make_shared<InProcessHub>(world, timeout);
  std::vector<std::unique_ptr<InProcessCommunicator>> comms;
  for (int r = 0; r < world; ++r) comms.push_back(std::make_unique<InProcessCommunicator>(hub, r));
  return comms;
}

InProcessCommunicator::InProcessCommunicator(std::shared_ptr<InProcessHub> hub, int rank)
    : hub_(std::move(hub)), rank_(rank) {}

int InProcessCommunicator::world_size() const { return hub_->world(); }

bool InProcessCommunicator::Broadcast(Bytes* bytes, int root, std::string* error) {
  std::vector<Bytes> parts;
  std::span<const uint8_t> mine;
  if (rank_ == root) mine = *bytes;
  if (!hub_->Collective(rank_, round_++, mine, &parts, "broadcast", error)) return false;
  *bytes = std::move(parts[static_cast<size_t>(root)]);
  return true;
}

bool InProcessCommunicator::Send(std::span<const uint8_t> bytes, int peer, std::string*) {
  hub_->Send(rank_, peer, bytes);
  return true;
}

bool InProcessCommunicator::Recv(Bytes* bytes, int peer, std::string* error) {
  return hub_->Recv(peer, rank_, bytes, error);
}

bool InProcessCommunicator::AllGather(std::span<const uint8_t> bytes, std::vector<Bytes>* out, std::string* error) {
  return hub_->Collective(rank_, round_++, bytes, out, "all-gather", error);
}

void InProcessCommunicator::Leave(const std::string& why) { hub_->Leave(rank_, why); }

bool InProcessCommunicator::Barrier(std::string* error) {
  std::vector<Bytes> parts;
  return hub_->Collective(rank_, round_++, {}, &parts, "barrier", error);
}

}  // namespace tpc
