#include "frontend/model_loader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unordered_map>

#include "support/strings.h"
#include "support/yaml_file.h"

namespace tpc {
namespace {

// A config field the template needs is missing; carries what needed it.
struct MissingField {
  std::string field;
  std::string needed_for;
};

// Transparent hashing: variables are looked up by string_view without building a string.
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using VarMap = std::unordered_map<std::string, double, NameHash, std::equal_to<>>;

std::optional<double> ScalarValue(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True") return 1.0;
  if (s == "false" || s == "False") return 0.0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

// Flattens {attention: {n_heads_in_group: 8}} into "block.attention.n_heads_in_group" = 8.
void Flatten(const YAML::Node& n, const std::string& prefix, VarMap* out) {
  if (n.IsMap()) {
    for (const auto& kv : n) Flatten(kv.second, prefix + "." + kv.first.as<std::string>(), out);
  } else if (std::optional<double> v = ScalarValue(n)) {
    (*out)[prefix] = *v;
  }
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

class Expander {
 public:
  Expander(const ArchTemplate& t, VarMap vars, YAML::Node block_configs, ModelGraph& g)
      : t_(t), vars_(std::move(vars)), blocks_(block_configs), g_(g) {}

  void Run() {
    for (const ModuleTemplate& m : t_.pre) AddModule(m, "", -1, /*layer_in=*/-1);
    int64_t n = Int(t_.layers_count, "the number of layers");
    if (n < 0 || n > 1'000'000) throw MissingField{"", "the number of layers (" + std::to_string(n) + ") is out of range"};
    g_.num_layers = static_cast<int>(n);
    // Each layer adds its modules plus about three containers.
    g_.Reserve(t_.pre.size() + t_.post.size() + static_cast<size_t>(n) * (t_.layer.size() + 4) + 8);
    int prev = Resolve(Base(t_.layers_in), "layers.in");
    std::string path = Base(t_.layers_path);
    for (int64_t i = 0; i < n; ++i) {
      layer_ = static_cast<int>(i);
      layer_vars_.clear();
      if (blocks_ && blocks_.IsSequence() && i < static_cast<int64_t>(blocks_.size()))
        Flatten(blocks_[i], "block", &layer_vars_);
      std::string lp = path + "." + std::to_string(i) + ".";
      for (const ModuleTemplate& m : t_.layer) AddModule(m, lp, static_cast<int>(i), prev);
      prev = Resolve(lp + t_.layers_out, "layers.out");
    }
    layer_ = -1;
    layers_out_ = prev;
    for (const ModuleTemplate& m : t_.post) AddModule(m, "", -1, -1);
  }

 private:
  const ArchTemplate& t_;
  VarMap vars_;
  VarMap layer_vars_;
  YAML::Node blocks_;
  ModelGraph& g_;
  int layer_ = -1;
  int layers_out_ = -1;
  std::unordered_map<const Expr*, std::optional<double>> cache_;  // nullopt: reads per-layer variables
  // Modules dropped by `when` act as identities: their name resolves to their inputs.
  std::unordered_map<std::string, std::vector<int>> skipped_;

  std::string Base(const std::string& s) const { return ReplaceAll(s, "{base}", g_.base_prefix); }

  std::optional<double> Lookup(std::string_view name) const {
    if (name == "layer") return layer_ < 0 ? std::nullopt : std::optional<double>(layer_);
    if (name.substr(0, 4) == "has.") {
      std::string_view rest = name.substr(4);
      return (layer_vars_.find(rest) != layer_vars_.end() || vars_.find(rest) != vars_.end()) ? 1.0 : 0.0;
    }
    if (auto it = layer_vars_.find(name); it != layer_vars_.end()) return it->second;
    if (auto it = vars_.find(name); it != vars_.end()) return it->second;
    return std::nullopt;
  }

  // Most expressions (shapes, head counts) read no per-layer variable: they are evaluated once and
  // reused for every layer. `what` names the purpose; the message is only built on failure.
  double Eval(const Expr& e, const char* what, const std::string& module = "") {
    auto cached = cache_.find(&e);
    if (cached != cache_.end() && cached->second) return *cached->second;
    double v;
    try {
      v = e.Eval([this](std::string_view n) { return Lookup(n); });
    } catch (const ExprError& err) {
      throw MissingField{err.what(), std::string(what) + (module.empty() ? "" : " '" + module + "'")};
    }
    if (cached == cache_.end()) {
      bool per_layer = false;
      for (const std::string& var : e.Variables())
        per_layer |= var == "layer" || var.rfind("block.", 0) == 0 || var.rfind("has.", 0) == 0;
      cache_.emplace(&e, per_layer ? std::nullopt : std::optional<double>(v));
    }
    return v;
  }
  int64_t Int(const Expr& e, const char* what, const std::string& module = "") {
    return std::llround(Eval(e, what, module));
  }

  // Appends the module ids `name` stands for in the dataflow (several when it names a dropped
  // module, whose inputs pass through). `user` is only for the message.
  void AppendInputs(const std::string& name, const std::string& user, std::vector<int>* out) {
    auto add = [out](int id) {
      if (std::find(out->begin(), out->end(), id) == out->end()) out->push_back(id);
    };
    if (!skipped_.empty())
      if (auto it = skipped_.find(name); it != skipped_.end()) {
        for (int id : it->second) add(id);
        return;
      }
    int id = g_.Find(name);
    if (id < 0) throw MissingField{"", "input '" + name + "' of '" + user + "' is not declared before it"};
    add(id);
  }
  int Resolve(const std::string& name, const std::string& what) {
    std::vector<int> ids;
    AppendInputs(name, what, &ids);
    if (ids.size() != 1) throw MissingField{"", what + " '" + name + "' must name one module"};
    return ids[0];
  }

  void AddModule(const ModuleTemplate& mt, const std::string& layer_prefix, int layer, int layer_in) {
    Module m;
    m.name = layer_prefix.empty() ? Base(mt.name) : layer_prefix + mt.name;
    const std::string& what = m.name;
    std::vector<int> inputs;
    inputs.reserve(mt.inputs.size());
    std::string scratch;
    for (const std::string& in : mt.inputs) {
      if (in == "residual" && layer >= 0) {
        inputs.push_back(layer_in);
      } else if (in == "layers" && layer < 0) {
        inputs.push_back(layers_out_);
      } else {
        scratch = layer_prefix.empty() ? Base(in) : layer_prefix + in;
        AppendInputs(scratch, what, &inputs);
      }
    }
    if (mt.when && Eval(*mt.when, "the condition of", what) == 0) {
      skipped_[m.name] = inputs;
      return;
    }
    m.kind = mt.kind;
    m.role = mt.role;
    m.layer = layer;
    m.is_virtual = mt.is_virtual;
    m.per_head = mt.per_head;
    m.inputs = std::move(inputs);
    m.fused = mt.fused;
    if (!mt.weight.empty()) {
      Param w{"weight", {}, ""};
      for (const Expr& d : mt.weight) w.shape.push_back(Int(d, "the shape of", what));
      bool bias = mt.bias && Eval(*mt.bias, "the bias of", what) != 0;
      int64_t rows = w.shape[0];
      m.params.push_back(std::move(w));
      if (bias) m.params.push_back({"bias", {rows}, ""});
    }
    for (const auto& pt : mt.params) {
      Param p{pt.name, {}, pt.role};
      for (const Expr& d : pt.shape) p.shape.push_back(Int(d, "the shape of", what));
      m.params.push_back(std::move(p));
    }
    for (const auto& [name, rows] : mt.segments) m.segments.push_back({name, Int(rows, "the segments of", what)});
    if (mt.heads) m.heads = Int(*mt.heads, "the heads of", what);
    if (mt.kv_heads) m.kv_heads = Int(*mt.kv_heads, "the kv heads of", what);
    if (!mt.tied_to.empty() && (!mt.tie_when || Eval(*mt.tie_when, "the tying of", what) != 0))
      m.tied_to = Resolve(Base(mt.tied_to), "tied_to of '" + what + "'");
    g_.Add(std::move(m));
  }
};

}  // namespace

std::optional<ModelGraph> LoadModel(const std::string& path, const ArchRegistry& registry,
                                    Diagnostics& diags) {
  std::string file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) file = (std::filesystem::path(path) / "config.json").string();
  std::string text;
  if (!ReadTextFile(file, &text, diags)) return std::nullopt;
  return ParseModel(file, std::move(text), registry, diags);
}

std::optional<ModelGraph> ParseModel(const std::string& path, std::string text, const ArchRegistry& registry,
                                     Diagnostics& diags) {
  std::optional<YamlDoc> doc = ParseYamlText(path, std::move(text), diags);
  if (!doc) return std::nullopt;
  const YAML::Node& root = doc->root;
  SourceLoc whole{doc->file, 0, 0, 0};
  if (!root.IsMap()) {
    diags.Report(DiagId::kNotAMapping, LocOf(doc->file, root), {"a config.json", NodeTypeName(root)});
    return std::nullopt;
  }
  std::string supported = Join(registry.ModelTypes(), ", ");
  YAML::Node mt = root["model_type"];
  if (!mt || !mt.IsScalar()) {
    diags.Report(DiagId::kNoModelType, whole, {supported});
    return std::nullopt;
  }
  std::string model_type = mt.Scalar();
  const ArchTemplate* t = registry.Find(model_type, diags);
  if (diags.has_fatal()) return std::nullopt;
  if (!t) {
    std::string hint = DidYouMean(model_type, registry.ModelTypes());
    diags.Report(DiagId::kUnknownModelType, LocOf(doc->file, mt, static_cast<int>(model_type.size()) + 2),
                 {model_type, hint.empty() ? "" : " (did you mean '" + hint + "'?)", supported});
    return std::nullopt;
  }

  ModelGraph g;
  g.model_type = model_type;
  g.family = t->family;
  g.config_file = doc->file;
  g.base_prefix = t->base_prefix;
  if (auto it = t->base_prefix_for.find(model_type); it != t->base_prefix_for.end()) g.base_prefix = it->second;

  VarMap vars;
  auto take = [&](const YAML::Node& map) {
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>();
      if (std::optional<double> v = ScalarValue(kv.second)) {
        vars[key] = *v;
        g.field_locs[key] = LocOf(doc->file, kv.first, static_cast<int>(key.size()) + 2);
      }
    }
  };
  take(root);
  if (YAML::Node a = root["architectures"]; a && a.IsSequence() && a.size() > 0 && a[0].IsScalar())
    g.architecture = a[0].Scalar();
  g.custom_code = root["auto_map"] && root["auto_map"].IsMap();
  for (const char* field : {"torch_dtype", "dtype"})
    if (YAML::Node d = root[field]; d && d.IsScalar() && g.dtype.empty()) g.dtype = d.Scalar();
  bool nested = std::find(t->text_config_types.begin(), t->text_config_types.end(), model_type) !=
                t->text_config_types.end();
  if (nested) {
    YAML::Node tc = root["text_config"];
    if (!tc || !tc.IsMap()) {
      diags.Report(DiagId::kMissingConfigField, whole,
                   {"text_config", t->family, "a " + model_type + " config nests the text model there"});
      return std::nullopt;
    }
    take(tc);
  }
  for (const auto& [name, expr] : t->defaults) {
    if (vars.count(name)) continue;
    try {
      vars[name] = expr.Eval([&](std::string_view n) -> std::optional<double> {
        auto it = vars.find(std::string(n));
        return it == vars.end() ? std::nullopt : std::optional<double>(it->second);
      });
    } catch (const ExprError&) {
      // The default needs a field that is absent too; whatever uses it reports the real one.
    }
  }

  try {
    Expander(*t, std::move(vars), root["block_configs"], g).Run();
  } catch (const MissingField& m) {
    if (m.field.empty()) diags.Report(DiagId::kBadArchTemplate, {t->file, 0, 0, 0}, {m.needed_for});
    else diags.Report(DiagId::kMissingConfigField, whole, {m.field, t->family, "for " + m.needed_for});
    return std::nullopt;
  }
  return g;
}

}  // namespace tpc
