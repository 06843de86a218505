// How the ranks of `tpc-run load` exchange bytes. One interface, one implementation per transport:
// in-process threads for tests (here), Gloo over TCP (gloo_communicator.h, when built with LibTorch),
// and later NCCL, which plugs in behind the same interface with device buffers.
#ifndef TPC_RUNTIME_COMMUNICATOR_H_
#define TPC_RUNTIME_COMMUNICATOR_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace tpc {

using Bytes = std::vector<uint8_t>;

/// Byte collectives among `world_size()` ranks. Every call blocks until it is done, fails, or the
/// timeout passes; a failure returns false with `error` naming the rank at fault when it is known
/// ("rank 1 did not arrive within 10 s"). After a failure the communicator is not used again.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// `bytes` of `root` into `bytes` of every rank (its size included).
  virtual bool Broadcast(Bytes* bytes, int root, std::string* error) = 0;
  /// `bytes` to `peer`, which receives them with Recv in the same order.
  virtual bool Send(std::span<const uint8_t> bytes, int peer, std::string* error) = 0;
  virtual bool Recv(Bytes* bytes, int peer, std::string* error) = 0;
  /// Every rank's `bytes` (sizes may differ) in rank order.
  virtual bool AllGather(std::span<const uint8_t> bytes, std::vector<Bytes>* out, std::string* error) = 0;
  virtual bool Barrier(std::string* error) = 0;
};

/// What the threads of an InProcessCommunicator share.
class InProcessHub;

/// One rank of N threads in one process: messages are copied through a shared hub. A rank that never
/// makes a call the others wait for ends them with an error naming it after `timeout`.
class InProcessCommunicator : public Communicator {
 public:
  /// The communicators of `world` ranks on one hub; give one to each thread.
  static std::vector<std::unique_ptr<InProcessCommunicator>> Create(int world, std::chrono::milliseconds timeout);
  InProcessCommunicator(std::shared_ptr<InProcessHub> hub, int rank);
  int rank() const override { return rank_; }
  int world_size() const override;
  bool Broadcast(Bytes* bytes, int root, std::string* error) override;
  bool Send(std::span<const uint8_t> bytes, int peer, std::string* error) override;
  bool Recv(Bytes* bytes, int peer, std::string* error) override;
  bool AllGather(std::span<const uint8_t> bytes, std::vector<Bytes>* out, std::string* error) override;
  bool Barrier(std::string* error) override;
  /// This rank makes no more calls (it failed): the others' calls waiting on it fail at once,
  /// naming it and `why`, instead of at the timeout.
  void Leave(const std::string& why);

 private:
  std::shared_ptr<InProcessHub> hub_;
  int rank_;
  uint64_t round_ = 0;  // this rank's count of collective calls
};

}  // namespace tpc

#endif  // TPC_RUNTIME_COMMUNICATOR_H_
