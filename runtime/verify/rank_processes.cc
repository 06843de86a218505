#include "runtime/verify/rank_processes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

extern char** environ;

namespace tpc::verify {
namespace {

constexpr char kMagic[4] = {'T', 'P', 'C', 'R'};

// The dtypes a forward's values can have; anything else in a file is a bad file.
bool KnownType(int t) {
  switch (static_cast<at::ScalarType>(t)) {
    case at::kByte: case at::kChar: case at::kShort: case at::kInt: case at::kLong:
    case at::kHalf: case at::kFloat: case at::kDouble: case at::kBool: case at::kBFloat16:
      return true;
    default:
      return false;
  }
}

void PutBytes(Bytes& b, const void* data, size_t n) {
  size_t at = b.size();
  b.resize(at + n);
  if (n > 0) std::memcpy(b.data() + at, data, n);
}

template <typename T>
void Put(Bytes& b, T v) {
  PutBytes(b, &v, sizeof v);
}

// Reads from bytes front to back; every Take fails once past the end.
struct Reader {
  const Bytes& b;
  size_t at = 0;
  bool Take(void* out, size_t n) {
    if (n > b.size() - at) return false;
    if (n > 0) std::memcpy(out, b.data() + at, n);  // an empty tensor's data may be null
    at += n;
    return true;
  }
};

// A port nobody listens on now: the kernel's pick for a socket bound to 127.0.0.1:0.
int FreePort(std::string* err) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (!ok) *err = std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(errno);
  if (fd >= 0) ::close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

// The last non-empty line of a rank's log, without the "tpc verify: error: " every message starts with.
std::string LastLine(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  const std::string prefix = "tpc verify: error: ";
  if (last.rfind(prefix, 0) == 0) last = last.substr(prefix.size());
  return last;
}

}  // namespace

Bytes EncodeReport(const RankReport& report) {
  Bytes b;
  PutBytes(b, kMagic, sizeof kMagic);
  Put<uint64_t>(b, report.values.size());
  for (const at::Tensor& v : report.values) {
    Put<uint8_t>(b, v.defined());
    if (!v.defined()) continue;
    at::Tensor t = v.contiguous().cpu();
    Put<int8_t>(b, static_cast<int8_t>(t.scalar_type()));
    Put<uint8_t>(b, static_cast<uint8_t>(t.dim()));
    for (int64_t s : t.sizes()) Put<int64_t>(b, s);
    PutBytes(b, t.data_ptr(), t.nbytes());
  }
  // The stop: a flag, then the module, the time and the message of a rank that stopped.
  Put<uint8_t>(b, !report.error.empty());
  if (report.error.empty()) return b;
  Put<int32_t>(b, report.stopped_at);
  Put<int64_t>(b, report.stopped_ns);
  Put<uint64_t>(b, report.error.size());
  PutBytes(b, report.error.data(), report.error.size());
  return b;
}

bool DecodeReport(const Bytes& bytes, RankReport* report, std::string* err) {
  Reader r{bytes};
  char magic[4];
  uint64_t n = 0;
  if (!r.Take(magic, 4) || std::memcmp(magic, kMagic, 4) != 0 || !r.Take(&n, sizeof n) || n > bytes.size())
    return *err = "not a rank's report (no TPCR header)", false;
  *report = RankReport();
  report->values.assign(n, at::Tensor());
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t defined = 0, dim = 0;
    int8_t type = 0;
    if (!r.Take(&defined, 1)) return *err = "truncated at value " + std::to_string(i), false;
    if (!defined) continue;
    if (!r.Take(&type, 1) || !r.Take(&dim, 1)) return *err = "truncated at value " + std::to_string(i), false;
    if (!KnownType(type))
      return *err = "value " + std::to_string(i) + " has unknown dtype " + std::to_string(type), false;
    std::vector<int64_t> sizes(dim);
    for (int64_t& s : sizes)
      if (!r.Take(&s, sizeof s) || s < 0 || s > static_cast<int64_t>(bytes.size()))
        return *err = "value " + std::to_string(i) + " has a bad shape", false;
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(static_cast<at::ScalarType>(type)));
    if (!r.Take(t.data_ptr(), t.nbytes())) return *err = "truncated in value " + std::to_string(i), false;
    report->values[i] = t;
  }
  uint8_t stopped = 0;
  if (!r.Take(&stopped, 1) || stopped > 1) return *err = "no stop flag after the last value", false;
  if (stopped) {
    int32_t at = 0;
    uint64_t len = 0;
    if (!r.Take(&at, sizeof at) || !r.Take(&report->stopped_ns, sizeof report->stopped_ns) || !r.Take(&len, sizeof len))
      return *err = "truncated in the stop", false;
    if (at < -1 || at >= static_cast<int64_t>(n))
      return *err = "the stop names module " + std::to_string(at) + " of " + std::to_string(n), false;
    if (len == 0 || len > bytes.size() - r.at) return *err = "the stop's message is empty or truncated", false;
    report->stopped_at = at;
    report->error.resize(len);
    r.Take(report->error.data(), len);
  }
  if (r.at != bytes.size())
    return *err = "extra data after the stop (" + std::to_string(bytes.size() - r.at) + " bytes)", false;
  return true;
}

std::string RankReportPath(const std::string& dir, int r) { return dir + "/rank" + std::to_string(r) + ".report"; }

std::vector<RankRun> RankRuns(std::vector<RankReport> reports) {
  std::vector<RankRun> runs(reports.size());
  std::vector<size_t> stopped;
  for (size_t r = 0; r < reports.size(); ++r) {
    runs[r].values = std::move(reports[r].values);
    runs[r].error = reports[r].error;
    runs[r].stopped_at = reports[r].stopped_at;
    if (!reports[r].error.empty()) stopped.push_back(r);
  }
  // Ties (the clock's resolution) go to the lower rank, as a rule rather than by chance.
  std::stable_sort(stopped.begin(), stopped.end(),
                   [&](size_t a, size_t b) { return reports[a].stopped_ns < reports[b].stopped_ns; });
  for (size_t i = 0; i < stopped.size(); ++i) runs[stopped[i]].failure = static_cast<int>(i);
  return runs;
}

RankProcesses::~RankProcesses() { KillAll(); }

bool RankProcesses::Start(const std::vector<std::string>& args, int world, const std::string& dir,
                          std::chrono::milliseconds timeout, std::string* err) {
  dir_ = dir;
  timeout_ = timeout;
  deadline_ = std::chrono::steady_clock::now() + timeout;
  char self[PATH_MAX];
  ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return *err = std::string("cannot find this executable: ") + std::strerror(errno), false;
  std::string exe(self, static_cast<size_t>(len));
  int port = FreePort(err);
  if (port == 0) return false;
  // The ranks' environment: this one's, without what would make them another job's ranks (or bind
  // Gloo to an interface other than loopback).
  std::vector<std::string> base;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    std::string name = kv.substr(0, kv.find('='));
    if (name != "RANK" && name != "WORLD_SIZE" && name != "LOCAL_RANK" && name != "MASTER_ADDR" &&
        name != "MASTER_PORT" && name != "GLOO_SOCKET_IFNAME" && name != kParentPidVar)
      base.push_back(kv);
  }
  // The ranks share this machine's cores rather than each taking all of them.
  if (!std::getenv("OMP_NUM_THREADS"))
    base.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1u, std::thread::hardware_concurrency() / world)));
  base.push_back("WORLD_SIZE=" + std::to_string(world));
  base.push_back("MASTER_ADDR=127.0.0.1");
  base.push_back("MASTER_PORT=" + std::to_string(port));
  base.push_back(std::string(kParentPidVar) + "=" + std::to_string(::getpid()));
  std::vector<std::string> argv{exe, kWorkerFlag, dir};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env = base;
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    std::vector<char*> cenv;
    for (std::string& kv : env) cenv.push_back(kv.data());
    cenv.push_back(nullptr);
    std::string log = dir + "/rank" + std::to_string(r) + ".log";
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&files, 1, 2);
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, exe.c_str(), &files, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&files);
    if (rc != 0) return *err = "cannot start rank " + std::to_string(r) + " (" + exe + "): " + std::strerror(rc), false;
    pids_.push_back(pid);
  }
  return true;
}

std::string RankProcesses::Failure(int r, int status) const {
  std::string who = "rank " + std::to_string(r) + " (pid " + std::to_string(pids_[static_cast<size_t>(r)]) + ")";
  if (WIFSIGNALED(status))
    return who + " was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  std::string last = LastLine(dir_ + "/rank" + std::to_string(r) + ".log");
  return who + " exited with status " + std::to_string(WEXITSTATUS(status)) + (last.empty() ? "" : ": " + last);
}

bool RankProcesses::Wait(std::vector<RankReport>* reports, std::string* err) {
  // Polled, not a blocking wait on one rank: a death is seen within a tick whichever rank it is
  // (the others may be blocked on it in a collective until Gloo's own timeout), and so is the deadline.
  // A rank that stopped is no death: the others run on, or fail in a collective once its process
  // has gone (Gloo sees the closed connection), and report too.
  for (;;) {
    bool running = false;
    for (size_t r = 0; r < pids_.size(); ++r) {
      if (pids_[r] == 0) continue;
      int status = 0;
      pid_t got = ::waitpid(pids_[r], &status, WNOHANG);
      if (got == 0) {
        running = true;
        continue;
      }
      if (got < 0 || !WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != kRankStopped)) {
        *err = got < 0 ? "rank " + std::to_string(r) + ": waitpid: " + std::strerror(errno)
                       : Failure(static_cast<int>(r), status);
        pids_[r] = 0;
        KillAll();
        return false;
      }
      pids_[r] = 0;
    }
    if (!running) break;
    if (std::chrono::steady_clock::now() >= deadline_) {
      std::string ranks;
      for (size_t r = 0; r < pids_.size(); ++r)
        if (pids_[r] != 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
      *err = (ranks.find(',') == std::string::npos ? "rank " : "ranks ") + ranks + " did not finish within " +
             std::to_string(timeout_.count() / 1000) + " s (--timeout); killed";
      KillAll();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  reports->assign(pids_.size(), {});
  for (size_t r = 0; r < pids_.size(); ++r) {
    std::string path = RankReportPath(dir_, static_cast<int>(r));
    std::ifstream in(path, std::ios::binary);
    std::string why = "cannot open it";
    Bytes bytes;
    if (in) bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in || !DecodeReport(bytes, &(*reports)[r], &why))
      return *err = "rank " + std::to_string(r) + "'s report '" + path + "': " + why, false;
  }
  return true;
}

void RankProcesses::KillAll() {
  for (pid_t& pid : pids_) {
    if (pid == 0) continue;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = 0;
  }
}

}  // namespace tpc::verify
