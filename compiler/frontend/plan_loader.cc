#include "frontend/plan_loader.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "support/strings.h"
#include "support/yaml_file.h"

namespace tpc {
namespace {

// The caret covers a scalar, with its quotes when it has them in the source.
SourceLoc ScalarLoc(const Diagnostics& diags, int file, const YAML::Node& n) {
  SourceLoc loc = LocOf(file, n, static_cast<int>(n.Scalar().size()));
  std::string_view line = diags.sources().Line(file, loc.line);
  if (loc.column >= 1 && loc.column <= static_cast<int>(line.size())) {
    char c = line[loc.column - 1];
    if (c == '"' || c == '\'') loc.length += 2;
  }
  return loc;
}

class PlanParser {
 public:
  PlanParser(int file, Diagnostics& diags) : file_(file), diags_(diags) {}

  bool Parse(const YAML::Node& root, Plan* plan) {
    plan->file = file_;
    if (!root.IsMap()) {
      diags_.Report(DiagId::kNotAMapping, LocOf(file_, root), {"a plan", NodeTypeName(root)});
      return false;
    }
    bool wrapped = root["base_model_tp_plan"] || root["tp_plan"];
    if (!wrapped) return Entries(root, false, plan);
    bool ok = true;
    for (const auto& kv : root) {
      std::string field = kv.first.as<std::string>();
      if (field == "base_model_tp_plan") ok &= Entries(kv.second, true, plan);
      else if (field == "causal_lm_tp_plan" || field == "tp_plan") ok &= Entries(kv.second, false, plan);
      else diags_.Report(DiagId::kIgnoredPlanField, ScalarLoc(diags_, file_, kv.first), {field});
    }
    return ok;
  }

 private:
  int file_;
  Diagnostics& diags_;
  std::unordered_map<std::string, size_t> seen_;

  bool Fail(const YAML::Node& at, const std::string& message) {
    diags_.Report(DiagId::kBadPlanEntry, LocOf(file_, at), {message});
    return false;
  }

  bool Entries(const YAML::Node& map, bool base_relative, Plan* plan) {
    if (map.IsNull()) return true;  // `causal_lm_tp_plan: null` in the HF corpus
    if (!map.IsMap()) {
      diags_.Report(DiagId::kNotAMapping, LocOf(file_, map), {"a plan section", NodeTypeName(map)});
      return false;
    }
    bool ok = true;
    for (const auto& kv : map) {
      PlanEntry e;
      if (!kv.first.IsScalar()) {
        ok = Fail(kv.first, "a plan key must be a module path string");
        continue;
      }
      e.key = kv.first.Scalar();
      e.base_relative = base_relative;
      e.key_loc = ScalarLoc(diags_, file_, kv.first);
      if (!Value(kv.second, &e)) {
        ok = false;
        continue;
      }
      std::string scoped = (base_relative ? "base:" : "root:") + e.key;
      if (auto it = seen_.find(scoped); it != seen_.end()) {
        Diagnostic& d = diags_.Report(DiagId::kDuplicateKey, e.key_loc, {e.key});
        diags_.AddNote(d, plan->entries[it->second].key_loc, "first given here");
        plan->entries.erase(plan->entries.begin() + it->second);
        for (auto& [k, idx] : seen_)
          if (idx > it->second) --idx;
      }
      seen_[scoped] = plan->entries.size();
      plan->entries.push_back(std::move(e));
    }
    return ok;
  }

  bool Layouts(const YAML::Node& n, std::optional<std::vector<LayoutSpec>>* out) {
    std::vector<LayoutSpec> specs;
    std::vector<YAML::Node> items;
    if (n.IsSequence()) {
      for (const YAML::Node& item : n) items.push_back(item);
    } else {
      items.push_back(n);
    }
    for (const YAML::Node& item : items) {
      if (!item.IsScalar()) return Fail(item, "a layout must be a string such as replicate or shard(1)");
      std::optional<LayoutSpec> s = ParseLayout(item.Scalar());
      if (!s) {
        diags_.Report(DiagId::kBadLayout, ScalarLoc(diags_, file_, item), {item.Scalar()});
        return false;
      }
      specs.push_back(*s);
    }
    *out = std::move(specs);
    return true;
  }

  bool Value(const YAML::Node& v, PlanEntry* e) {
    if (v.IsScalar()) {
      e->style = v.Scalar();
      e->style_loc = ScalarLoc(diags_, file_, v);
      return true;
    }
    if (!v.IsMap()) return Fail(v, "plan key '" + e->key + "' needs a style string or a style object, got " + NodeTypeName(v));
    e->is_object = true;
    e->style_loc = LocOf(file_, v);
    for (const auto& f : v) {
      std::string field = f.first.as<std::string>();
      const YAML::Node& val = f.second;
      if (field == "style") {
        if (!val.IsScalar()) return Fail(val, "'style' must be a string");
        e->style = val.Scalar();
        e->style_loc = ScalarLoc(diags_, file_, val);
      } else if (field == "input_layouts") {
        if (!Layouts(val, &e->input_layouts)) return false;
      } else if (field == "output_layouts") {
        if (!Layouts(val, &e->output_layouts)) return false;
      } else if (field == "use_local_output") {
        if (!val.IsScalar() || (val.Scalar() != "true" && val.Scalar() != "false"))
          return Fail(val, "'use_local_output' must be true or false");
        e->use_local_output = val.Scalar() == "true";
      } else {
        std::string hint = DidYouMean(field, {"style", "input_layouts", "output_layouts", "use_local_output"});
        return Fail(f.first, "unknown field '" + field + "' in the style object of '" + e->key + "'" +
                                 (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
      }
    }
    if (e->style.empty()) return Fail(v, "the style object of '" + e->key + "' has no 'style'");
    return true;
  }
};

}  // namespace

std::optional<LayoutSpec> ParseLayout(std::string_view text) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "replicate" || s == "replicate()") return LayoutSpec{LayoutSpec::kReplicate, 0};
  if (s == "partial" || s == "partial()") return LayoutSpec{LayoutSpec::kPartial, 0};
  if (s.rfind("shard(", 0) == 0 && s.back() == ')') {
    std::string num = s.substr(6, s.size() - 7);
    if (num.empty()) return std::nullopt;
    size_t i = num[0] == '-' ? 1 : 0;
    if (i == num.size() || !std::all_of(num.begin() + i, num.end(), ::isdigit)) return std::nullopt;
    return LayoutSpec{LayoutSpec::kShard, std::stoi(num)};
  }
  return std::nullopt;
}

std::optional<Plan> LoadPlan(const std::string& path, Diagnostics& diags) {
  std::string text;
  if (!ReadTextFile(path, &text, diags)) return std::nullopt;
  return ParsePlan(path, std::move(text), diags);
}

std::optional<Plan> ParsePlan(const std::string& path, std::string text, Diagnostics& diags) {
  std::optional<YamlDoc> doc = ParseYamlText(path, std::move(text), diags);
  if (!doc) return std::nullopt;
  Plan plan;
  if (!PlanParser(doc->file, diags).Parse(doc->root, &plan)) return std::nullopt;
  if (plan.entries.empty()) {
    diags.Report(DiagId::kEmptyPlan, {doc->file, 0, 0, 0});
    return std::nullopt;
  }
  return plan;
}

}  // namespace tpc
