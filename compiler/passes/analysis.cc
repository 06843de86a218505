#include "passes/analysis.h"

#include <algorithm>
#include <cctype>
#include <tuple>

#include "support/strings.h"

namespace tpc {

Analysis::Analysis(const ModelGraph& m, const Plan& p, CheckOptions o)
    : model(m), plan(p), opts(o) {}

const StyleInfo* Analysis::EffectiveStyle(int entry) const {
  if (entry < 0) return nullptr;
  const StyleInfo* s = entry_style[entry];
  return (s && !s->skipped) ? s : nullptr;
}

Placement Analysis::ParamPlacementOf(int module, int param) const {
  const Module& m = model.at(module);
  return ParamPlacement(EffectiveStyle(param_entry[module][param]), opts.dialect, m, m.params[param]);
}

int Analysis::EntryFor(int module) const {
  if (module_entry[module] >= 0) return module_entry[module];
  for (int e : param_entry[module])
    if (e >= 0) return e;
  return -1;
}

std::string Analysis::Describe(int module) const {
  std::string out = "'" + GenericName(model.at(module).name) + "'";
  int e = EntryFor(module);
  if (e >= 0) out += " (" + plan.entries[e].style + ")";
  return out;
}

std::string GenericName(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    bool numeric = dot > start;
    for (size_t i = start; i < dot && numeric; ++i) numeric = std::isdigit(static_cast<unsigned char>(name[i]));
    if (start) out += '.';
    if (numeric) out += '*';
    else out.append(name, start, dot - start);
    start = dot + 1;
  }
  return out;
}

std::string LayerList(const std::vector<int>& layers) {
  bool contiguous = true;
  for (size_t i = 1; i < layers.size(); ++i) contiguous &= layers[i] == layers[i - 1] + 1;
  if (contiguous && layers.size() > 2)
    return std::to_string(layers.front()) + "-" + std::to_string(layers.back());
  std::vector<int64_t> v(layers.begin(), layers.end());
  if (v.size() > 8) {
    v.resize(8);
    return JoinInts(v) + ", ...";
  }
  return JoinInts(v);
}

void LayerAggregator::Add(const std::string& key, DiagId id, SourceLoc loc, std::vector<std::string> args,
                          std::vector<Note> notes, int layer) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    index_[key] = items_.size();
    items_.push_back({key, {id, loc, std::move(args), std::move(notes), {}}});
    it = index_.find(key);
  }
  if (layer >= 0) items_[it->second].second.layers.push_back(layer);
}

void LayerAggregator::Flush(Diagnostics& diags, int num_layers) {
  // Report in plan order, like a compiler walking its input; ties keep discovery order.
  std::stable_sort(items_.begin(), items_.end(), [](const auto& x, const auto& y) {
    const SourceLoc& a = x.second.loc;
    const SourceLoc& b = y.second.loc;
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  for (auto& [key, item] : items_) {
    Diagnostic& d = diags.Report(item.id, item.loc, item.args);
    size_t n = item.layers.size();
    if (n > 1 && static_cast<int>(n) == num_layers) d.message += " (in all " + std::to_string(n) + " layers)";
    else if (n > 1) d.message += " (in layers " + LayerList(item.layers) + ")";
    else if (n == 1 && num_layers > 1) d.message += " (in layer " + std::to_string(item.layers[0]) + ")";
    for (Note& note : item.notes) diags.AddNote(d, note.loc, note.message);
  }
  items_.clear();
  index_.clear();
}

bool RunCheck(const ModelGraph& model, const Plan& plan, const CheckOptions& opts, Diagnostics& diags) {
  Analysis a(model, plan, opts);
  int before = diags.errors();
  ResolvePlan(a, diags);
  CheckStyles(a, diags);
  PropagatePlacements(a, diags);
  CheckDivisibility(a, diags);
  CheckFused(a, diags);
  CheckTied(a, diags);
  return diags.errors() == before;
}

}  // namespace tpc
