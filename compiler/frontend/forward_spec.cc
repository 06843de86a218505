#include "frontend/forward_spec.h"

#include <algorithm>
#include <filesystem>

#include "frontend/arch_template.h"
#include "frontend/yaml_file.h"
#include "support/strings.h"

namespace tpc {
namespace {

// Attributes read as text; every other attribute is a number.
bool IsStringAttr(const std::string& name) { return name == "type" || name == "act" || name == "rope_type"; }

Expr ParseOne(const YAML::Node& n) {
  if (!n.IsScalar()) throw ForwardTemplateError{n, "expected a number or an expression"};
  try {
    return Expr::Parse(n.Scalar());
  } catch (const ExprError& e) {
    throw ForwardTemplateError{n, e.what()};
  }
}

ForwardAttrTemplate ParseAttr(int file, const std::string& name, const YAML::Node& v) {
  ForwardAttrTemplate a;
  a.name = name;
  a.loc = LocOf(file, v);
  a.is_string = IsStringAttr(name);
  if (a.is_string) {
    if (v.IsScalar()) {
      a.default_text = v.Scalar();
      a.has_default = true;
      return a;
    }
    if (!v.IsMap() || !v["config"]) throw ForwardTemplateError{v, "'" + name + "' must be a string or {config: [fields], default: text}"};
    for (const auto& kv : v) {
      std::string key = kv.first.Scalar();
      if (key == "config") {
        if (kv.second.IsScalar()) a.config_names.push_back(kv.second.Scalar());
        else if (kv.second.IsSequence())
          for (const YAML::Node& s : kv.second) a.config_names.push_back(s.Scalar());
        else throw ForwardTemplateError{kv.second, "config must name a field or a list of fields"};
      } else if (key == "default") {
        if (!kv.second.IsScalar()) throw ForwardTemplateError{kv.second, "default must be a string"};
        a.default_text = kv.second.Scalar();
        a.has_default = true;
      } else {
        throw ForwardTemplateError{kv.first, "unknown field '" + key + "' (expected config, default)"};
      }
    }
    return a;
  }
  if (v.IsSequence()) {
    for (const YAML::Node& e : v) a.alternatives.push_back(ParseOne(e));
    if (a.alternatives.empty()) throw ForwardTemplateError{v, "'" + name + "' needs at least one expression"};
  } else {
    a.alternatives.push_back(ParseOne(v));
  }
  return a;
}

// The attributes the ops read (schemas/arch.schema.json's forward_attrs): a misspelt one would
// silently leave its default in place.
const std::vector<std::string> kAttrNames = {"type",  "eps",         "offset",    "input",   "scale",
                                             "act",   "rope_theta",  "rotary_fraction", "rope_type",
                                             "rope_factor", "softcap", "window",   "top_k",   "norm_topk"};

std::vector<ForwardAttrTemplate> ParseAttrs(int file, const YAML::Node& n) {
  if (!n.IsMap()) throw ForwardTemplateError{n, "expected a mapping of attribute names to values"};
  std::vector<ForwardAttrTemplate> out;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) throw ForwardTemplateError{kv.first, "keys must be strings"};
    const std::string& name = kv.first.Scalar();
    if (std::find(kAttrNames.begin(), kAttrNames.end(), name) == kAttrNames.end()) {
      std::string hint = DidYouMean(name, kAttrNames);
      throw ForwardTemplateError{kv.first, "unknown forward attribute '" + name + "'" +
                                               (hint.empty() ? "; known: " + Join(kAttrNames, ", ")
                                                             : "; did you mean '" + hint + "'?")};
    }
    out.push_back(ParseAttr(file, name, kv.second));
  }
  return out;
}

const std::pair<const char*, ModuleKind> kKindKeys[] = {
    {"embedding", ModuleKind::kEmbedding}, {"norm", ModuleKind::kNorm},     {"linear", ModuleKind::kLinear},
    {"attention", ModuleKind::kAttention}, {"add", ModuleKind::kAdd},       {"mul", ModuleKind::kMul},
    {"router", ModuleKind::kRouter},       {"experts", ModuleKind::kExperts}};

// The architecture file's name of a kind ("mul"), as its `kind:` fields spell it.
const char* KindKey(ModuleKind k) {
  for (const auto& [name, kind] : kKindKeys)
    if (kind == k) return name;
  return "";
}

// Evaluates expressions for one module: config fields by dotted path, defaults, layer variables.
class Evaluator {
 public:
  Evaluator(const ArchTemplate& t, const YAML::Node& config) : t_(t), config_(config) {}

  std::optional<double> Lookup(std::string_view name) {
    if (name == "layer") return layer_ < 0 ? std::nullopt : std::optional<double>(layer_);
    if (StartsWith(name, "layer_type.")) {
      YAML::Node types = Node("layer_types");
      if (layer_ < 0 || !types || !types.IsSequence() || layer_ >= static_cast<int>(types.size())) return std::nullopt;
      const YAML::Node& ct = types;
      return ct[layer_].IsScalar() && ct[layer_].Scalar() == name.substr(11) ? 1.0 : 0.0;
    }
    if (std::optional<double> v = Field(name)) return v;
    auto alias = t_.aliases.find(std::string(name));
    if (alias != t_.aliases.end())
      for (const std::string& other : alias->second)
        if (std::optional<double> v = Field(other)) return v;
    for (const auto& [n, e] : t_.defaults) {
      if (n != name) continue;
      if (depth_ > 8) return std::nullopt;  // a cycle among defaults: as if missing
      ++depth_;
      std::optional<double> v;
      try {
        v = e.Eval([this](std::string_view x) { return Lookup(x); });
      } catch (const ExprError&) {
      }
      --depth_;
      return v;
    }
    return std::nullopt;
  }

  // A config value by dotted path; null, absent, text and containers are unset.
  // (yaml-cpp's `n = n[k]` would assign into the config: reset() rebinds instead.)
  YAML::Node Node(std::string_view path) const {
    YAML::Node n;
    n.reset(config_);
    for (std::string_view part : Split(path, '.')) {
      if (!n.IsMap()) return YAML::Node();
      const YAML::Node& cn = n;
      YAML::Node child = cn[std::string(part)];
      if (!child) return YAML::Node();
      n.reset(child);
    }
    return n;
  }
  std::optional<double> Field(std::string_view path) const {
    YAML::Node n = Node(path);
    if (!n || !n.IsScalar()) return std::nullopt;
    const std::string& s = n.Scalar();
    if (s == "true") return 1.0;
    if (s == "false") return 0.0;
    double d = 0;
    if (!YAML::convert<double>::decode(n, d)) return std::nullopt;
    return d;
  }

  // Fills `out` with `a`, or says why it could not.
  void Apply(const ForwardAttrTemplate& a, const std::string& module, ModuleForward* out, std::vector<std::string>* problems) {
    if (a.is_string) {
      for (std::string c : a.config_names) {
        if (c.find("{layer_type}") != std::string::npos) {
          YAML::Node types = Node("layer_types");
          const YAML::Node& ct = types;
          if (layer_ < 0 || !types.IsSequence() || layer_ >= static_cast<int>(types.size()) || !ct[layer_].IsScalar()) continue;
          c = ReplaceAll(c, "{layer_type}", ct[layer_].Scalar());
        }
        if (YAML::Node n = Node(c); n && n.IsScalar()) {
          out->str[a.name] = n.Scalar();
          return;
        }
      }
      if (a.has_default) out->str[a.name] = a.default_text;
      else problems->push_back(a.name + " of '" + module + "': none of " + Join(a.config_names, ", ") + " is set");
      return;
    }
    std::vector<std::string> tried;
    for (const Expr& e : a.alternatives) {
      try {
        out->num[a.name] = e.Eval([this](std::string_view x) { return Lookup(x); });
        return;
      } catch (const ExprError&) {
        tried.push_back(e.text());
      }
    }
    out->num.erase(a.name);
    problems->push_back(a.name + " of '" + module + "': none of " + Join(tried, ", ") + " can be evaluated");
  }

  int layer_ = -1;

 private:
  const ArchTemplate& t_;
  const YAML::Node config_;
  int depth_ = 0;
};

}  // namespace

ForwardTemplate ParseForwardTemplate(int file, const YAML::Node& n) {
  if (!n.IsMap()) throw ForwardTemplateError{n, "forward must be a mapping of module kinds and 'modules'"};
  ForwardTemplate t;
  t.present = true;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) throw ForwardTemplateError{kv.first, "keys must be strings"};
    std::string key = kv.first.Scalar();
    if (key == "model_types") {
      if (!kv.second.IsSequence()) throw ForwardTemplateError{kv.second, "forward.model_types must be a list of model types"};
      for (const YAML::Node& m : kv.second) {
        if (!m.IsScalar()) throw ForwardTemplateError{m, "forward.model_types must be a list of model types"};
        t.model_types.push_back(m.Scalar());
      }
    } else if (key == "modules") {
      if (!kv.second.IsMap()) throw ForwardTemplateError{kv.second, "forward.modules must map module names to attributes"};
      for (const auto& m : kv.second) t.by_module[m.first.Scalar()] = ParseAttrs(file, m.second);
    } else if (std::any_of(std::begin(kKindKeys), std::end(kKindKeys), [&](const auto& k) { return key == k.first; })) {
      t.by_kind[key] = ParseAttrs(file, kv.second);
    } else {
      throw ForwardTemplateError{kv.first, "unknown forward field '" + key + "' (expected a module kind, 'modules' or 'model_types')"};
    }
  }
  return t;
}

ForwardSpec EvalForwardSpec(const ModelGraph& g, const ArchTemplate& t, const YAML::Node& config) {
  ForwardSpec spec;
  spec.modules.resize(g.modules().size());
  const std::vector<std::string>& types = t.forward.model_types;
  spec.covered = t.forward.present &&
                 (types.empty() || std::find(types.begin(), types.end(), g.model_type) != types.end());
  if (!spec.covered) return spec;
  Evaluator ev(t, config);
  std::string layers = ReplaceAll(t.layers_path, "{base}", g.base_prefix) + ".";
  for (size_t id = 0; id < g.modules().size(); ++id) {
    const Module& m = g.modules()[id];
    if (m.kind == ModuleKind::kContainer) continue;
    ev.layer_ = m.layer;
    ModuleForward& out = spec.modules[id];
    if (auto it = t.forward.by_kind.find(KindKey(m.kind)); it != t.forward.by_kind.end())
      for (const ForwardAttrTemplate& a : it->second) ev.Apply(a, m.name, &out, &spec.problems);
    // Overrides by the module's name in the template: layer-relative inside the layers.
    std::string rel = m.name;
    if (m.layer >= 0) {
      std::string prefix = layers + std::to_string(m.layer) + ".";
      if (StartsWith(rel, prefix)) rel = rel.substr(prefix.size());
    }
    for (const auto& [name, attrs] : t.forward.by_module) {
      std::string want = m.layer >= 0 ? name : ReplaceAll(name, "{base}", g.base_prefix);
      if (want != rel) continue;
      for (const ForwardAttrTemplate& a : attrs) ev.Apply(a, m.name, &out, &spec.problems);
    }
  }
  return spec;
}

std::optional<ForwardSpec> LoadForwardSpec(const ModelGraph& g, const ArchRegistry& registry,
                                           const std::string& path, Diagnostics& diags) {
  std::string file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) file = (std::filesystem::path(path) / "config.json").string();
  std::string text;
  if (!ReadTextFile(file, &text, diags)) return std::nullopt;
  std::optional<YamlDoc> doc = ParseYamlText(file, std::move(text), diags);
  if (!doc) return std::nullopt;
  const ArchTemplate* t = registry.Find(g.model_type, diags);
  if (!t) return std::nullopt;
  bool nested = std::find(t->text_config_types.begin(), t->text_config_types.end(), g.model_type) !=
                t->text_config_types.end();
  YAML::Node config = nested && doc->root["text_config"] ? doc->root["text_config"] : doc->root;
  try {
    return EvalForwardSpec(g, *t, config);
  } catch (const YAML::Exception& e) {
    ForwardSpec spec;
    spec.modules.resize(g.modules().size());
    spec.problems.push_back(file + ": " + e.msg);
    return spec;
  }
}

}  // namespace tpc
