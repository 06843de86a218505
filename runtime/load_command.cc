#include "runtime/load_command.h"

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <nlohmann/json.hpp>
#include <ostream>

#include "ir/program_json.h"
#include "runtime/command_output.h"
#include "support/exit_code.h"
#include "support/limits.h"

namespace tpc {
namespace {

// A decimal integer in [lo, hi], or false.
bool ParseInt(const char* s, long lo, long hi, int* out) {
  std::string t(s);
  if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) return false;
  long v = std::stol(t);
  if (v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}


const char* SourceName(LoadOptions::Source s) { return s == LoadOptions::Source::kRoot ? "root" : "local"; }

const char* VerifyName(LoadOptions::Verify v) {
  switch (v) {
    case LoadOptions::Verify::kChecksum: return "checksum";
    case LoadOptions::Verify::kGather: return "gather";
    default: return "none";
  }
}

struct RankStats {
  int tensors = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double verify_seconds = 0;
  std::string sha256;
};

void Report(const LoadRequest& req, const std::vector<RankStats>& ranks, std::ostream& out) {
  uint64_t total = 0;
  double slowest = 0;
  for (const RankStats& k : ranks) total += k.bytes, slowest = std::max(slowest, k.seconds);
  const char* verify = VerifyName(req.options.verify);
  if (req.json) {
    nlohmann::ordered_json j;
    j["ok"] = true;
    j["world_size"] = ranks.size();
    j["device"] = req.cuda ? "cuda" : "cpu";
    j["source"] = SourceName(req.options.source);
    j["verify"] = verify;
    j["bytes"] = total;
    j["seconds"] = slowest;
    j["gbps"] = GigabytesPerSecond(total, slowest);
    j["ranks"] = nlohmann::ordered_json::array();
    for (size_t r = 0; r < ranks.size(); ++r) {
      const RankStats& k = ranks[r];
      nlohmann::ordered_json row = {{"rank", r}, {"tensors", k.tensors}, {"bytes", k.bytes}, {"seconds", k.seconds},
                                    {"gbps", GigabytesPerSecond(k.bytes, k.seconds)}, {"verify_seconds", k.verify_seconds}};
      if (!k.sha256.empty()) row["sha256"] = k.sha256;
      j["ranks"].push_back(row);
    }
    out << j.dump(2) << "\n";
    return;
  }
  char line[160];
  out << "rank  tensors           bytes   seconds    GB/s\n";
  for (size_t r = 0; r < ranks.size(); ++r) {
    const RankStats& k = ranks[r];
    std::snprintf(line, sizeof line, "%4zu  %7d  %14llu  %8.3f  %6.2f\n", r, k.tensors,
                  static_cast<unsigned long long>(k.bytes), k.seconds, GigabytesPerSecond(k.bytes, k.seconds));
    out << line;
  }
  std::snprintf(line, sizeof line, "%.3f GB in %.3f s, %.2f GB/s", static_cast<double>(total) / 1e9, slowest,
                GigabytesPerSecond(total, slowest));
  out << "loaded " << ranks.size() << " ranks from " << req.weights << " (--source " << SourceName(req.options.source)
      << (req.cuda ? ", --device cuda, " : ", ") << line << ")";
  if (req.options.verify != LoadOptions::Verify::kNone) out << "; --verify " << verify << ": every byte matches";
  out << "\n";
}

}  // namespace

bool ReadRankEnv(const std::function<const char*(const char*)>& get, RankEnv* env, std::string* error) {
  auto need = [&](const char* name, const char** value) {
    *value = get(name);
    if (*value && **value) return true;
    *error = std::string(name) + " is not set; tpc-run load runs under torchrun (or with MASTER_ADDR, MASTER_PORT, "
             "RANK, WORLD_SIZE and LOCAL_RANK set)";
    return false;
  };
  auto number = [&](const char* name, long lo, long hi, int* out) {
    const char* v = nullptr;
    if (!need(name, &v)) return false;
    if (ParseInt(v, lo, hi, out)) return true;
    *error = std::string(name) + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
             ", got '" + v + "'";
    return false;
  };
  const char* addr = nullptr;
  if (!need("MASTER_ADDR", &addr)) return false;
  env->master_addr = addr;
  if (!number("MASTER_PORT", 1, 65535, &env->master_port)) return false;
  if (!number("WORLD_SIZE", 1, limits::kMaxTp, &env->world_size)) return false;
  if (!number("RANK", 0, env->world_size - 1, &env->rank)) return false;
  return number("LOCAL_RANK", 0, env->world_size - 1, &env->local_rank);
}

int RunLoadCommand(const LoadRequest& req, const RankEnv& env, const ConnectFn& connect, std::ostream& out,
                   std::ostream& err, const CudaHooks* cuda) {
  SourceManager sources;
  Diagnostics diags(sources);
  std::optional<Program> program = ReadProgramJson(req.program, diags);
  if (!program) return RenderRunDiagnostics(diags, err), kExitUsage;
  if (env.world_size != program->tp) {
    diags.Report(DiagId::kLoadWorldSize, {sources.AddPath(req.program), 0, 0, 0},
                 {std::to_string(env.world_size), req.program, std::to_string(program->tp)});
    return RenderRunDiagnostics(diags, err), kExitUsage;
  }
  std::string error;
  std::unique_ptr<Device> device;
  if (req.cuda && cuda) device = cuda->open(env.local_rank, &error);
  if (req.cuda && !device) {
    if (!cuda) error = "this tpc-run was built without CUDA/NCCL support; use --device cpu";
    diags.Report(DiagId::kLoadRankFailed, {sources.AddPath(req.program), 0, 0, 0}, {std::to_string(env.rank), error});
    return RenderRunDiagnostics(diags, err), kExitUsage;
  }
  auto timeout = std::chrono::milliseconds(std::chrono::seconds(req.timeout_seconds));
  std::unique_ptr<Communicator> comm = connect(env, timeout, &error);
  std::unique_ptr<DeviceComm> device_comm;
  if (comm && device && !(device_comm = cuda->connect(env, timeout, *device, &error))) (void)comm.release();
  if (!comm) {
    diags.Report(DiagId::kLoadCommFailed, {}, {std::to_string(env.rank), error});
    return RenderRunDiagnostics(diags, err), kExitUsage;
  }
  // Tests only: hold this rank between the rendezvous and the load, so that a test can kill it
  // while the others wait on it, however fast the load itself would be.
  if (const char* ms = std::getenv("TPC_RUN_TEST_PAUSE_AFTER_CONNECT_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(ms)));
  LoadOptions opts = req.options;
  opts.program_path = req.program;
  opts.device = device.get();
  opts.device_comm = device_comm.get();
  LoadedShards loaded;
  bool ok = LoadShards(*program, req.weights, *comm, opts, &loaded, diags);
  std::vector<Bytes> stats;
  if (ok) {
    std::string mine = nlohmann::json{loaded.tensors.size(), loaded.bytes, loaded.seconds, loaded.verify_seconds,
                                      loaded.sha256}.dump();
    if (!comm->AllGather(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(mine.data()), mine.size()), &stats,
                         &error)) {
      diags.Report(DiagId::kLoadCommFailed, {}, {std::to_string(env.rank), error});
      ok = false;
    }
  }
  if (!ok) {
    RenderRunDiagnostics(diags, err);
    bool wrong_bytes = false;
    for (const Diagnostic& d : diags.all()) wrong_bytes |= d.id == DiagId::kLoadVerifyFailed;
    // A peer may be gone: the group's teardown could wait on it, so the process ends without it.
    (void)comm.release();
    (void)device_comm.release();
    (void)device.release();
    return wrong_bytes ? kExitErrors : kExitUsage;
  }
  if (env.rank == 0) {
    std::vector<RankStats> ranks;
    for (const Bytes& b : stats) {
      nlohmann::json j = nlohmann::json::parse(b.begin(), b.end());
      ranks.push_back({j[0].get<int>(), j[1].get<uint64_t>(), j[2].get<double>(), j[3].get<double>(),
                       j[4].get<std::string>()});
    }
    Report(req, ranks, out);
  }
  return kExitOk;
}

}  // namespace tpc
