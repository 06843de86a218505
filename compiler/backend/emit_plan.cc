// Plans back to YAML, through yaml-cpp's emitter (it decides what needs quoting).
#include "backend/emit_plan.h"

#include <yaml-cpp/yaml.h>

#include "support/strings.h"

namespace tpc {
namespace {

std::string LayoutText(const LayoutSpec& l) {
  switch (l.kind) {
    case LayoutSpec::kReplicate: return "replicate";
    case LayoutSpec::kPartial: return "partial";
    case LayoutSpec::kShard: return "shard(" + std::to_string(l.dim) + ")";
  }
  return "replicate";
}

void Layouts(YAML::Emitter& y, const char* field, const std::optional<std::vector<LayoutSpec>>& layouts) {
  if (!layouts) return;
  y << YAML::Key << field << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const LayoutSpec& l : *layouts) y << LayoutText(l);
  y << YAML::EndSeq;
}

void Style(YAML::Emitter& y, const PlanEntry& e) {
  if (!e.is_object) {
    y << e.style;
    return;
  }
  y << YAML::Flow << YAML::BeginMap << YAML::Key << "style" << YAML::Value << e.style;
  Layouts(y, "input_layouts", e.input_layouts);
  Layouts(y, "output_layouts", e.output_layouts);
  if (e.use_local_output) y << YAML::Key << "use_local_output" << YAML::Value << *e.use_local_output;
  y << YAML::EndMap;
}

// The entries whose base_relative is `base`, as a block map.
void Section(YAML::Emitter& y, const std::vector<PlanEntry>& entries, bool base) {
  y << YAML::BeginMap;
  for (const PlanEntry& e : entries) {
    if (e.base_relative != base) continue;
    y << YAML::Key << e.key << YAML::Value;
    Style(y, e);
  }
  y << YAML::EndMap;
}

void Field(YAML::Emitter& y, const char* field, const std::string& value) {
  if (!value.empty()) y << YAML::Key << field << YAML::Value << value;
}

// A named plan lists its classes and model types even when there are none (the schema wants them).
void List(YAML::Emitter& y, const char* field, const std::vector<std::string>& values, bool named) {
  if (values.empty() && !named) return;
  y << YAML::Key << field << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& v : values) y << v;
  y << YAML::EndSeq;
}

const char* SpModeText(SpMode m) {
  switch (m) {
    case SpMode::kUpdate: return "update";
    case SpMode::kReplace: return "replace";
    case SpMode::kIgnored: return "ignored";
    case SpMode::kNone: break;
  }
  return "";
}

}  // namespace

std::string EmitPlanYaml(const Plan& plan, const std::string& header) {
  const PlanMeta& m = plan.meta;
  bool any_base = false, any_root = false;
  for (const PlanEntry& e : plan.entries) (e.base_relative ? any_base : any_root) = true;
  YAML::Emitter y;
  y << YAML::BeginMap;
  Field(y, "name", m.name);
  Field(y, "seed", m.seed);
  Field(y, "origin", m.origin);
  Field(y, "summary", m.summary);
  Field(y, "dialect", m.dialect ? DialectName(*m.dialect) : "");
  List(y, "architectures", m.architectures, !m.name.empty());
  List(y, "model_types", m.model_types, !m.name.empty());
  Field(y, "requires_model_type", m.requires_model_type);
  Field(y, "refusal", m.refusal);
  // update and replace need the section they apply; without it the plan has no SP variant.
  bool sp_section = m.sp_mode == SpMode::kIgnored || !plan.sp_entries.empty();
  Field(y, "sequence_parallel", sp_section ? SpModeText(m.sp_mode) : "");
  if (any_base) {
    y << YAML::Key << "base_model_tp_plan" << YAML::Value;
    Section(y, plan.entries, true);
  }
  if (any_root || !any_base) {
    y << YAML::Key << (any_base ? "causal_lm_tp_plan" : "plan") << YAML::Value;
    Section(y, plan.entries, false);
  }
  if (!plan.sp_entries.empty()) {
    y << YAML::Key << "sp_plan" << YAML::Value;
    Section(y, plan.sp_entries, false);
  }
  y << YAML::EndMap;
  std::string out;
  for (std::string_view line : Split(header, '\n'))
    if (!line.empty()) out += "# " + std::string(line) + "\n";
  return out + y.c_str() + "\n";
}

}  // namespace tpc
