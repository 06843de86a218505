// tpc verify --processes: the sharded forward's ranks as processes of this executable, each one
// rank of a Gloo group on loopback. The parent does not join the group: it starts the ranks, waits
// for them, and reads back from the scratch directory it gave them what each computed. A rank whose
// forward stops (a shape the plan breaks) reports where and why, and exits: a peer blocked on it in
// a collective then fails too, and reports. A rank that fails otherwise or dies is named, and the
// others are killed, so that nothing waits on a dead peer.
#ifndef TPC_RUNTIME_VERIFY_RANK_PROCESSES_H_
#define TPC_RUNTIME_VERIFY_RANK_PROCESSES_H_

#include <ATen/ATen.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "runtime/communicator.h"
#include "runtime/verify/sharded_forward.h"

namespace tpc::verify {

/// The hidden first argument of a rank process: `tpc-verify --worker DIR FLAGS...`.
inline constexpr const char* kWorkerFlag = "--worker";
/// Set in a rank process to its parent's pid: the rank ends when that parent does.
inline constexpr const char* kParentPidVar = "TPC_VERIFY_PARENT_PID";

/// The exit status of a rank process whose forward stopped after writing its report: not a crash.
inline constexpr int kRankStopped = 4;

/// What a rank process hands back: what it computed, and where and why its forward stopped.
struct RankReport {
  std::vector<at::Tensor> values;  ///< per module id; undefined from the module it stopped at
  std::string error;               ///< why its forward stopped, "" when it finished
  int stopped_at = -1;             ///< the module id it stopped at, -1 when it finished or before any
  /// When it stopped, in steady_clock nanoseconds: CLOCK_MONOTONIC on Linux, one clock for every
  /// process of the machine, so the ranks' stops can be put in order.
  int64_t stopped_ns = 0;
};

/// A report as bytes: per value (undefined ones too) its dtype, shape and data, then the stop.
Bytes EncodeReport(const RankReport& report);
/// EncodeReport's inverse; false with `err` on bytes it did not write (truncated, an unknown dtype).
bool DecodeReport(const Bytes& bytes, RankReport* report, std::string* err);

/// Where rank `r` of a run in `dir` writes its report.
std::string RankReportPath(const std::string& dir, int r);

/// The ranks' runs from their reports (in rank order): a stopped rank's `failure` is its place in
/// the order of stop times, 0 for the earliest (the cause: the others stopped waiting on it).
std::vector<RankRun> RankRuns(std::vector<RankReport> reports);

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

  /// Waits for every rank to finish (exit 0) or stop (kRankStopped) and reads its report. False
  /// with `err` naming the first rank that failed otherwise (its exit status and the last line of
  /// its log, or the signal that killed it) or the ranks still running at the timeout; every other
  /// rank is killed first.
  bool Wait(std::vector<RankReport>* reports, std::string* err);

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
