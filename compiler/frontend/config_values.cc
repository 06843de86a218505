#include "frontend/config_values.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "support/limits.h"
#include "frontend/yaml_file.h"

namespace tpc {
namespace {

// JSON's number syntax: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. YAML plain scalars such
// as 0x20, .inf or nan are text here, as they are not numbers in config.json.
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// A quoted scalar has the non-specific tag "!", a plain one "?".
bool IsQuoted(const YAML::Node& n) { return n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str"; }

// Appends `n` in flow style; stops once `out` is past the limit, so an alias bomb costs nothing.
void Render(const YAML::Node& n, std::string* out) {
  if (out->size() > limits::kMaxQuotedValue) return;
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      *out += IsQuoted(n) ? "\"" + n.Scalar() + "\"" : n.Scalar();
      return;
    case YAML::NodeType::Sequence: {
      *out += '[';
      const char* sep = "";
      for (const YAML::Node& item : n) {
        if (out->size() > limits::kMaxQuotedValue) break;
        *out += sep;
        Render(item, out);
        sep = ", ";
      }
      *out += ']';
      return;
    }
    case YAML::NodeType::Map: {
      *out += '{';
      const char* sep = "";
      for (const auto& kv : n) {
        if (out->size() > limits::kMaxQuotedValue) break;
        *out += sep;
        Render(kv.first, out);
        *out += ": ";
        Render(kv.second, out);
        sep = ", ";
      }
      *out += '}';
      return;
    }
    default:
      *out += "null";
  }
}

ConfigValue ReadValue(int file, std::string name, const YAML::Node& n) {
  ConfigValue v;
  v.name = std::move(name);
  v.loc = LocOf(file, n);
  Render(n, &v.raw);
  if (v.raw.size() > limits::kMaxQuotedValue) v.raw = v.raw.substr(0, limits::kMaxQuotedValue) + "...";
  // The caret covers the value when it sits on one line.
  if (v.raw.find('\n') == std::string::npos) v.loc.length = static_cast<int>(v.raw.size());
  const char* what = "";
  if (n.IsSequence()) {
    v.kind = ConfigValue::kSequence;
    what = " (a sequence)";
  } else if (n.IsMap()) {
    v.kind = ConfigValue::kMapping;
    what = " (a mapping)";
  } else if (!n.IsScalar()) {
    v.kind = ConfigValue::kNull;
  } else if (IsQuoted(n)) {
    v.kind = ConfigValue::kString;
    what = " (a string)";
  } else if (const std::string& s = n.Scalar(); s == "true" || s == "True" || s == "TRUE") {
    v.kind = ConfigValue::kBool;
    v.value = 1;
  } else if (s == "false" || s == "False" || s == "FALSE") {
    v.kind = ConfigValue::kBool;
  } else if (IsJsonNumber(s)) {
    v.kind = ConfigValue::kNumber;
    v.value = std::strtod(s.c_str(), nullptr);  // 1e400 becomes inf, which sizes reject
  } else {
    v.kind = ConfigValue::kText;
  }
  v.raw += what;
  return v;
}

// A key must be a plain name: `? [a, b] : x` in a YAML config is not a field.
std::string KeyOf(int file, const YAML::Node& key, const std::string& where) {
  if (!key.IsScalar())
    throw ConfigError{DiagId::kBadConfigKey, LocOf(file, key), {where, NodeTypeName(key)}};
  return key.Scalar();
}

void Flatten(int file, const YAML::Node& n, const std::string& key, const std::string& name,
             const std::string& entry, SourceLoc blocks_loc, size_t* visited, size_t* in_entry,
             ConfigFields* out) {
  // Count every node, maps included, so the walk stops early however the aliases nest.
  if (++*in_entry > limits::kMaxBlockConfigScalars)
    throw ConfigError{DiagId::kBadConfigField, blocks_loc,
                      {"block_configs", "has more than " + std::to_string(limits::kMaxBlockConfigScalars) +
                                            " values in " + entry +
                                            " (real entries have about 10); YAML aliases count once per use"}};
  if (++*visited > limits::kMaxBlockConfigNodes)
    throw ConfigError{DiagId::kBadConfigField, blocks_loc,
                      {"block_configs", "has more than " + std::to_string(limits::kMaxBlockConfigNodes) +
                                            " values by " + entry +
                                            " (real ones have about 10 per layer); YAML aliases count once per use"}};
  if (!n.IsMap()) {
    ConfigValue v = ReadValue(file, name, n);
    v.per_layer = true;
    (*out)[key] = std::move(v);
    return;
  }
  for (const auto& kv : n) {
    std::string k = KeyOf(file, kv.first, entry);
    Flatten(file, kv.second, key + "." + k, name + "." + k, entry, blocks_loc, visited, in_entry, out);
  }
}

}  // namespace

void ReadConfigFields(int file, const YAML::Node& map, const std::string& where, ConfigFields* out) {
  for (const auto& kv : map) {
    std::string key = KeyOf(file, kv.first, where);
    ConfigValue v = ReadValue(file, key, kv.second);
    v.key_loc = LocOf(file, kv.first, static_cast<int>(key.size()) + 2);
    (*out)[key] = std::move(v);
  }
}

void FlattenBlock(int file, const YAML::Node& entry, int index, SourceLoc blocks_loc, size_t* visited,
                  ConfigFields* out) {
  std::string name = "block_configs[" + std::to_string(index) + "]";
  if (entry.IsNull()) return;
  if (!entry.IsMap())
    throw ConfigError{DiagId::kBadConfigField, LocOf(file, entry),
                      {name, "must be a mapping of per-layer settings, got " + ReadValue(file, name, entry).raw}};
  size_t in_entry = 0;
  for (const auto& kv : entry) {
    std::string k = KeyOf(file, kv.first, name);
    Flatten(file, kv.second, "block." + k, name + "." + k, name, blocks_loc, visited, &in_entry, out);
  }
}

std::string SizeProblem(const ConfigValue& v) {
  const char* want = v.per_layer ? "must be a positive number" : "must be a positive integer";
  if (v.kind != ConfigValue::kNumber || !std::isfinite(v.value) || v.value <= 0 ||
      (!v.per_layer && v.value != std::floor(v.value)))
    return std::string(want) + ", got " + v.raw;
  if (v.value > static_cast<double>(limits::kMaxDimension))
    return std::string(want) + " up to " + std::to_string(limits::kMaxDimension) + ", got " + v.raw;
  return "";
}

std::string ConditionProblem(const ConfigValue& v) {
  if (v.kind == ConfigValue::kBool || (v.kind == ConfigValue::kNumber && std::isfinite(v.value))) return "";
  return "must be a number or a boolean, got " + v.raw;
}

void CheckComputedSize(const std::string& expr, double v, const std::vector<const ConfigValue*>& reads,
                       const std::string& purpose, int64_t max, int template_file) {
  if (std::isfinite(v) && v >= 1 && v <= static_cast<double>(max) && v == std::floor(v)) return;
  std::string range = "a positive integer up to " + std::to_string(max);
  std::string where = purpose.empty() ? "" : " for " + purpose;
  if (reads.empty())
    throw ConfigError{DiagId::kBadArchTemplate, {template_file, 0, 0, 0},
                      {expr + " is " + FormatNumber(v) + where + ", not " + range}};
  std::vector<const ConfigValue*> seen;
  for (const ConfigValue* r : reads)
    if (std::find(seen.begin(), seen.end(), r) == seen.end()) seen.push_back(r);
  const ConfigValue& first = *seen[0];
  if (seen.size() == 1 && expr == first.name)
    throw ConfigError{DiagId::kBadConfigField, first.loc,
                      {first.name, "must be " + range + where + ", got " + first.raw}};
  // head_dim = hidden_size // num_attention_heads = 0: name each value the expression read.
  std::string args = "(" + first.raw + ")";
  for (size_t i = 1; i < seen.size(); ++i)
    args += (i + 1 == seen.size() ? " and '" : ", '") + seen[i]->name + "' (" + seen[i]->raw + ")";
  throw ConfigError{DiagId::kBadConfigField, first.loc,
                    {first.name, args + (seen.size() > 1 ? " give " : " gives ") + expr + " = " + FormatNumber(v) +
                                     where + ", and every size must be " + range}};
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

void ReadQuantization(int file, const YAML::Node& root, Quantization* out) {
  YAML::Node q = root["quantization_config"];
  if (!q || q.IsNull()) return;
  out->loc = LocOf(file, q);
  if (!q.IsMap()) {
    out->method = "?";
    return;
  }
  YAML::Node method = q["quant_method"];
  out->method = method && method.IsScalar() ? method.Scalar() : "?";
  if (method) out->loc = LocOf(file, method, method.IsScalar() ? static_cast<int>(method.Scalar().size()) + 2 : 1);
  YAML::Node block = q["weight_block_size"];
  if (!block || block.IsNull()) return;
  out->block_loc = LocOf(file, block);
  bool ok = block.IsSequence() && block.size() == 2;
  for (size_t i = 0; ok && i < 2; ++i) {
    int64_t v = 0;
    ok = block[i].IsScalar() && YAML::convert<int64_t>::decode(block[i], v) && v > 0 && v <= limits::kMaxDimension;
    if (ok) out->weight_block.push_back(v);
  }
  if (!ok)
    throw ConfigError{DiagId::kBadConfigField, LocOf(file, block),
                      {"quantization_config.weight_block_size", "must be two positive integers, as [128, 128]"}};
}

}  // namespace tpc
