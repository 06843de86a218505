// tpc verify --processes: the sharded forward's ranks as processes of this executable, each one
// rank of a Gloo group on loopback. The parent does not join the group: it starts the ranks, waits
// for them, names the first one that fails or dies (killing the others, so that nothing waits on
// a dead peer), and reads back what each computed from the scratch directory it gave them.
#ifndef TPC_RUNTIME_VERIFY_RANK_PROCESSES_H_
#define TPC_RUNTIME_VERIFY_RANK_PROCESSES_H_

#include <ATen/ATen.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "runtime/communicator.h"

namespace tpc::verify {

/// The hidden first argument of a rank process: `tpc-verify --worker DIR FLAGS...`.
inline constexpr const char* kWorkerFlag = "--worker";
/// Set in a rank process to its parent's pid: the rank ends when that parent does.
inline constexpr const char* kParentPidVar = "TPC_VERIFY_PARENT_PID";

/// Every tensor of `values` (undefined ones too) as bytes: per tensor its dtype, shape and data.
Bytes EncodeValues(const std::vector<at::Tensor>& values);
/// EncodeValues' inverse; false with `err` on bytes it did not write (truncated, an unknown dtype).
bool DecodeValues(const Bytes& bytes, std::vector<at::Tensor>* values, std::string* err);

/// Where rank `r` of a run in `dir` writes its values.
std::string RankValuesPath(const std::string& dir, int r);

/// The rank processes of one run; any still running when it goes are killed.
class RankProcesses {
 public:
  RankProcesses() = default;
  RankProcesses(const RankProcesses&) = delete;
  RankProcesses& operator=(const RankProcesses&) = delete;
  ~RankProcesses();

  /// Starts `world` processes of this executable as `--worker DIR ARGS...`, rank r with torchrun's
  /// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR (127.0.0.1) and a free MASTER_PORT, its stdout and
  /// stderr going to DIR/rank<r>.log. `timeout` bounds the whole run, from now to Wait's end.
  bool Start(const std::vector<std::string>& args, int world, const std::string& dir,
             std::chrono::milliseconds timeout, std::string* err);

  /// Waits for every rank to exit 0 and reads its values. False with `err` naming the first rank
  /// that failed (its exit status and the last line of its log, or the signal that killed it) or
  /// the ranks still running at the timeout; every other rank is killed first.
  bool Wait(std::vector<std::vector<at::Tensor>>* values, std::string* err);

 private:
  void KillAll();
  std::string Failure(int r, int status) const;

  std::string dir_;
  std::vector<pid_t> pids_;  // by rank; 0 once reaped
  std::chrono::milliseconds timeout_{0};
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_RANK_PROCESSES_H_
