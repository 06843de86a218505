#include "passes/analysis.h"

#include <algorithm>
#include <cctype>
#include <tuple>

#include "support/strings.h"

namespace tpc {

Subject::Subject(const ModelGraph& m, const Plan& p, CheckOptions o)
    : model(m), plan(p), opts(o), flow(m.Flow()) {}

const StyleInfo* Resolved::EffectiveStyle(int entry) const {
  if (entry < 0) return nullptr;
  const StyleInfo* s = entry_style[entry];
  return (s && !s->skipped) ? s : nullptr;
}

Placement Resolved::ParamPlacementOf(int module, int param) const {
  const Module& m = model.at(module);
  return ParamPlacement(EffectiveStyle(param_entry[module][param]), opts.dialect, m, m.params[param]);
}

int Resolved::EntryFor(int module) const {
  if (module_entry[module] >= 0) return module_entry[module];
  for (int e : param_entry[module])
    if (e >= 0) return e;
  return -1;
}

std::string Resolved::Describe(int module) const {
  std::string out = "'" + GenericName(model.at(module).name) + "'";
  int e = EntryFor(module);
  if (e >= 0) out += " (" + plan.entries[e].style + ")";
  return out;
}

namespace {

Layout FromSpec(const LayoutSpec& s) {
  if (s.kind == LayoutSpec::kReplicate) return Layout::kReplicate;
  if (s.kind == LayoutSpec::kPartial) return Layout::kPartial;
  return s.dim == 1 ? Layout::kShardSeq : Layout::kShardLast;  // [batch, seq, hidden]
}

}  // namespace

Behaviour BehaviourOf(const Resolved& a, int m) {
  Behaviour b;
  const Module& mod = a.model.at(m);
  int entry = a.module_entry[m];
  if (const StyleInfo* s = a.EffectiveStyle(entry)) {
    b.styled = true;
    b.rewraps = s->rewraps_input;
    b.passthrough = s->passthrough;
    b.reduces = s->reduces;
    b.split = s->split;
    b.in = s->in;
    b.out = s->out;
    b.local_out = s->local_out;
    if (mod.kind == ModuleKind::kEmbedding && a.opts.dialect != Dialect::kHfV5) {
      // torch: RowwiseParallel on an embedding takes replicated ids and all-reduces (vocab parallel).
      b.in = Layout::kReplicate;
      if (s->split == WeightSplit::kIn) b.out = Layout::kReplicate;
    }
    const PlanEntry& pe = a.plan.entries[entry];
    if (pe.input_layouts && !pe.input_layouts->empty()) b.in = FromSpec(pe.input_layouts->front());
    if (pe.output_layouts && !pe.output_layouts->empty()) b.out = FromSpec(pe.output_layouts->front());
    if (pe.use_local_output) b.local_out = *pe.use_local_output;
    return b;
  }
  // hf-v5 parameter keys slice weights without installing hooks: the maths simply runs locally.
  if (!mod.params.empty() && mod.kind != ModuleKind::kExperts) {
    if (const StyleInfo* s = a.EffectiveStyle(a.param_entry[m][0])) {
      b.styled = true;
      b.split = s->split;
      if (s->split == WeightSplit::kOut) b.out = Layout::kShardLast;
      if (s->split == WeightSplit::kIn) b.in = Layout::kShardLast, b.out = Layout::kPartial;
    }
  }
  return b;
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
  // One layer counts once, however many of its tensors (one per expert, say) repeat the problem.
  std::vector<int>& layers = items_[it->second].second.layers;
  if (layer >= 0 && (layers.empty() || layers.back() != layer)) layers.push_back(layer);
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
    // One layer of a one-layer model says nothing worth a field.
    int n = static_cast<int>(item.layers.size());
    if (n > 1 || (n == 1 && num_layers > 1)) d.layers = {n, n > 1 && n == num_layers, LayerList(item.layers)};
    for (Note& note : item.notes) diags.AddNote(d, note.loc, note.message);
  }
  items_.clear();
  index_.clear();
}

const CheckPipeline& CheckPasses() {
  static const CheckPipeline kPasses = {
      {"resolve-plan", ResolvePlan},
      {{"check-checkpoint", CheckCheckpoint}, {"check-styles", CheckStyles}},
      {"propagate-placements", PropagatePlacements},
      {{"check-divisibility", CheckDivisibility},
       {"check-fused", CheckFused},
       {"check-tied", CheckTied},
       {"check-seed-defects", CheckSeedDefects},
       {"check-quantization", CheckQuantization}},
  };
  return kPasses;
}

std::vector<std::string> CheckPipeline::Names() const {
  std::vector<std::string> out = {resolve.name};
  for (const Checker<Resolved>& c : on_resolution) out.push_back(c.name);
  out.push_back(propagate.name);
  for (const Checker<Analysis>& c : on_layouts) out.push_back(c.name);
  return out;
}

bool RunCheck(const ModelGraph& model, const Plan& plan, const CheckOptions& opts, Diagnostics& diags) {
  return RunChecks(model, plan, opts, diags).has_value();
}

std::optional<Analysis> RunChecks(const ModelGraph& model, const Plan& plan, const CheckOptions& opts,
                                  Diagnostics& diags, bool keep_going) {
  const CheckPipeline& passes = CheckPasses();
  int before = diags.errors();
  Subject subject(model, plan, opts);
  Resolution resolution = passes.resolve.run(subject, diags);
  Resolved resolved(std::move(subject), std::move(resolution));
  for (const Checker<Resolved>& c : passes.on_resolution) c.run(resolved, diags);
  Layouts layouts = passes.propagate.run(resolved, diags);
  Analysis a(std::move(resolved), std::move(layouts));
  for (const Checker<Analysis>& c : passes.on_layouts) c.run(a, diags);
  if (diags.errors() != before && !(keep_going && !diags.has_fatal())) return std::nullopt;
  return a;
}

}  // namespace tpc
