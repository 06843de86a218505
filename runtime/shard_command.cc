#include "runtime/shard_command.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "ir/program_json.h"
#include "runtime/command_output.h"
#include "runtime/shard_plan.h"
#include "runtime/shard_writer.h"
#include "support/exit_code.h"
#include "support/sha256.h"

namespace tpc {
namespace {


void Summary(const ShardResult& r, const ShardRequest& req, std::ostream& out) {
  if (req.json) {
    nlohmann::ordered_json j;
    j["ok"] = true;
    j["out"] = req.out;
    j["bytes_written"] = r.bytes_written;
    j["seconds"] = r.seconds;
    j["copy_seconds"] = r.copy_seconds;
    j["commit_seconds"] = r.commit_seconds;
    j["gbps"] = GigabytesPerSecond(r.bytes_written, r.seconds);
    j["ranks"] = nlohmann::ordered_json::array();
    for (const RankResult& k : r.ranks)
      j["ranks"].push_back({{"rank", k.rank}, {"file", k.file}, {"bytes", k.bytes}, {"sha256", k.sha256},
                            {"skipped", k.skipped}, {"seconds", k.seconds}, {"gbps", GigabytesPerSecond(k.bytes, k.seconds)}});
    out << j.dump(2) << "\n";
    return;
  }
  int written = 0, skipped = 0;
  for (const RankResult& k : r.ranks) (k.skipped ? skipped : written)++;
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.3f GB in %.2f s, %.2f GB/s", static_cast<double>(r.bytes_written) / 1e9,
                r.seconds, GigabytesPerSecond(r.bytes_written, r.seconds));
  out << "wrote " << written << " rank file" << (written == 1 ? "" : "s") << ", skipped " << skipped
      << " unchanged, to " << req.out << "/ (" << rate << ")\n";
}

}  // namespace

int RunShardCommand(const ShardRequest& req, std::ostream& out, std::ostream& err) {
  SourceManager sources;
  Diagnostics diags(sources);
  auto fail = [&] {
    RenderRunDiagnostics(diags, err);
    return kExitUsage;
  };
  std::optional<Program> program = ReadProgramJson(req.program, diags);
  if (!program) return fail();
  CheckpointHeaders headers;
  if (!ReadCheckpointHeaders(*program, req.program, req.weights, &headers, diags)) return fail();
  ShardPlan plan;
  int last = req.last < 0 ? program->tp - 1 : req.last;
  if (!PlanShards(*program, req.program, headers, req.first, last, &plan, diags)) return fail();

  ShardOptions opts;
  opts.program_path = req.program;
  std::string error;
  int64_t size = 0;
  if (!Sha256File(req.program, &opts.program_sha256, &size, &error)) {
    diags.Report(DiagId::kFileUnreadable, {sources.AddPath(req.program), 0, 0, 0}, {req.program, error});
    return fail();
  }
  opts.weights_dir = req.weights;
  opts.out_dir = req.out;
  opts.jobs = req.jobs > 0 ? req.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  opts.progress = req.progress;
  ShardResult result;
  if (!WriteShards(*program, plan, opts, &result, diags)) return fail();
  Summary(result, req, out);
  return kExitOk;
}

}  // namespace tpc
