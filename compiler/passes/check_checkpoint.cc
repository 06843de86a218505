// check-checkpoint: reports what the cross-check of a checkpoint against config.json found
// (frontend/bind_checkpoint.cc): a parameter with no stored tensor, a stored shape config.json
// does not imply (a pruned or mismatched checkpoint), a dtype that cannot hold a weight, an FP8
// scale that does not fit its weight's blocks; and, as one warning, the stored tensors the model
// does not use, which the program replicates.
#include <map>

#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {


// "408 vision tower, 2 unknown ('a', 'b')": the extras by what they are.
std::string ExtrasSummary(const CheckpointBinding& b) {
  std::map<std::string, int> counts;
  std::vector<std::string> unknown;
  for (const StoredExtra& e : b.extras) {
    ++counts[e.what];
    if (e.what == "unknown" && unknown.size() < 3) unknown.push_back(Quote(b.checkpoint.tensors[e.tensor].name));
  }
  std::vector<std::string> parts;
  for (const auto& [what, n] : counts)
    if (what != "unknown") parts.push_back(std::to_string(n) + " " + what);
  if (auto it = counts.find("unknown"); it != counts.end())
    parts.push_back(std::to_string(it->second) + " that no architecture file names (" + Join(unknown, ", ") +
                    (it->second > 3 ? ", ..." : "") + ")");
  return Join(parts, "; ");
}

// Notes at the config fields behind the dims where `expected` and `found` differ: "'intermediate_size'
// is 128 here". A size several fields share names none of them.
std::vector<Note> FieldNotes(const ModelGraph& model, const std::vector<int64_t>& expected,
                             const std::vector<int64_t>& found) {
  std::vector<Note> notes;
  for (size_t d = 0; d < expected.size(); ++d) {
    if (d < found.size() && found[d] == expected[d]) continue;
    std::vector<std::string> fields;
    for (const auto& [name, value] : model.field_values)
      if (value == static_cast<double>(expected[d])) fields.push_back(name);
    if (fields.size() != 1) continue;
    auto loc = model.field_locs.find(fields[0]);
    if (loc != model.field_locs.end())
      notes.push_back({loc->second, "'" + fields[0] + "' is " + std::to_string(expected[d]) + " here"});
  }
  return notes;
}

}  // namespace

bool CheckCheckpoint(const Resolved& a, Diagnostics& diags) {
  const CheckpointBinding* b = a.model.checkpoint.get();
  if (!b) return true;
  int before = diags.errors();
  const std::vector<Module>& mods = a.model.modules();
  const Checkpoint& ck = b->checkpoint;
  SourceLoc config{a.model.config_file, 0, 0, 0};
  auto file_of = [&](const std::string& name) {
    int t = ck.Find(name);
    return t >= 0 ? Quote(ck.files[ck.tensors[t].file].name) : std::string("the checkpoint");
  };
  LayerAggregator agg;
  for (const BindingProblem& p : b->problems) {
    const Module* mod = p.module >= 0 ? &mods[p.module] : nullptr;
    std::string stored = GenericName(p.stored);
    std::string tree = !mod ? "" : p.param < 0 ? "one row per head of '" + GenericName(mod->name) + "'"
                                               : GenericName(mod->name + "." + mod->params[p.param].name);
    std::string part_of = tree.empty() || tree == stored ? ""
                          : p.param < 0                 ? " (" + tree + ")"
                                                        : " (part of '" + tree + "')";
    int layer = mod ? mod->layer : -1;
    switch (p.kind) {
      case BindingProblem::kMissing:
        agg.Add("missing " + stored, DiagId::kCheckpointMissingTensor, config,
                {stored, p.also.empty() ? "" : " (nor '" + GenericName(p.also) + "')", ShapeText(p.expected), part_of},
                {}, layer);
        break;
      case BindingProblem::kShape:
        agg.Add("shape " + stored + ShapeText(p.found), DiagId::kCheckpointShapeMismatch, config,
                {stored, ShapeText(p.found), file_of(p.stored), ShapeText(p.expected), part_of},
                FieldNotes(a.model, p.expected, p.found), layer);
        break;
      case BindingProblem::kDtype:
        agg.Add("dtype " + stored, DiagId::kCheckpointDtype, config,
                {stored, ck.tensors[ck.Find(p.stored)].dtype, file_of(p.stored), p.detail}, {}, layer);
        break;
      case BindingProblem::kScaleShape:
        agg.Add("scale " + stored, DiagId::kCheckpointShapeMismatch, config,
                {stored, ShapeText(p.found), file_of(p.stored), ShapeText(p.expected),
                 " (the blocks of '" + p.also + "')"},
                {Note{SourceLoc{}, "an FP8 weight has " + p.detail}}, -1);
        break;
    }
  }
  agg.Flush(diags, a.model.num_layers);
  if (!b->extras.empty())
    diags.Report(DiagId::kCheckpointExtraTensors, config,
                 {std::to_string(b->extras.size()), std::to_string(ck.tensors.size()), a.model.family, ExtrasSummary(*b)});
  return diags.errors() == before;
}

}  // namespace tpc
