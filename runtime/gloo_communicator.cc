// The only translation unit that includes LibTorch: keep it small, its headers cost most of a build.
// It is built as the module libtpc_gloo.so, which gloo_plugin.cc opens on the first ConnectGloo, so
// that tpc-run's other commands never load LibTorch (0.7 s and 160 MB of it).
#include "runtime/gloo_communicator.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#include <atomic>
#include <cstdlib>
#include <thread>

namespace tpc {
namespace {

// Every c10d call here exists unchanged in LibTorch 1.13 (Debian) and 2.x (pip): TCPStore with
// TCPStoreOptions, ProcessGroupGloo with Options::create(timeout) and its device helpers, and Work's
// wait(timeout). Should a version ever differ, the #if on TORCH_VERSION_MAJOR goes here, and only here.
static_assert(TORCH_VERSION_MAJOR >= 1, "LibTorch 1.13 or later");
using GlooOptions = c10d::ProcessGroupGloo::Options;

using Ms = std::chrono::milliseconds;
constexpr Ms kHeartbeat{500};

std::string Seconds(Ms t) { return std::to_string((t.count() + 999) / 1000) + " s"; }

std::string AliveKey(int r) { return "tpc/alive/" + std::to_string(r); }

std::string RankList(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

at::Tensor Wrap(void* data, size_t n, at::ScalarType type = at::kByte) {
  return at::from_blob(data, {static_cast<int64_t>(n)}, at::TensorOptions().dtype(type));
}

c10d::BroadcastOptions From(int root) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  return o;
}

class GlooCommunicator : public Communicator {
 public:
  GlooCommunicator(const GlooConfig& c, c10::intrusive_ptr<c10d::TCPStore> store)
      : c_(c), store_(std::move(store)) {}

  ~GlooCommunicator() override {
    stop_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  bool Connect(std::string* error) {
    try {
      auto opts = GlooOptions::create(c_.timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname)
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (c_.master_addr.rfind("127.", 0) == 0 || c_.master_addr == "localhost")
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, c_.rank, c_.world_size, opts);
    } catch (const std::exception& e) {
      *error = Blame("the Gloo group did not connect", e.what());
      return false;
    }
    heartbeat_ = std::thread([this] { Beat(); });
    return true;
  }

  int rank() const override { return c_.rank; }
  int world_size() const override { return c_.world_size; }

  bool Broadcast(Bytes* bytes, int root, std::string* error) override {
    return Run("broadcast from rank " + std::to_string(root), error, [&] {
      int64_t n = static_cast<int64_t>(bytes->size());
      std::vector<at::Tensor> size{Wrap(&n, 1, at::kLong)};
      Wait(group_->broadcast(size, From(root)));
      bytes->resize(static_cast<size_t>(n));
      if (n == 0) return;
      std::vector<at::Tensor> data{Wrap(bytes->data(), bytes->size())};
      Wait(group_->broadcast(data, From(root)));
    });
  }

  bool Send(std::span<const uint8_t> bytes, int peer, std::string* error) override {
    return Run("send to rank " + std::to_string(peer), error, [&] {
      int64_t n = static_cast<int64_t>(bytes.size());
      std::vector<at::Tensor> size{Wrap(&n, 1, at::kLong)};
      Wait(group_->send(size, peer, 0));
      if (n == 0) return;
      std::vector<at::Tensor> data{Wrap(const_cast<uint8_t*>(bytes.data()), bytes.size())};
      Wait(group_->send(data, peer, 0));
    });
  }

  bool Recv(Bytes* bytes, int peer, std::string* error) override {
    return Run("receive from rank " + std::to_string(peer), error, [&] {
      int64_t n = 0;
      std::vector<at::Tensor> size{Wrap(&n, 1, at::kLong)};
      Wait(group_->recv(size, peer, 0));
      bytes->resize(static_cast<size_t>(n));
      if (n == 0) return;
      std::vector<at::Tensor> data{Wrap(bytes->data(), bytes->size())};
      Wait(group_->recv(data, peer, 0));
    });
  }

  // Gloo gathers equal sizes: the sizes first, then every buffer padded to the largest.
  bool AllGather(std::span<const uint8_t> bytes, std::vector<Bytes>* out, std::string* error) override {
    return Run("all-gather", error, [&] {
      size_t world = static_cast<size_t>(c_.world_size);
      int64_t n = static_cast<int64_t>(bytes.size());
      std::vector<int64_t> sizes(world);
      std::vector<at::Tensor> in{Wrap(&n, 1, at::kLong)};
      std::vector<std::vector<at::Tensor>> outs(1);
      for (int64_t& s : sizes) outs[0].push_back(Wrap(&s, 1, at::kLong));
      Wait(group_->allgather(outs, in));
      int64_t most = 0;
      for (int64_t s : sizes) most = std::max(most, s);
      out->assign(world, Bytes(static_cast<size_t>(most)));
      if (most > 0) {
        Bytes padded(static_cast<size_t>(most));
        std::copy(bytes.begin(), bytes.end(), padded.begin());
        std::vector<at::Tensor> data{Wrap(padded.data(), padded.size())};
        std::vector<std::vector<at::Tensor>> gathered(1);
        for (Bytes& b : *out) gathered[0].push_back(Wrap(b.data(), b.size()));
        Wait(group_->allgather(gathered, data));
      }
      for (size_t r = 0; r < world; ++r) (*out)[r].resize(static_cast<size_t>(sizes[r]));
    });
  }

  bool Barrier(std::string* error) override {
    return Run("barrier", error, [&] { Wait(group_->barrier()); });
  }

 private:
  void Wait(const c10::intrusive_ptr<c10d::Work>& work) { work->wait(c_.timeout); }

  template <typename Fn>
  bool Run(const std::string& what, std::string* error, Fn fn) {
    try {
      fn();
      return true;
    } catch (const std::exception& e) {
      *error = Blame(what + " failed", e.what());
      return false;
    }
  }

  // Each rank bumps its counter in the store while it lives, through its own connection.
  void Beat() {
    try {
      c10d::TCPStoreOptions o;
      o.port = static_cast<uint16_t>(c_.master_port);
      o.timeout = c_.timeout;
      o.waitWorkers = false;
      c10d::TCPStore client(c_.master_addr, o);
      while (!stop_) {
        client.add(AliveKey(c_.rank), 1);
        for (Ms slept{0}; slept < kHeartbeat && !stop_; slept += Ms(50)) std::this_thread::sleep_for(Ms(50));
      }
    } catch (const std::exception&) {
      // The store is gone: rank 0 ended; the next operation reports it.
    }
  }

  // Names the ranks whose heartbeat stopped, or rank 0 when the store it hosts is gone. A failure
  // names the stopped rank rather than Gloo's socket error ("Connection closed by peer").
  std::string Blame(const std::string& what, const std::string& cause) {
    std::string first_line = cause.substr(0, cause.find('\n'));
    std::vector<int64_t> before(static_cast<size_t>(c_.world_size));
    std::vector<int> stopped;
    try {
      for (int r = 0; r < c_.world_size; ++r) before[static_cast<size_t>(r)] = store_->add(AliveKey(r), 0);
      std::this_thread::sleep_for(3 * kHeartbeat);
      for (int r = 0; r < c_.world_size; ++r)
        if (r != c_.rank && store_->add(AliveKey(r), 0) == before[static_cast<size_t>(r)]) stopped.push_back(r);
    } catch (const std::exception&) {
      if (c_.rank != 0) return what + ": rank 0, which hosts the store, stopped (" + first_line + ")";
    }
    if (stopped.empty()) return what + ": " + first_line;
    return what + ": " + RankList(stopped) + " stopped (" + first_line + ")";
  }

  GlooConfig c_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  std::thread heartbeat_;
  std::atomic<bool> stop_{false};
};

// Every rank sets its key; each waits for all keys, so a rank that never starts is named.
bool CheckIn(c10d::TCPStore& store, const GlooConfig& c, std::string* error) {
  store.set("tpc/arrived/" + std::to_string(c.rank), std::vector<uint8_t>{1});
  auto deadline = std::chrono::steady_clock::now() + c.timeout;
  for (;;) {
    std::vector<int> missing;
    for (int r = 0; r < c.world_size; ++r)
      if (!store.check({"tpc/arrived/" + std::to_string(r)})) missing.push_back(r);
    if (missing.empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      *error = RankList(missing) + " did not arrive within " + Seconds(c.timeout) + " (store at " +
               c.master_addr + ":" + std::to_string(c.master_port) + ", world size " +
               std::to_string(c.world_size) + ")";
      return false;
    }
    std::this_thread::sleep_for(Ms(50));
  }
}

std::unique_ptr<Communicator> Connect(const GlooConfig& config, std::string* error) {
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(config.master_port);
    o.isServer = config.rank == 0;
    o.waitWorkers = false;
    o.timeout = config.timeout;
    store = c10::make_intrusive<c10d::TCPStore>(config.master_addr, o);
  } catch (const std::exception& e) {
    std::string cause(e.what());
    cause = cause.substr(0, cause.find('\n'));
    *error = config.rank == 0
                 ? "cannot host the store on " + config.master_addr + ":" + std::to_string(config.master_port) +
                       ": " + cause
                 : "rank 0 did not arrive within " + Seconds(config.timeout) + ": no store at " +
                       config.master_addr + ":" + std::to_string(config.master_port) + " (" + cause + ")";
    return nullptr;
  }
  try {
    if (!CheckIn(*store, config, error)) return nullptr;
  } catch (const std::exception& e) {
    std::string cause(e.what());
    *error = "rank 0, which hosts the store, stopped during the rendezvous (" + cause.substr(0, cause.find('\n')) + ")";
    return nullptr;
  }
  auto comm = std::make_unique<GlooCommunicator>(config, store);
  if (!comm->Connect(error)) return nullptr;
  return comm;
}

}  // namespace
}  // namespace tpc

// The module's one entry point (kGlooEntry in gloo_plugin.cc): the caller owns the result.
extern "C" __attribute__((visibility("default"))) tpc::Communicator* tpc_connect_gloo(const tpc::GlooConfig* config,
                                                                                       std::string* error) {
  try {
    return tpc::Connect(*config, error).release();
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
}
