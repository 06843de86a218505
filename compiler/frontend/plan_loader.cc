#include "frontend/plan_loader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <unordered_map>

#include "support/limits.h"
#include "support/strings.h"
#include "frontend/yaml_file.h"

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
    bool wrapped = root["base_model_tp_plan"] || root["causal_lm_tp_plan"] || root["tp_plan"] || root["plan"] ||
                   root["class_tp_plan"];
    if (!wrapped) return Entries(root, false, &plan->entries) && Compact(plan);
    bool ok = true;
    std::map<std::string, SourceLoc> meta_seen;
    for (const auto& kv : root) {
      if (!kv.first.IsScalar()) return Fail(kv.first, DiagId::kPlanFieldNotString);
      std::string field = kv.first.Scalar();
      if (kMetaFields.count(field)) {
        // YAML keeps the last of two equal keys; for what describes the plan that hides a mistake.
        SourceLoc here = ScalarLoc(diags_, file_, kv.first);
        auto [first, fresh] = meta_seen.emplace(field, here);
        if (!fresh) {
          Diagnostic& d = diags_.Report(DiagId::kPlanFieldTwice, here,
                                        {field, std::to_string(first->second.line), std::to_string(here.line)});
          diags_.AddNote(d, first->second, "first given here");
          return false;
        }
      }
      if (field == "base_model_tp_plan") ok &= Entries(kv.second, true, &plan->entries);
      else if (field == "causal_lm_tp_plan" || field == "tp_plan" || field == "plan") ok &= Entries(kv.second, false, &plan->entries);
      else if (field == "sp_plan") {
        scope_ = "sp:";
        ok &= Entries(kv.second, false, &plan->sp_entries);
        scope_.clear();
      } else if (field == "class_tp_plan") {
        scope_ = "class:";  // a separate list: its keys may repeat the plan's
        ok &= Entries(kv.second, false, &plan->class_entries);
        scope_.clear();
      } else if (kMetaFields.count(field)) {
        if (!Meta(field, kv.second, &plan->meta)) return false;
      } else {
        diags_.Report(DiagId::kIgnoredPlanField, ScalarLoc(diags_, file_, kv.first), {field});
      }
    }
    if (plan->meta.sp_mode == SpMode::kNone && !plan->sp_entries.empty())
      return Fail(root["sp_plan"], DiagId::kSpPlanWithoutMode);
    if ((plan->meta.sp_mode == SpMode::kUpdate || plan->meta.sp_mode == SpMode::kReplace) && plan->sp_entries.empty())
      return Fail(root["sequence_parallel"], DiagId::kSpModeWithoutPlan);
    return ok && Compact(plan);
  }

 private:
  int file_;
  Diagnostics& diags_;
  std::unordered_map<std::string, size_t> seen_;  ///< scoped key -> index of its latest entry
  std::map<const std::vector<PlanEntry>*, std::vector<bool>> overridden_;  ///< per list: dropped by a later duplicate
  size_t count_ = 0;                              ///< entries read, duplicates included
  std::string scope_;  ///< "sp:" while reading sp_plan, whose keys repeat the plan's on purpose

  bool Fail(const YAML::Node& at, DiagId id, std::vector<std::string> args = {}) {
    diags_.Report(id, LocOf(file_, at), std::move(args));
    return false;
  }

  // Drops the entries a later duplicate overrode, in one pass: the later value wins and takes the
  // later place, as when the earlier one is erased on sight.
  bool Compact(Plan* plan) {
    for (std::vector<PlanEntry>* list : {&plan->entries, &plan->sp_entries, &plan->class_entries}) {
      auto it = overridden_.find(list);
      if (it == overridden_.end()) continue;
      const std::vector<bool>& gone = it->second;
      size_t out = 0;
      for (size_t i = 0; i < list->size(); ++i)
        if (i >= gone.size() || !gone[i]) {
          if (out != i) (*list)[out] = std::move((*list)[i]);
          ++out;
        }
      list->resize(out);
    }
    return true;
  }

  // One of kMetaFields, the fields of a bundled plan file besides its entries; false (reported)
  // when its value is malformed.
  bool Meta(const std::string& field, const YAML::Node& v, PlanMeta* meta) {
    if (field == "architectures" || field == "model_types") {
      if (!v.IsSequence()) return Fail(v, DiagId::kPlanFieldType, {field, "a list of strings"});
      std::vector<std::string>& out = field == "architectures" ? meta->architectures : meta->model_types;
      for (const YAML::Node& item : v) {
        if (!item.IsScalar()) return Fail(item, DiagId::kPlanFieldType, {field, "a list of strings"});
        out.push_back(item.Scalar());
      }
      return true;
    }
    if (!v.IsScalar()) return Fail(v, DiagId::kPlanFieldType, {field, "a string"});
    const std::string& text = v.Scalar();
    if (field == "dialect") {
      meta->dialect = ParseDialect(text);
      if (!meta->dialect) return Fail(v, DiagId::kPlanFieldValue, {field, "torch, hf-v4 or hf-v5", text});
    } else if (field == "sequence_parallel") {
      if (text == "update") meta->sp_mode = SpMode::kUpdate;
      else if (text == "replace") meta->sp_mode = SpMode::kReplace;
      else if (text == "ignored") meta->sp_mode = SpMode::kIgnored;
      else return Fail(v, DiagId::kPlanFieldValue, {field, "update, replace or ignored", text});
    } else if (field == "name") meta->name = text;
    else if (field == "seed") meta->seed = text;
    else if (field == "origin") meta->origin = text;
    else if (field == "summary") meta->summary = text;
    else if (field == "requires_model_type") meta->requires_model_type = text;
    else if (field == "refusal") meta->refusal = text;
    return true;
  }

  inline static const std::set<std::string> kMetaFields = {
      "name", "seed", "origin", "summary", "dialect", "architectures", "model_types",
      "requires_model_type", "refusal", "sequence_parallel"};

  bool Entries(const YAML::Node& map, bool base_relative, std::vector<PlanEntry>* entries) {
    if (map.IsNull()) return true;  // `causal_lm_tp_plan: null` in the HF corpus
    if (!map.IsMap()) {
      diags_.Report(DiagId::kNotAMapping, LocOf(file_, map), {"a plan section", NodeTypeName(map)});
      return false;
    }
    bool ok = true;
    for (const auto& kv : map) {
      if (++count_ > limits::kMaxPlanEntries)
        return Fail(kv.first, DiagId::kTooManyPlanEntries, {std::to_string(limits::kMaxPlanEntries)});
      PlanEntry e;
      if (!kv.first.IsScalar()) {
        ok = Fail(kv.first, DiagId::kPlanKeyNotPath);
        continue;
      }
      e.key = kv.first.Scalar();
      e.base_relative = base_relative;
      e.key_loc = ScalarLoc(diags_, file_, kv.first);
      if (!Value(kv.second, &e)) {
        ok = false;
        continue;
      }
      std::string scoped = scope_ + (base_relative ? "base:" : "root:") + e.key;
      if (auto it = seen_.find(scoped); it != seen_.end()) {
        Diagnostic& d = diags_.Report(DiagId::kDuplicateKey, e.key_loc, {e.key});
        diags_.AddNote(d, (*entries)[it->second].key_loc, "first given here");
        std::vector<bool>& gone = overridden_[entries];
        gone.resize(entries->size() + 1);
        gone[it->second] = true;
      }
      seen_[scoped] = entries->size();
      entries->push_back(std::move(e));
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
      if (!item.IsScalar()) return Fail(item, DiagId::kLayoutNotString);
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
    if (!v.IsMap()) return Fail(v, DiagId::kBadStyleValue, {e->key, NodeTypeName(v)});
    e->is_object = true;
    e->style_loc = LocOf(file_, v);
    std::set<std::string> fields;
    for (const auto& f : v) {
      if (!f.first.IsScalar()) return Fail(f.first, DiagId::kStyleKeyNotString, {e->key});
      std::string field = f.first.Scalar();
      if (!fields.insert(field).second)
        return Fail(f.first, DiagId::kStyleFieldTwice, {field, e->key});
      const YAML::Node& val = f.second;
      if (field == "style") {
        if (!val.IsScalar()) return Fail(val, DiagId::kPlanFieldType, {field, "a string"});
        e->style = val.Scalar();
        e->style_loc = ScalarLoc(diags_, file_, val);
      } else if (field == "input_layouts") {
        if (!Layouts(val, &e->input_layouts)) return false;
      } else if (field == "output_layouts") {
        if (!Layouts(val, &e->output_layouts)) return false;
      } else if (field == "use_local_output") {
        if (!val.IsScalar() || (val.Scalar() != "true" && val.Scalar() != "false"))
          return Fail(val, DiagId::kPlanFieldType, {field, "true or false"});
        e->use_local_output = val.Scalar() == "true";
      } else {
        std::string hint = DidYouMean(field, {"style", "input_layouts", "output_layouts", "use_local_output"});
        return Fail(f.first, DiagId::kUnknownStyleField,
                    {field, e->key, hint.empty() ? "" : "; did you mean '" + hint + "'?"});
      }
    }
    if (e->style.empty()) return Fail(v, DiagId::kStyleObjectNoStyle, {e->key});
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
    // from_chars takes only digits after an optional '-', and refuses a number that overflows int.
    int dim = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), dim);
    if (ec != std::errc() || end != num.data() + num.size()) return std::nullopt;
    return LayoutSpec{LayoutSpec::kShard, dim};
  }
  return std::nullopt;
}

void ApplySequenceParallel(Plan& plan) {
  if (plan.sp_applied) return;
  if (plan.meta.sp_mode == SpMode::kReplace) {
    plan.entries = plan.sp_entries;
  } else if (plan.meta.sp_mode == SpMode::kUpdate) {
    for (const PlanEntry& e : plan.sp_entries) {
      auto same = [&](const PlanEntry& b) { return b.key == e.key && b.base_relative == e.base_relative; };
      auto it = std::find_if(plan.entries.begin(), plan.entries.end(), same);
      if (it != plan.entries.end()) *it = e;
      else plan.entries.push_back(e);
    }
  } else {
    return;
  }
  plan.sp_applied = true;
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
  try {
    if (!PlanParser(doc->file, diags).Parse(doc->root, &plan)) return std::nullopt;
  } catch (const YAML::Exception& e) {
    // The parser checks node types before converting; this is a last guard, never an exit 3.
    SourceLoc loc = e.mark.line >= 0 ? SourceLoc{doc->file, e.mark.line + 1, e.mark.column + 1, 1} : SourceLoc{doc->file, 0, 0, 0};
    diags.Report(DiagId::kPlanNodeError, loc, {e.msg});
    return std::nullopt;
  }
  // A release that applies none of a model's plan (transformers 5.7 on gpt_oss) still has the
  // class's, for NeMo AutoModel: a bundled file of class_tp_plan alone is a plan.
  if (plan.entries.empty() && plan.class_entries.empty()) {
    diags.Report(DiagId::kEmptyPlan, {doc->file, 0, 0, 0});
    return std::nullopt;
  }
  return plan;
}

}  // namespace tpc
