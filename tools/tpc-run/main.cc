// tpc-run: applies a compiled program to real weights. All work lives in the runtime library; this
// parses flags (a small table in the style of tpc's) and dispatches.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/load_command.h"
#include "runtime/shard_command.h"
#ifdef TPC_WITH_TORCH
#include "runtime/gloo_communicator.h"
#endif
#include "runtime/device.h"
#include "support/exit_code.h"
#include "support/limits.h"
#include "support/strings.h"

namespace {

constexpr const char* kUsage =
    "usage: tpc-run shard --program P --weights DIR --out OUT [--ranks A-B] [--jobs N] [--format text|json]\n"
    "       tpc-run load --program P --weights DIR [--device cpu|cuda] [--source local|root]\n"
    "                    [--verify none|checksum|gather] [--manifest M] [--timeout S] [--format text|json]\n"
    "       tpc-run help\n"
    "\n"
    "shard   writes OUT/rank<r>.safetensors (each rank's slices of every stored tensor, as the program\n"
    "        places them) and OUT/manifest.json, all at once; rank files already matching the manifest\n"
    "        are kept\n"
    "\n"
    "  --program P        a program.json compiled with tpc compile --model CHECKPOINT_DIR\n"
    "  --weights DIR      the checkpoint directory it was compiled from\n"
    "  --out OUT          the output directory, created when missing\n"
    "  --ranks A-B        only ranks A to B (or one rank A; default all)\n"
    "  --jobs N           copy threads (default: one per hardware thread)\n"
    "  --format text|json a one-line summary (default) or a JSON one on stdout\n"
    "\n"
    "load    one rank of a torchrun job (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK; WORLD_SIZE\n"
    "        must be the program's tp) loads its slices of every stored tensor over Gloo; rank 0 prints\n"
    "        every rank's bytes, seconds and GB/s\n"
    "\n"
    "  --source local     each rank reads its own slices from DIR (default)\n"
    "  --source root      rank 0 reads every rank's slices and sends them\n"
    "  --verify checksum  each rank's SHA-256 against rank 0's reading of the checkpoint, or against\n"
    "                     --manifest M (the manifest.json of tpc-run shard)\n"
    "  --verify gather    every tensor gathered from all ranks and compared with the checkpoint\n"
    "  --timeout S        seconds to wait for another rank (default 300)\n"
    "  --device cpu       host memory (default)\n"
    "  --device cuda      the memory of GPU LOCAL_RANK, staged through pinned buffers; --source root and\n"
    "                     --verify gather go through NCCL\n";

int Usage(const std::string& message) {
  std::cerr << "tpc-run: " << message << "\nrun 'tpc-run help' for usage\n";
  return tpc::kExitUsage;
}

// A non-negative integer of at most `max`, or -1.
long ParseCount(const std::string& s, long max) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  long n = std::stol(s);
  return n <= max ? n : -1;
}

struct Flag {
  std::string name;
  std::function<std::string(const std::string&)> apply;  // "" or the usage message
};

// Applies `flags` to `args` (--name value or --name=value): -1 when all applied, else an exit code.
int ParseFlags(const std::vector<std::string>& args, const std::vector<Flag>& flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") return std::cout << kUsage, static_cast<int>(tpc::kExitOk);
    size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq);
    const Flag* flag = nullptr;
    std::vector<std::string> names;
    for (const Flag& f : flags) {
      names.push_back(f.name);
      if (f.name == name) flag = &f;
    }
    if (!flag) {
      std::string near = tpc::DidYouMean(name, names);
      return Usage("unknown argument '" + arg + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
    std::string value;
    if (eq != std::string::npos) value = arg.substr(eq + 1);
    else if (i + 1 < args.size()) value = args[++i];
    else return Usage(name + " needs a value");
    if (std::string problem = flag->apply(value); !problem.empty()) return Usage(problem);
  }
  return -1;
}

int Shard(const std::vector<std::string>& args) {
  tpc::ShardRequest req;
  auto string_flag = [](std::string* target) {
    return [target](const std::string& v) { return *target = v, std::string(); };
  };
  std::vector<Flag> flags = {
      {"--program", string_flag(&req.program)},
      {"--weights", string_flag(&req.weights)},
      {"--out", string_flag(&req.out)},
      {"--ranks",
       [&req](const std::string& v) -> std::string {
         size_t dash = v.find('-');
         long a = ParseCount(v.substr(0, dash), tpc::limits::kMaxTp);
         long b = dash == std::string::npos ? a : ParseCount(v.substr(dash + 1), tpc::limits::kMaxTp);
         if (a < 0 || b < 0 || b < a) return "--ranks takes A-B or A, ranks from 0 with A <= B, got '" + v + "'";
         req.first = static_cast<int>(a);
         req.last = static_cast<int>(b);
         return "";
       }},
      {"--jobs",
       [&req](const std::string& v) -> std::string {
         long n = ParseCount(v, 4096);
         if (n < 1) return "--jobs takes a positive integer up to 4096, got '" + v + "'";
         req.jobs = static_cast<int>(n);
         return "";
       }},
      {"--format",
       [&req](const std::string& v) -> std::string {
         if (v != "text" && v != "json") return "--format takes text or json, got '" + v + "'";
         req.json = v == "json";
         return "";
       }},
  };
  if (int code = ParseFlags(args, flags); code >= 0) return code;
  if (req.program.empty()) return Usage("shard needs --program P (a program.json)");
  if (req.weights.empty()) return Usage("shard needs --weights DIR (the checkpoint directory)");
  if (req.out.empty()) return Usage("shard needs --out OUT (the output directory)");
  req.progress = isatty(STDERR_FILENO);
  return tpc::RunShardCommand(req, std::cout, std::cerr);
}

int Load(const std::vector<std::string>& args) {
  tpc::LoadRequest req;
  std::string device = "cpu";
  auto string_flag = [](std::string* target) {
    return [target](const std::string& v) { return *target = v, std::string(); };
  };
  std::vector<Flag> flags = {
      {"--program", string_flag(&req.program)},
      {"--weights", string_flag(&req.weights)},
      {"--manifest", string_flag(&req.options.manifest)},
      {"--device",
       [&device](const std::string& v) -> std::string {
         if (v != "cpu" && v != "cuda") return "--device takes cpu or cuda, got '" + v + "'";
         return device = v, "";
       }},
      {"--source",
       [&req](const std::string& v) -> std::string {
         if (v != "local" && v != "root") return "--source takes local or root, got '" + v + "'";
         req.options.source = v == "root" ? tpc::LoadOptions::Source::kRoot : tpc::LoadOptions::Source::kLocal;
         return "";
       }},
      {"--verify",
       [&req](const std::string& v) -> std::string {
         using V = tpc::LoadOptions::Verify;
         if (v != "none" && v != "checksum" && v != "gather")
           return "--verify takes none, checksum or gather, got '" + v + "'";
         req.options.verify = v == "checksum" ? V::kChecksum : v == "gather" ? V::kGather : V::kNone;
         return "";
       }},
      {"--timeout",
       [&req](const std::string& v) -> std::string {
         long n = ParseCount(v, tpc::limits::kMaxLoadTimeoutSeconds);
         if (n < 1)
           return "--timeout takes seconds from 1 to " + std::to_string(tpc::limits::kMaxLoadTimeoutSeconds) +
                  ", got '" + v + "'";
         return req.timeout_seconds = static_cast<int>(n), "";
       }},
      {"--format",
       [&req](const std::string& v) -> std::string {
         if (v != "text" && v != "json") return "--format takes text or json, got '" + v + "'";
         return req.json = v == "json", "";
       }},
  };
  if (int code = ParseFlags(args, flags); code >= 0) return code;
  if (req.program.empty()) return Usage("load needs --program P (a program.json)");
  if (req.weights.empty()) return Usage("load needs --weights DIR (the checkpoint directory)");
  if (!req.options.manifest.empty() && req.options.verify != tpc::LoadOptions::Verify::kChecksum)
    return Usage("--manifest is what --verify checksum compares with; add --verify checksum");
  req.cuda = device == "cuda";
#ifndef TPC_WITH_CUDA
  if (req.cuda) {
    std::cerr << "tpc-run: error: --device cuda: this tpc-run was built without CUDA/NCCL support; use --device cpu\n";
    return tpc::kExitUsage;
  }
#endif
#ifndef TPC_WITH_TORCH
  std::cerr << "tpc-run: error: load: this tpc-run was built without LibTorch (Gloo); install libtorch-dev and "
               "libgloo-dev (tools/setup.sh) and configure again with TPC_WITH_TORCH=ON\n";
  return tpc::kExitUsage;
#else
  tpc::RankEnv env;
  std::string problem;
  if (!tpc::ReadRankEnv([](const char* name) { return std::getenv(name); }, &env, &problem)) {
    std::cerr << "tpc-run: error: " << problem << "\n";
    return tpc::kExitUsage;
  }
  auto connect = [](const tpc::RankEnv& e, std::chrono::milliseconds timeout, std::string* error) {
    return tpc::ConnectGloo({e.master_addr, e.master_port, e.rank, e.world_size, timeout}, error);
  };
#ifdef TPC_WITH_CUDA
  tpc::CudaHooks cuda{[](int local_rank, std::string* error) { return tpc::OpenCudaDevice(local_rank, error); },
                      [](const tpc::RankEnv& e, std::chrono::milliseconds timeout, tpc::Device& d, std::string* error) {
                        return tpc::ConnectNccl({e.master_addr, e.master_port, e.rank, e.world_size, timeout}, d, error);
                      }};
  return tpc::RunLoadCommand(req, env, connect, std::cout, std::cerr, &cuda);
#else
  return tpc::RunLoadCommand(req, env, connect, std::cout, std::cerr);
#endif
#endif
}

int Dispatch(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("no command given; the commands are shard, load and help");
  const std::string& cmd = args[0];
  if (cmd == "help" || cmd == "-h" || cmd == "--help") return std::cout << kUsage, tpc::kExitOk;
  if (cmd == "shard") return Shard(std::vector<std::string>(args.begin() + 1, args.end()));
  if (cmd == "load") return Load(std::vector<std::string>(args.begin() + 1, args.end()));
  std::string near = tpc::DidYouMean(cmd, {"shard", "load", "help"});
  return Usage("unknown command '" + cmd + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (RLIMIT_FSIZE) makes write fail with EFBIG, reported like a full disk,
  // instead of killing the process with SIGXFSZ halfway through a file.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    int code = Dispatch(std::vector<std::string>(argv + 1, argv + argc));
    std::cout.flush();
    if (!std::cout) {
      std::cerr << "tpc-run: cannot write standard output\n";
      return code > tpc::kExitUsage ? code : tpc::kExitUsage;
    }
    return code;
  } catch (const std::exception& e) {
    std::cerr << "tpc-run: internal error: " << e.what() << "\n";
    return tpc::kExitInternal;
  }
}
