// The NCCL DeviceComm of libtpc_nccl.so. The 128-byte unique id goes through the TCPStore that rank 0's
// Gloo communicator hosts (rank 0 sets it, the others wait for it), as ProcessGroupNCCL does. The
// communicator is non-blocking: every wait polls ncclCommGetAsyncError and the stream, and reads the
// Gloo heartbeats in the store, so a rank that stops is named and the communicator aborted instead
// of NCCL's default of waiting forever.
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <map>
#include <thread>

#include "runtime/cuda_check.h"
#include "runtime/cuda_device.h"

namespace tpc {
namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
constexpr const char* kIdKey = "tpc/nccl/id";
constexpr Ms kStalled{3000};  // a heartbeat (gloo_communicator.cc: every 500 ms) missing this long: stopped

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

class NcclComm : public DeviceComm {
 public:
  NcclComm(const NcclConfig& c, CudaDevice& dev, c10::intrusive_ptr<c10d::TCPStore> store)
      : c_(c), dev_(dev), store_(std::move(store)) {}
  ~NcclComm() override {
    // Local and immediate: a finalize would wait for peers that may be gone.
    if (comm_) ncclCommAbort(comm_);
  }

  bool Init(std::string* error) {
    ncclUniqueId id;
    std::vector<uint8_t> value;
    try {
      if (c_.rank == 0) {
        std::string made;
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess) made = "ncclGetUniqueId: " + NcclText(r);
        value = made.empty() ? std::vector<uint8_t>(id.internal, id.internal + sizeof id.internal)
                             : std::vector<uint8_t>(made.begin(), made.end());
        store_->set(kIdKey, value);
        if (!made.empty()) return *error = made, false;
      } else {
        value = store_->get(kIdKey);  // waits up to the store's timeout
      }
    } catch (const std::exception& e) {
      *error = "the NCCL id did not arrive from rank 0 (" + FirstLine(e.what()) + ")";
      return false;
    }
    if (value.size() != sizeof id.internal) {
      *error = "rank 0 could not make the NCCL id: " + std::string(value.begin(), value.end());
      return false;
    }
    std::copy(value.begin(), value.end(), id.internal);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    TPC_CUDA_CHECK(cudaSetDevice(dev_.index()));
    TPC_NCCL_CHECK(ncclCommInitRankConfig(&comm_, c_.world_size, id, c_.rank, &config));
    return Await("NCCL initialization", false, error);
  }

  bool Exchange(const std::vector<DeviceTransfer>& transfers, std::string* error) override {
    if (!Enqueue(error, [&] {
          ncclResult_t r = ncclGroupStart();
          for (const DeviceTransfer& t : transfers) {
            if (r != ncclSuccess || t.bytes == 0) continue;
            r = t.send ? ncclSend(t.data, t.bytes, ncclUint8, t.peer, comm_, dev_.stream())
                       : ncclRecv(t.data, t.bytes, ncclUint8, t.peer, comm_, dev_.stream());
          }
          ncclResult_t end = ncclGroupEnd();
          return r != ncclSuccess ? r : end;
        }))
      return false;
    return Await(transfers.empty() || transfers[0].send ? "NCCL send" : "NCCL receive", true, error);
  }

  bool AllGather(const void* send, void* recv, uint64_t bytes, std::string* error) override {
    if (!Enqueue(error, [&] { return ncclAllGather(send, recv, bytes, ncclUint8, comm_, dev_.stream()); }))
      return false;
    return Await("NCCL all-gather", true, error);
  }

 private:
  template <typename Fn>
  bool Enqueue(std::string* error, Fn fn) {
    if (!comm_) return *error = "the NCCL communicator was aborted after an earlier failure", false;
    ncclResult_t r = fn();
    if (r == ncclSuccess || r == ncclInProgress) return true;
    *error = "NCCL: " + NcclText(r);
    Abort();
    return false;
  }

  void Abort() {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  // Until the communicator has no work in progress (and, with `stream`, the stream is done), an
  // error, a rank whose heartbeat stopped, or the timeout.
  bool Await(const std::string& what, bool stream, std::string* error) {
    auto deadline = Clock::now() + c_.timeout;
    auto next_check = Clock::now() + Ms(500);
    for (int spins = 0;; ++spins) {
      ncclResult_t state = ncclSuccess;
      ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
      if (r != ncclSuccess) state = r;
      if (state != ncclSuccess && state != ncclInProgress) {
        *error = what + " failed: " + NcclText(state) + Stopped();
        return Abort(), false;
      }
      if (state == ncclSuccess) {
        cudaError_t q = stream ? cudaStreamQuery(dev_.stream()) : cudaSuccess;
        if (q == cudaSuccess) return true;
        if (q != cudaErrorNotReady) {
          *error = what + " failed: " + cudaGetErrorString(q);
          return Abort(), false;
        }
      }
      auto now = Clock::now();
      if (now >= next_check) {
        next_check = now + Ms(500);
        std::string stopped = Stopped();
        if (!stopped.empty() || now >= deadline) {
          *error = what + (stopped.empty() ? " did not finish within " + std::to_string(c_.timeout.count() / 1000) +
                                                 " s"
                                           : " failed:" + stopped);
          return Abort(), false;
        }
      }
      if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // " rank 2 stopped" when a rank's heartbeat has not moved for kStalled, "" otherwise.
  std::string Stopped() {
    auto now = Clock::now();
    try {
      std::string names;
      for (int r = 0; r < c_.world_size; ++r) {
        if (r == c_.rank) continue;
        int64_t beat = store_->add("tpc/alive/" + std::to_string(r), 0);
        auto [it, fresh] = beats_.try_emplace(r, beat, now);
        if (fresh || it->second.first != beat) it->second = {beat, now};
        else if (now - it->second.second >= kStalled) names += (names.empty() ? "" : ", ") + std::to_string(r);
      }
      if (names.empty()) return "";
      return std::string(names.find(',') == std::string::npos ? " rank " : " ranks ") + names + " stopped";
    } catch (const std::exception&) {
      return c_.rank == 0 ? "" : " rank 0, which hosts the store, stopped";
    }
  }

  NcclConfig c_;
  CudaDevice& dev_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  ncclComm_t comm_ = nullptr;
  std::map<int, std::pair<int64_t, Clock::time_point>> beats_;  // rank: last heartbeat count, when it changed
};

}  // namespace
}  // namespace tpc

extern "C" __attribute__((visibility("default"))) tpc::DeviceComm* tpc_connect_nccl(const tpc::NcclConfig* config,
                                                                                     tpc::Device* device,
                                                                                     std::string* error) {
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(config->master_port);
    o.isServer = false;
    o.waitWorkers = false;
    o.timeout = config->timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(config->master_addr, o);
    auto comm = std::make_unique<tpc::NcclComm>(*config, static_cast<tpc::CudaDevice&>(*device), store);
    if (!comm->Init(error)) return nullptr;
    return comm.release();
  } catch (const std::exception& e) {
    *error = "cannot reach the store at " + config->master_addr + ":" + std::to_string(config->master_port) + " (" +
             tpc::FirstLine(e.what()) + ")";
    return nullptr;
  }
}
