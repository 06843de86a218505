#include "frontend/bundled_plans.h"

#include "frontend/embedded_files.h"
#include "frontend/plan_loader.h"

namespace tpc {
namespace {

const EmbeddedFile* Find(std::string_view name) {
  for (int i = 0; i < kPlanFilesCount; ++i)
    if (name == kPlanFiles[i].index) return &kPlanFiles[i];
  return nullptr;
}

}  // namespace

std::vector<std::string> BundledPlanNames() {
  std::vector<std::string> names;
  for (int i = 0; i < kPlanFilesCount; ++i) names.emplace_back(kPlanFiles[i].index);
  return names;
}

bool IsBundledPlan(std::string_view name) { return Find(name) != nullptr; }

std::optional<Plan> LoadBundledPlan(std::string_view name, Diagnostics& diags) {
  const EmbeddedFile* f = Find(name);
  if (!f) return std::nullopt;
  return ParsePlan(std::string("plans/") + f->name, f->text, diags);
}

}  // namespace tpc
