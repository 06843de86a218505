#include "test_util.h"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backend/render_diagnostics.h"
#include "frontend/model_loader.h"
#include "frontend/plan_loader.h"

namespace tpc::test {

std::string SourcePath(const std::string& relative) { return std::string(TPC_SOURCE_DIR) + "/" + relative; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const ArchRegistry& Registry() {
  static ArchRegistry* registry = [] {
    auto* r = new ArchRegistry;
    SourceManager sm;
    Diagnostics d(sm);
    if (!r->Load("", d)) throw std::runtime_error("bundled templates do not load:\n" + RenderText(d, false));
    return r;
  }();
  return *registry;
}

namespace {

CheckRun Finish(Diagnostics& diags, std::optional<ModelGraph>& model, const std::string& plan_name,
                const std::string& plan_text, const CheckOptions& opts) {
  CheckRun run;
  std::optional<Plan> plan;
  if (model) plan = ParsePlan(plan_name, plan_text, diags);
  run.loaded = model && plan && !diags.has_fatal();
  if (run.loaded) RunCheck(*model, *plan, opts, diags);
  run.ok = !diags.has_errors();
  run.errors = diags.errors();
  run.warnings = diags.warnings();
  run.text = RenderText(diags, false);
  for (const Diagnostic& d : diags.all()) run.codes.push_back(d.code);
  return run;
}

}  // namespace

CheckRun CheckText(const std::string& config_path, const std::string& plan_name, const std::string& plan_text,
                   const CheckOptions& opts) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<ModelGraph> model = LoadModel(config_path, Registry(), diags);
  return Finish(diags, model, plan_name, plan_text, opts);
}

CheckRun CheckTexts(const std::string& config_text, const std::string& plan_name, const std::string& plan_text,
                    const CheckOptions& opts) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<ModelGraph> model = ParseModel("config.json", config_text, Registry(), diags);
  return Finish(diags, model, plan_name, plan_text, opts);
}

int RunCommand(const std::string& command, std::string* out) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace tpc::test

namespace tpc::test {

TpcRun RunTpc(const std::string& args, bool merge_stderr) {
  TpcRun r;
  std::string cmd = std::string("cd ") + TPC_SOURCE_DIR + " && " + TPC_BINARY + " " + args +
                    (merge_stderr ? " 2>&1" : " 2>/dev/null");
  r.code = RunCommand(cmd, &r.out);
  return r;
}

namespace {

CompileRun FinishCompile(Diagnostics& diags, const std::optional<ModelGraph>& model, const std::optional<Plan>& plan,
                         const CompileOptions& opts) {
  CompileRun run;
  if (model && plan && !diags.has_fatal()) {
    Plan p = *plan;
    if (opts.sequence_parallel) ApplySequenceParallel(p);  // as plan selection does for the CLI
    run.program = Compile(*model, p, opts, diags);
  }
  for (const Diagnostic& d : diags.all()) run.codes.push_back(d.code);
  return run;
}

}  // namespace

CompileRun CompileFiles(const std::string& config_dir, const std::string& plan_path, const CompileOptions& opts) {
  SourceManager sm;
  Diagnostics diags(sm);
  auto model = LoadModel(SourcePath("tests/data/configs/" + config_dir), Registry(), diags);
  auto plan = LoadPlan(SourcePath(plan_path), diags);
  return FinishCompile(diags, model, plan, opts);
}

CompileRun CompileTexts(const std::string& config_text, const std::string& plan_text, const CompileOptions& opts) {
  SourceManager sm;
  Diagnostics diags(sm);
  auto model = ParseModel("config.json", config_text, Registry(), diags);
  auto plan = ParsePlan("plan.yaml", plan_text, diags);
  return FinishCompile(diags, model, plan, opts);
}

int CountCollectives(const Program& p, CollectiveKind k) {
  int n = 0;
  for (const Collective& c : p.collectives) n += c.kind == k;
  return n;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tpc-test-XXXXXX").string();
  const char* made = mkdtemp(tmpl.data());
  REQUIRE(made);
  path = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string TempDir::operator/(const std::string& name) const { return (std::filesystem::path(path) / name).string(); }

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  REQUIRE(f);
  f << text;
  REQUIRE(f.good());
}

}  // namespace tpc::test
