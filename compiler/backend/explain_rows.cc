#include "backend/explain_rows.h"

#include <cctype>
#include <cstdio>

#include "support/strings.h"

namespace tpc {

int FirstLayer(const Program& p, const ModelGraph& model) {
  int first = -1;
  for (const ModuleStep& s : p.steps) {
    int l = model.at(s.module).layer;
    if (l >= 0 && (first < 0 || l < first)) first = l;
  }
  return first;
}

std::string LayerRelativeName(const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) break;
    bool numeric = dot > start;
    for (size_t i = start; i < dot && numeric; ++i) numeric = std::isdigit(static_cast<unsigned char>(name[i]));
    if (numeric) return name.substr(dot + 1);
    start = dot + 1;
  }
  return name;
}

std::string WeightSummary(const Program& p, const std::string& module) {
  const ProgramParam* first = nullptr;
  int stored = 0;  // a module stored per expert has many entries: say so, and show the first
  for (const ProgramParam& param : p.params) {
    if (param.module != module || !param.adapter.empty() || param.kind == EntryKind::kScale) continue;
    if (!first) first = &param;
    if (first->expert < 0) break;
    ++stored;
  }
  if (!first) return "";
  int r = first->owners.empty() ? 0 : first->owners[0];
  std::string out = (first->owners.empty() ? ToString(first->placement) : "owned") + " [" + JoinInts(first->LocalShape(r)) + "]";
  return stored > 1 ? out + " x" + std::to_string(stored) : out;
}

std::string ModuleLabel(const Program& p, const ModelGraph& model, const ModuleStep& s) {
  const Module& m = model.at(s.module);
  std::string label = LayerRelativeName(m.name);
  std::string w = WeightSummary(p, m.name);
  if (!w.empty()) label += "\n" + w;
  return label;
}

std::string CollectiveLabel(const Collective& c) {
  return std::string(CollectiveName(c.kind)) + "\n" + HumanBytes(static_cast<double>(c.bytes_per_token)) + "/token";
}

}  // namespace tpc
