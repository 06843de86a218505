// tpc-verify: `tpc verify`, in its own executable because it links LibTorch, which tpc never loads;
// tpc hands `verify` and its arguments to the tpc-verify beside it.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "runtime/verify/rank_processes.h"
#include "runtime/verify/verify_command.h"
#include "support/exit_code.h"
#include "support/limits.h"
#include "tpc/flags.h"

namespace {

namespace cli = tpc::cli;

int Usage(const std::string& message) {
  std::cerr << "tpc verify: " << message << "\nrun 'tpc verify --help' for usage\n";
  return tpc::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  tpc::verify::VerifyRequest req;
  cli::InputState in;
  std::string format = "text", dtype = "fp32";
  cli::FlagTable table;
  table.input = cli::InputFlags(req, in, /*model_required=*/true);
  table.own = {
      cli::TpFlag(&req.tp),
      cli::SpFlag(&req.sequence_parallel),
      cli::KvReplicationFlag(&req.kv_replication),
      cli::PositiveIntFlag("--tokens", "T", "tokens per sequence of the batch of 2 (default 16)", 1 << 16,
                           [&](long v) { req.tokens = static_cast<int>(v); }),
      {{"--dtype"}, "fp32|fp64", "the arithmetic of both forwards (default fp32)",
       [&](const std::string& v) -> std::string {
         if (v != "fp32" && v != "fp64") return "--dtype takes fp32 or fp64, got '" + v + "'";
         req.dtype = v;
         return "";
       }},
      {{"--tolerance"}, "X", "the largest relative error that passes (default 1e-4)",
       [&](const std::string& v) -> std::string {
         char* end = nullptr;
         double x = std::strtod(v.c_str(), &end);
         if (v.empty() || *end || !(x > 0 && x < 1)) return "--tolerance takes a number in (0, 1), got '" + v + "'";
         req.tolerance = x;
         return "";
       }},
      cli::Switch("--random-weights", "--model is a config: make deterministic weights for it", &req.random_weights),
      cli::Switch("--shrink", "scale the config down first (few layers, small widths; heads and every "
                  "divisibility by --tp kept); implies --random-weights", &req.shrink),
      cli::PositiveIntFlag("--seed", "N", "the random weights' seed (default 0)", 1L << 62,
                           [&](long v) { req.seed = static_cast<uint64_t>(v); }),
      cli::Switch("--processes", "run the ranks as processes of their own over Gloo on loopback (default: threads "
                  "of this one); under torchrun, this process is the rank RANK", &req.processes),
      cli::PositiveIntFlag("--timeout", "S", "with --processes, seconds the ranks may take in all, and any one "
                           "collective (default 300)", tpc::limits::kMaxLoadTimeoutSeconds,
                           [&](long v) { req.timeout_seconds = static_cast<int>(v); }),
      {{"--format"}, "text|json", "how to write the report (default text)",
       [&](const std::string& v) -> std::string {
         if (v != "text" && v != "json") return "--format takes text or json, got '" + v + "'";
         req.json = v == "json";
         return "";
       }},
  };
  std::vector<std::string> args(argv + 1, argv + argc);
  // A rank process of --processes: `--worker DIR` ahead of the flags its parent was given.
  std::string worker_dir;
  if (args.size() >= 2 && args[0] == tpc::verify::kWorkerFlag) {
    worker_dir = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  req.args = args;
  std::string error;
  switch (cli::ParseFlags(args, table, "verify", &error)) {
    case cli::Parsed::kHelp:
      std::cout << cli::UsageLine("usage: tpc verify", table) << '\n'
                << "prove a plan numerically: the sharded forward, with exactly the program's collectives, equals "
                   "the unsharded one\n\nflags:\n"
                << cli::FlagList(table)
                << "\nexit codes: 0 within tolerance, 1 diverges, 2 usage error or unusable input\n";
      return tpc::kExitOk;
    case cli::Parsed::kBad: return Usage(error);
    case cli::Parsed::kOk: break;
  }
  if (req.model_path.empty()) return Usage("--model is required");
  req.color = in.color == "always" || (in.color == "auto" && isatty(STDERR_FILENO) && !std::getenv("NO_COLOR"));
  try {
    if (!worker_dir.empty()) return tpc::verify::RunVerifyWorker(req, worker_dir, std::cerr);
    return tpc::verify::RunVerifyCommand(req, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "tpc verify: internal error: " << e.what() << '\n';
    return tpc::kExitInternal;
  }
}
