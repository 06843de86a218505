#include "runtime/verify/verify_command.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>


#include "backend/render_diagnostics.h"
#include "driver/load_inputs.h"
#include "passes/lowering.h"
#include "runtime/gloo_communicator.h"
#include "runtime/load_command.h"
#include "runtime/verify/checkpoint_tensors.h"
#include "runtime/verify/rank_processes.h"
#include "runtime/verify/sharded_forward.h"
#include "runtime/verify/synthetic_checkpoint.h"
#include "runtime/verify/verify_report.h"
#include "support/diagnostics.h"
#include "support/source_manager.h"
#include "support/strings.h"

namespace tpc::verify {
namespace {

// The batch: 2 sequences of `tokens` ids, ids[b][t] = (31 b + 17 t + 3) % vocab.
at::Tensor TokenBatch(int64_t tokens, int64_t vocab) {
  at::Tensor b = at::arange(2, at::TensorOptions().dtype(at::kLong)).unsqueeze(1);
  at::Tensor t = at::arange(tokens, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  return (31 * b + 17 * t + 3).remainder(vocab);
}

// A directory under TMPDIR, removed with everything in it when it goes.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tpc-verify-XXXXXX";
    if (mkdtemp(tmpl.data())) path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// What both forwards run on, made the same way by `tpc verify` and by each of its rank processes.
struct Prepared {
  std::optional<Program> program;
  int check_errors = 0;  // what tpc check reported for the plan
  at::ScalarType dtype = at::kFloat;
  ReferenceModel model;
  StoredTensors stored;  // reads through model.graph: never moved
  at::Tensor ids;
};

int Fail(std::ostream& err, const std::string& message) {
  err << "tpc verify: error: " << message << '\n';
  return kExitUsage;
}

// Compiles the plan and loads the model, its stored tensors and the token batch: kExitOk, or the
// exit code once `err` says why.
int Prepare(const VerifyRequest& req, Prepared* p, std::ostream& err) {
  SourceManager sources;
  Diagnostics diags(sources);
  auto fail = [&](const std::string& message) { return Fail(err, message); };
  PlanRequest plan = req.plan;
  plan.tp = req.tp;
  plan.sequence_parallel = req.sequence_parallel;
  std::optional<Inputs> in = LoadInputs(req.model_path, plan, req.arch_dir, diags);
  if (!in) {
    err << RenderText(diags, req.color) << Summary(diags, "");
    return kExitUsage;
  }
  CompileOptions opts;
  opts.check.tp = req.tp;
  opts.check.kv_replication = req.kv_replication;
  opts.check.sequence_parallel = opts.sequence_parallel = req.sequence_parallel;
  opts.check.dialect = ChooseDialect(in->plan, false, opts.check.dialect);
  opts.check.transformers = EffectiveRelease(plan, opts.check.dialect);
  if (in->plan.meta.sp_mode == SpMode::kIgnored) opts.sequence_parallel = false;
  std::string context = RunContext(in->model, req.tp, opts.check.dialect, opts.check.transformers);
  // A plan the checks reject is still run, to show where its arithmetic goes wrong; it never passes.
  opts.keep_going = true;
  std::optional<Program>& program = p->program;
  program = Compile(in->model, in->plan, opts, diags);
  int check_errors = p->check_errors = diags.errors();
  if (diags.warnings() > 0 || check_errors > 0 || !program) err << RenderText(diags, req.color) << Summary(diags, context);
  if (!program) return fail("the plan does not compile, so there is no program to verify");
  if (check_errors > 0)
    err << "tpc verify: note: running the rejected plan anyway, to find where it diverges\n";
  at::ScalarType dtype = p->dtype = req.dtype == "fp64" ? at::kDouble : at::kFloat;
  ReferenceModel& model = p->model;
  std::string why;
  // The model compiled above, not a second load: the same templates (--arch-dir) give its numerics.
  if (!MakeReferenceModel(std::move(in->model), in->registry, req.model_path, dtype, &model, &why)) return fail(why);
  if (!p->stored.Open(model.graph.checkpoint->checkpoint, &why)) return fail(why);
  int64_t vocab = 0;
  for (const tpc::Module& m : model.graph.modules())
    if (m.kind == ModuleKind::kEmbedding && !m.params.empty()) vocab = m.params[0].shape.at(0);
  if (vocab <= 0) return fail("the model has no embedding to feed tokens to");
  p->ids = TokenBatch(req.tokens, vocab);
  return kExitOk;
}

// Compares the sharded run with the reference forward and reports: the exit code.
int Finish(const VerifyRequest& req, const Prepared& p, const ShardedRun& run, const ForwardOutput& ref,
           std::ostream& out, std::ostream& err) {
  Outcome o = Compare(p.model, ref, run, req.tolerance);
  o.check_errors = p.check_errors;
  // A rank that stopped before its first module (its parameters could not be read) found no
  // divergence: nothing was compared, so there is no verdict.
  if (o.first < 0 && !o.stopped.empty()) return Fail(err, "the sharded forward stopped: " + o.stopped);
  bool ok = o.first < 0 && p.check_errors == 0;
  Render(req, p.model, *p.program, o, ok, out);
  return ok ? kExitOk : kExitErrors;
}

// How a rank's part of the sharded forward ended.
enum class RankEnd {
  kFailed,    // it never began: the wrong WORLD_SIZE, no rendezvous, a program that cannot be run
  kStopped,   // it began and stopped: a shape the plan breaks, or a peer that stopped
  kFinished,  // every module computed
};

// One rank of a Gloo group: connects, runs its part of the sharded forward into `run`. Once it
// stopped, the communicator is dropped without its teardown, which could wait on a peer that is gone.
RankEnd RunGlooRank(const VerifyRequest& req, const RankEnv& env, Prepared& p, std::unique_ptr<Communicator>* comm,
                    RankRun* run, std::string* why) {
  if (env.world_size != p.program->tp)
    return *why = "WORLD_SIZE is " + std::to_string(env.world_size) + ", but the program's tp is " +
                  std::to_string(p.program->tp), RankEnd::kFailed;
  std::chrono::milliseconds timeout(std::chrono::seconds(req.timeout_seconds));
  *comm = ConnectGloo({env.master_addr, env.master_port, env.rank, env.world_size, timeout}, why);
  if (!*comm) return *why = "rank " + std::to_string(env.rank) + ": " + *why, RankEnd::kFailed;
  // Tests only: hold every rank between the rendezvous and the forward, so that a test can kill
  // one while the others wait on it, however fast the forward would be.
  if (const char* ms = std::getenv("TPC_VERIFY_TEST_PAUSE_AFTER_CONNECT_MS")) {
    std::cerr << "tpc verify: note: rank " << env.rank << " connected; pausing " << ms << " ms for a test" << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(ms)));
  }
  if (RunShardedRank(p.model, *p.program, p.stored.AsSource(), p.dtype, p.ids, **comm, run, why))
    return RankEnd::kFinished;
  comm->release();
  return run->values.empty() ? RankEnd::kFailed : RankEnd::kStopped;  // empty: the program cannot be run
}

// `tpc verify --processes` under torchrun (RANK and WORLD_SIZE set): this process is one rank;
// rank 0 receives every rank's values, runs the reference and reports.
int RunUnderTorchrun(const VerifyRequest& req, Prepared& p, std::ostream& out, std::ostream& err) {
  RankEnv env;
  std::string why;
  if (!ReadRankEnv([](const char* name) { return std::getenv(name); }, &env, &why)) return Fail(err, why);
  std::unique_ptr<Communicator> comm;
  ShardedRun run;
  run.ranks.resize(static_cast<size_t>(p.program->tp));
  // Here a rank that stops still ends the run with exit 2, unlike the ranks of --processes: its
  // report could reach rank 0 only through the group, where rank 0 may be blocked on it in a
  // collective until --timeout; only its exit unblocks rank 0, and that breaks the group.
  if (RunGlooRank(req, env, p, &comm, &run.ranks[static_cast<size_t>(env.rank)], &why) != RankEnd::kFinished ||
      !comm->Barrier(&why))
    return (void)comm.release(), Fail(err, "the sharded forward stopped: " + why);
  if (env.rank != 0) {
    RankReport mine;
    mine.values = std::move(run.ranks[static_cast<size_t>(env.rank)].values);
    if (!comm->Send(EncodeReport(mine), 0, &why))
      return (void)comm.release(), Fail(err, "the sharded forward stopped: " + why);
    return kExitOk;
  }
  for (int r = 1; r < env.world_size; ++r) {
    Bytes theirs;
    if (!comm->Recv(&theirs, r, &why)) return (void)comm.release(), Fail(err, "the sharded forward stopped: " + why);
    RankReport report;
    if (!DecodeReport(theirs, &report, &why)) return Fail(err, "rank " + std::to_string(r) + "'s report: " + why);
    run.ranks[static_cast<size_t>(r)].values = std::move(report.values);
  }
  ForwardOutput ref;
  if (!RunReferenceForward(p.model, p.ids, &ref, &why)) return Fail(err, "the reference forward stopped: " + why);
  ShardedLayouts(p.model, *p.program, &run);
  return Finish(req, p, run, ref, out, err);
}

}  // namespace

int RunVerifyCommand(const VerifyRequest& given, std::ostream& out, std::ostream& err) {
  VerifyRequest req = given;
  ScratchDir scratch;
  auto fail = [&](const std::string& message) { return Fail(err, message); };
  bool torchrun = req.processes && std::getenv("RANK") && std::getenv("WORLD_SIZE");
  if ((req.random_weights || req.shrink || req.processes) && scratch.path.empty())
    return fail("cannot make a temporary directory");
  if (req.random_weights || req.shrink) {
    // In model/ of the scratch directory, where rank processes find it (RunVerifyWorker).
    std::string summary, why, dir = scratch.path + "/model";
    std::error_code ec;
    std::filesystem::create_directory(dir, ec);
    if (!WriteSyntheticCheckpoint(req.model_path, req.arch_dir, req.shrink, req.tp, req.seed, dir, &summary, &why))
      return fail(why);
    err << "tpc verify: note: " << summary << '\n';
    req.model_path = dir;
  }
  Prepared p;
  if (int code = Prepare(req, &p, err); code != kExitOk) return code;
  if (torchrun) return RunUnderTorchrun(req, p, out, err);
  // --processes: the ranks start first and compute while this process runs the reference.
  RankProcesses ranks;
  std::string why;
  if (req.processes &&
      !ranks.Start(req.args, p.program->tp, scratch.path, std::chrono::seconds(req.timeout_seconds), &why))
    return fail(why);
  ForwardOutput ref;
  if (!RunReferenceForward(p.model, p.ids, &ref, &why)) return fail("the reference forward stopped: " + why);
  ShardedRun run;
  if (req.processes) {
    std::vector<RankReport> reports;
    if (!ranks.Wait(&reports, &why)) return fail("the sharded forward stopped: " + why);
    run.ranks = RankRuns(std::move(reports));  // a rank that stopped is a divergence, as in-process
    ShardedLayouts(p.model, *p.program, &run);
  } else if (!RunShardedForward(p.model, *p.program, p.stored.AsSource(), p.dtype, p.ids, &run, &why) &&
             run.ranks.empty()) {
    return fail("the sharded forward stopped: " + why);  // not runnable; a rank that stops is a divergence
  }
  return Finish(req, p, run, ref, out, err);
}

int RunVerifyWorker(const VerifyRequest& given, const std::string& dir, std::ostream& err) {
  // A rank ends with the tpc verify that started it, wherever it is blocked.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char* parent = std::getenv(kParentPidVar);
  if (!parent) return Fail(err, std::string(kWorkerFlag) + " is for the rank processes of tpc verify --processes");
  if (std::to_string(::getppid()) != parent) return Fail(err, "the tpc verify --processes of this rank has ended");
  VerifyRequest req = given;
  if (req.random_weights || req.shrink) req.model_path = dir + "/model", req.random_weights = req.shrink = false;
  RankEnv env;
  std::string why;
  if (!ReadRankEnv([](const char* name) { return std::getenv(name); }, &env, &why)) return Fail(err, why);
  Prepared p;
  if (int code = Prepare(req, &p, err); code != kExitOk) return code;
  std::unique_ptr<Communicator> comm;
  RankRun run;
  RankEnd end = RunGlooRank(req, env, p, &comm, &run, &why);
  if (end == RankEnd::kFailed) return Fail(err, why);
  RankReport report;
  report.values = std::move(run.values);
  if (end == RankEnd::kStopped) {
    report.error = run.error;
    report.stopped_at = run.stopped_at;
    auto now = std::chrono::steady_clock::now().time_since_epoch();
    report.stopped_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
    err << "tpc verify: error: the sharded forward stopped: " << why << '\n';
  } else if (!comm->Barrier(&why)) {
    // Every module computed, and a peer has gone: it stopped (and reports) or died (and is named).
    err << "tpc verify: note: rank " << env.rank << " finished, then " << why << '\n';
    comm.release();
  }
  // Written whole under another name, then renamed: the parent never reads half a file.
  std::string path = RankReportPath(dir, env.rank), part = path + ".part";
  Bytes bytes = EncodeReport(report);
  {
    std::ofstream f(part, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!f.flush()) return Fail(err, "cannot write '" + part + "'");
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) return Fail(err, "cannot rename '" + part + "': " + ec.message());
  return end == RankEnd::kStopped ? kRankStopped : kExitOk;
}

}  // namespace tpc::verify
