#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
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
