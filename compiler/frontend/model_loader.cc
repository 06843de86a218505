#include "frontend/model_loader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unordered_map>

#include "frontend/config_values.h"
#include "support/limits.h"
#include "support/strings.h"
#include "frontend/yaml_file.h"

namespace tpc {
namespace {

// What an expression's value is for: a size (shape, heads, segments, layer count) must be a
// positive integer; a condition (when, bias, tie_when) takes any number or boolean.
enum class Use { kCondition, kSize };

// A template default (head_dim: hidden_size // num_attention_heads), evaluated on first use, with
// the config values it read: its provenance in messages.
struct Derived {
  bool done = false;
  bool in_progress = false;
  double value = 0;
  std::vector<const ConfigValue*> reads;
};

class Expander {
 public:
  Expander(const ArchTemplate& t, const ConfigFields& fields, const YAML::Node& blocks, int file, ModelGraph& g)
      : t_(t), fields_(fields), blocks_(blocks ? blocks : YAML::Node()), file_(file), g_(g) {
    if (!blocks_.IsNull()) blocks_loc_ = LocOf(file_, blocks_, 1);
  }

  void Run() {
    for (const ModuleTemplate& m : t_.pre) AddModule(m, "", -1, /*layer_in=*/-1);
    // Bounded before anything is allocated per layer.
    int64_t n = Size(t_.layers_count, "the number of layers", "", limits::kMaxLayers);
    g_.num_layers = static_cast<int>(n);
    // Each layer adds its modules plus about three containers.
    g_.Reserve(t_.pre.size() + t_.post.size() + static_cast<size_t>(n) * (t_.layer.size() + 4) + 8);
    int prev = Resolve(Base(t_.layers_in), "layers.in");
    std::string path = Base(t_.layers_path);
    size_t block_nodes = 0;
    for (int64_t i = 0; i < n; ++i) {
      layer_ = static_cast<int>(i);
      layer_fields_.clear();
      if (blocks_.IsSequence() && i < static_cast<int64_t>(blocks_.size()))
        FlattenBlock(file_, blocks_[i], layer_, blocks_loc_, &block_nodes, &layer_fields_);
      std::string lp = path + "." + std::to_string(i) + ".";
      for (const ModuleTemplate& m : t_.layer) AddModule(m, lp, static_cast<int>(i), prev);
      prev = Resolve(lp + t_.layers_out, "layers.out");
    }
    layer_ = -1;
    layer_fields_.clear();
    layers_out_ = prev;
    for (const ModuleTemplate& m : t_.post) AddModule(m, "", -1, -1);
  }

 private:
  const ArchTemplate& t_;
  const ConfigFields& fields_;
  YAML::Node blocks_;  // block_configs, or null
  SourceLoc blocks_loc_;
  int file_;
  ModelGraph& g_;
  int layer_ = -1;
  int layers_out_ = -1;
  int64_t elements_ = 0;  // of every parameter so far
  ConfigFields layer_fields_;
  std::unordered_map<std::string, Derived> derived_;
  // How the expression now being evaluated uses its values, and where it records what it read.
  Use use_ = Use::kCondition;
  std::vector<const ConfigValue*>* reads_ = nullptr;
  int in_default_ = 0;  // defaults see no per-layer values
  const char* what_ = "";  // what the expression now being evaluated is for, and its module
  const std::string* module_ = nullptr;
  std::unordered_map<const Expr*, std::optional<double>> cache_;  // nullopt: reads per-layer values
  // Modules dropped by `when` act as identities: their name resolves to their inputs.
  std::unordered_map<std::string, std::vector<int>> skipped_;

  std::string Base(const std::string& s) const { return ReplaceAll(s, "{base}", g_.base_prefix); }

  const ConfigValue* Field(std::string_view name) const {
    if (in_default_ == 0)
      if (auto it = layer_fields_.find(name); it != layer_fields_.end()) return &it->second;
    if (auto it = fields_.find(name); it != fields_.end()) return &it->second;
    return nullptr;
  }
  const Expr* Default(std::string_view name) const {
    for (const auto& [n, e] : t_.defaults)
      if (n == name) return &e;
    return nullptr;
  }

  // Sets how the next evaluation uses its values, and restores the outer one at scope exit.
  struct Scope {
    Expander& x;
    Use use;
    std::vector<const ConfigValue*>* reads;
    Scope(Expander& e, Use u, std::vector<const ConfigValue*>* r) : x(e), use(e.use_), reads(e.reads_) {
      x.use_ = u;
      x.reads_ = r;
    }
    ~Scope() {
      x.use_ = use;
      x.reads_ = reads;
    }
  };

  // A null field counts as absent, as in transformers: the template's default applies.
  bool Has(std::string_view name) {
    if (const ConfigValue* v = Field(name); v && v->kind != ConfigValue::kNull) return true;
    const Expr* d = Default(name);
    if (!d) return false;
    std::vector<const ConfigValue*> ignored;
    Scope scope(*this, Use::kCondition, &ignored);
    try {
      ReadDerived(std::string(name), *d);
    } catch (const ExprError&) {
      return false;
    }
    return true;
  }

  std::optional<double> Lookup(std::string_view name) {
    if (name == "layer") return layer_ < 0 || in_default_ ? std::nullopt : std::optional<double>(layer_);
    if (StartsWith(name, "has.")) return Has(name.substr(4)) ? 1.0 : 0.0;
    if (const ConfigValue* v = Field(name); v && v->kind != ConfigValue::kNull) {
      std::string problem = use_ == Use::kSize ? SizeProblem(*v) : ConditionProblem(*v);
      if (!problem.empty()) throw ConfigError{DiagId::kBadConfigField, v->loc, {v->name, problem}};
      reads_->push_back(v);
      return v->value;
    }
    if (const Expr* d = Default(name)) return ReadDerived(std::string(name), *d);
    return std::nullopt;
  }

  std::optional<double> ReadDerived(const std::string& name, const Expr& e) {
    Derived& d = derived_[name];
    if (!d.done) {
      if (d.in_progress) return std::nullopt;  // a cycle among defaults: as if missing
      d.in_progress = true;
      std::vector<const ConfigValue*> reads;
      {
        Scope scope(*this, Use::kCondition, &reads);
        ++in_default_;
        try {
          d.value = e.Eval([this](std::string_view n) { return Lookup(n); });
        } catch (...) {
          --in_default_;
          d.in_progress = false;
          throw;
        }
        --in_default_;
      }
      d.in_progress = false;
      d.done = true;
      d.reads = std::move(reads);
    }
    if (use_ == Use::kSize) {
      for (const ConfigValue* v : d.reads)
        if (std::string problem = SizeProblem(*v); !problem.empty())
          throw ConfigError{DiagId::kBadConfigField, v->loc, {v->name, problem}};
      CheckComputedSize(name + " = " + e.text(), d.value, d.reads, Purpose(what_, module_ ? *module_ : std::string()),
                        limits::kMaxDimension, t_.file);
    }
    reads_->insert(reads_->end(), d.reads.begin(), d.reads.end());
    return d.value;
  }

  // A missing variable: the config's null is blamed where it stands, an absent field on the file.
  [[noreturn]] void Missing(const std::string& name, const std::string& purpose) {
    const ConfigValue* v = Field(name);
    std::string shown = name;
    if (StartsWith(name, "block.")) {
      if (!blocks_.IsNull() && !blocks_.IsSequence())
        throw ConfigError{DiagId::kBadConfigField, blocks_loc_,
                          {"block_configs", "must be a list with one mapping per layer, got " +
                                                std::string(NodeTypeName(blocks_))}};
      shown = "block_configs[" + std::to_string(layer_) + "]" + name.substr(5);
    }
    SourceLoc loc = v ? v->loc : SourceLoc{file_, 0, 0, 0};
    throw ConfigError{DiagId::kMissingConfigField, loc, {shown, t_.family, "for " + purpose}};
  }

  // Most expressions (shapes, head counts) read no per-layer value: they are evaluated and checked
  // once and reused for every layer. The message is only built on failure.
  double Eval(const Expr& e, Use use, const char* what, const std::string& module,
              std::vector<const ConfigValue*>* reads) {
    Scope scope(*this, use, reads);
    what_ = what;
    module_ = &module;
    try {
      return e.Eval([this](std::string_view n) { return Lookup(n); });
    } catch (const ExprError& err) {
      Missing(err.what(), Purpose(what, module));
    }
  }
  static std::string Purpose(const char* what, const std::string& module) {
    return std::string(what) + (module.empty() ? "" : " '" + module + "'");
  }
  bool PerLayer(const Expr& e) const {
    for (const std::string& var : e.Variables())
      if (var == "layer" || StartsWith(var, "block.") || StartsWith(var, "has.")) return true;
    return false;
  }
  double Condition(const Expr& e, const char* what, const std::string& module) {
    auto cached = cache_.find(&e);
    if (cached != cache_.end() && cached->second) return *cached->second;
    std::vector<const ConfigValue*> reads;
    double v = Eval(e, Use::kCondition, what, module, &reads);
    if (cached == cache_.end()) cache_.emplace(&e, PerLayer(e) ? std::nullopt : std::optional<double>(v));
    return v;
  }
  int64_t Size(const Expr& e, const char* what, const std::string& module, int64_t max = limits::kMaxDimension) {
    auto cached = cache_.find(&e);
    if (cached != cache_.end() && cached->second) return static_cast<int64_t>(*cached->second);
    std::vector<const ConfigValue*> reads;
    double v = Eval(e, Use::kSize, what, module, &reads);
    CheckComputedSize(e.text(), v, reads, Purpose(what, module), max, t_.file);
    if (cached == cache_.end()) cache_.emplace(&e, PerLayer(e) ? std::nullopt : std::optional<double>(v));
    return static_cast<int64_t>(v);
  }

  // The model's element count stays under kMaxModelElements, so byte sums downstream fit int64.
  void CountElements(const Param& p, const std::string& module) {
    int64_t n = 1;
    bool over = false;
    for (int64_t d : p.shape) over |= __builtin_mul_overflow(n, d, &n);
    over |= __builtin_add_overflow(elements_, n, &elements_);
    if (over || elements_ > limits::kMaxModelElements)
      throw ConfigError{DiagId::kModelTooLarge, {file_, 0, 0, 0},
                        {std::to_string(limits::kMaxModelElements), module + "." + p.name}};
  }

  // Appends the module ids `name` stands for in the dataflow (several when it names a dropped
  // module, whose inputs pass through). `user` is only for the message, `at` for its place.
  void AppendInputs(const std::string& name, const std::string& user, std::vector<int>* out, SourceLoc at) {
    auto add = [out](int id) {
      if (std::find(out->begin(), out->end(), id) == out->end()) out->push_back(id);
    };
    if (!skipped_.empty())
      if (auto it = skipped_.find(name); it != skipped_.end()) {
        for (int id : it->second) add(id);
        return;
      }
    int id = g_.Find(name);
    if (id < 0) TemplateError("input '" + name + "' of '" + user + "' is not declared before it", at);
    add(id);
  }
  int Resolve(const std::string& name, const std::string& what, SourceLoc at = {}) {
    std::vector<int> ids;
    AppendInputs(name, what, &ids, at);
    if (ids.size() != 1) TemplateError(what + " '" + name + "' must name one module", at);
    return ids[0];
  }
  // At the template module `at` when there is one, else at the template file.
  [[noreturn]] void TemplateError(const std::string& message, SourceLoc at) {
    throw ConfigError{DiagId::kBadArchTemplate, at.valid() ? at : SourceLoc{t_.file, 0, 0, 0}, {message}};
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
        AppendInputs(scratch, what, &inputs, mt.loc);
      }
    }
    if (mt.when && Condition(*mt.when, "the condition of", what) == 0) {
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
      Param w{"weight", {}, Role::kNone};
      for (const Expr& d : mt.weight) w.shape.push_back(Size(d, "the shape of", what));
      bool bias = mt.bias && Condition(*mt.bias, "the bias of", what) != 0;
      int64_t rows = w.shape[0];
      m.params.push_back(std::move(w));
      if (bias) m.params.push_back({"bias", {rows}, Role::kNone});
    }
    for (const auto& pt : mt.params) {
      Param p{pt.name, {}, pt.role};
      for (const Expr& d : pt.shape) p.shape.push_back(Size(d, "the shape of", what));
      m.params.push_back(std::move(p));
    }
    for (const Param& p : m.params) CountElements(p, what);
    for (const auto& [name, rows] : mt.segments) m.segments.push_back({name, Size(rows, "the segments of", what)});
    if (mt.heads) m.heads = Size(*mt.heads, "the heads of", what);
    if (mt.kv_heads) m.kv_heads = Size(*mt.kv_heads, "the kv heads of", what);
    if (!mt.tied_to.empty() && (!mt.tie_when || Condition(*mt.tie_when, "the tying of", what) != 0))
      m.tied_to = Resolve(Base(mt.tied_to), "tied_to of '" + what + "'", mt.loc);
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
  g.stored_names = t->stored_names;
  for (StoredNames::Rule& r : g.stored_names.rules) {
    r.tree = ReplaceAll(r.tree, "{base}", g.base_prefix);
    for (std::string& s : r.stored) s = ReplaceAll(s, "{base}", g.base_prefix);
  }
  for (StoredNames::PerHead& h : g.stored_names.per_head) h.stored = ReplaceAll(h.stored, "{base}", g.base_prefix);

  if (YAML::Node a = root["architectures"]; a && a.IsSequence() && a.size() > 0 && a[0].IsScalar())
    g.architecture = a[0].Scalar();
  g.custom_code = root["auto_map"] && root["auto_map"].IsMap();
  for (const char* field : {"torch_dtype", "dtype"})
    if (YAML::Node d = root[field]; d && d.IsScalar() && g.dtype.empty()) g.dtype = d.Scalar();
  bool nested = std::find(t->text_config_types.begin(), t->text_config_types.end(), model_type) !=
                t->text_config_types.end();
  YAML::Node tc = root["text_config"];
  if (nested && (!tc || !tc.IsMap())) {
    diags.Report(DiagId::kMissingConfigField, whole,
                 {"text_config", t->family, "a " + model_type + " config nests the text model there"});
    return std::nullopt;
  }

  try {
    ConfigFields fields;
    ReadConfigFields(doc->file, root, "the config", &fields);
    if (nested) ReadConfigFields(doc->file, tc, "text_config", &fields);
    // A field given under another name transformers accepts (attribute_map) counts as given.
    for (const auto& [field, names] : t->aliases) {
      auto have = fields.find(field);
      if (have != fields.end() && have->second.kind != ConfigValue::kNull) continue;
      for (const std::string& name : names)
        if (auto alt = fields.find(name); alt != fields.end() && alt->second.kind != ConfigValue::kNull) {
          ConfigValue v = alt->second;  // messages keep the name the config used
          fields[field] = std::move(v);
          break;
        }
    }
    for (const auto& [key, v] : fields) {
      if (v.kind != ConfigValue::kNull) g.field_locs[key] = v.key_loc;  // checks point at the key
      if (v.kind == ConfigValue::kNumber && !v.per_layer) g.field_values[key] = v.value;
    }
    // An extra's prefix may name a config number: DeepSeek's multi-token prediction layer is
    // layers.{num_hidden_layers}, one past the last decoder layer.
    for (StoredNames::Extra& e : g.stored_names.extras) {
      e.prefix = ReplaceAll(e.prefix, "{base}", g.base_prefix);
      for (const auto& [key, value] : g.field_values)
        e.prefix = ReplaceAll(e.prefix, "{" + key + "}", std::to_string(static_cast<int64_t>(value)));
    }
    Expander(*t, fields, root["block_configs"], doc->file, g).Run();
    ReadQuantization(doc->file, root, &g.quant);
  } catch (const ConfigError& e) {
    diags.Report(e.id, e.loc, e.args);
    return std::nullopt;
  }
  return g;
}

}  // namespace tpc
