#include "runtime/verify/shrink_config.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <set>
#include <string_view>

#include "support/expr.h"
#include "support/limits.h"

namespace tpc::verify {

namespace {

constexpr int64_t kWidthTarget = 32;     // hidden, intermediate, LoRA ranks
constexpr int64_t kPerHeadTarget = 8;    // head_dim, qk_rope_head_dim, ...
constexpr int64_t kExpertTarget = 8;     // routed experts
constexpr int64_t kVocabTarget = 64;
constexpr int64_t kMaxQueryWidth = 256;  // heads * derived head_dim
constexpr int kMinLayers = 2;

// Routing fields transformers names the same across MoE families; none is a dimension.
constexpr const char* kTopKFields[] = {"num_experts_per_tok", "experts_per_token"};

enum class DimClass { kWidth, kPerHead, kExpert, kVocab };

// The config's fields: the root and, for a model type nested in text_config, that object, whose
// fields win (the loader reads them the same way).
class Fields {
 public:
  Fields(nlohmann::json* root, nlohmann::json* text, const ArchTemplate& t) : root_(root), text_(text), t_(t) {}
  /// The value of `field` (under an alias if the config uses one), or nullptr.
  nlohmann::json* Find(const std::string& field) {
    if (nlohmann::json* v = Own(field)) return v;
    if (auto a = t_.aliases.find(field); a != t_.aliases.end())
      for (const std::string& name : a->second)
        if (nlohmann::json* v = Own(name)) return v;
    return nullptr;
  }
  /// The integer value of `field`, or -1.
  int64_t Int(const std::string& field) {
    nlohmann::json* v = Find(field);
    return v && v->is_number_integer() && v->get<int64_t>() > 0 ? v->get<int64_t>() : -1;
  }
  std::vector<nlohmann::json*> Objects() { return text_ ? std::vector{root_, text_} : std::vector{root_}; }

 private:
  nlohmann::json* Own(const std::string& name) {
    for (nlohmann::json* o : {text_, root_})
      if (o && o->contains(name) && !(*o)[name].is_null()) return &(*o)[name];
    return nullptr;
  }
  nlohmann::json* root_;
  nlohmann::json* text_;
  const ArchTemplate& t_;
};

std::vector<const ModuleTemplate*> AllModules(const ArchTemplate& t) {
  std::vector<const ModuleTemplate*> out;
  for (const auto* list : {&t.pre, &t.layer, &t.post})
    for (const ModuleTemplate& m : *list) out.push_back(&m);
  return out;
}

void Add(const Expr& e, std::set<std::string>* to) {
  for (std::string& v : e.Variables()) to->insert(std::move(v));
}

// Classifies the config fields the weight shapes read. A field read beside a head count in one
// dimension (num_attention_heads * head_dim) is a per-head size.
std::map<std::string, DimClass> Dimensions(const ArchTemplate& t, const std::set<std::string>& heads) {
  std::map<std::string, DimClass> dims;
  auto note = [&](const Expr& e, DimClass c) {
    std::vector<std::string> vars = e.Variables();
    bool per_head = std::any_of(vars.begin(), vars.end(), [&](const std::string& v) { return heads.count(v); });
    for (const std::string& v : vars) {
      if (heads.count(v) || v == "layer") continue;
      DimClass k = c == DimClass::kWidth && per_head ? DimClass::kPerHead : c;
      auto [it, fresh] = dims.emplace(v, k);
      if (!fresh && k != DimClass::kWidth) it->second = std::max(it->second, k);
    }
  };
  for (const ModuleTemplate* m : AllModules(t)) {
    for (size_t i = 0; i < m->weight.size(); ++i) {
      bool vocab = m->kind == ModuleKind::kEmbedding && i == 0;
      bool experts = m->kind == ModuleKind::kRouter && i == 0;
      note(m->weight[i], vocab ? DimClass::kVocab : experts ? DimClass::kExpert : DimClass::kWidth);
    }
    for (const auto& p : m->params)
      for (size_t i = 0; i < p.shape.size(); ++i)
        note(p.shape[i], m->kind == ModuleKind::kExperts && i == 0 && p.shape.size() == 3 ? DimClass::kExpert
                                                                                           : DimClass::kWidth);
    for (const auto& s : m->segments) note(s.second, DimClass::kWidth);
  }
  return dims;
}

// The smallest value >= target congruent to d modulo `mod` (d itself when already small).
int64_t Shrink(int64_t d, int64_t target, int64_t mod) {
  if (d <= target) return d;
  int64_t r = d % mod;
  int64_t v = r + mod * ((std::max<int64_t>(target - r, 0) + mod - 1) / mod);
  if (v == 0) v = mod;
  return std::min(v, d);
}

void Set(nlohmann::json* v, const std::string& name, int64_t to, ShrinkReport* report) {
  int64_t from = v->get<int64_t>();
  if (from == to) return;
  *v = to;
  report->changes.push_back(name + ": " + std::to_string(from) + " -> " + std::to_string(to));
}

// A config value for a `when` expression in layer `layer`: "layer", "has.X", "block.a.b" (from
// block_configs[layer]), a number or boolean field, else the template's default for it.
std::optional<double> Lookup(const ArchTemplate& t, Fields& f, int64_t layer, std::string_view name, int depth) {
  if (name == "layer") return static_cast<double>(layer);
  bool has = name.substr(0, 4) == "has.";
  std::string_view field = has ? name.substr(4) : name;
  const nlohmann::json* v = nullptr;
  if (field.substr(0, 6) == "block.") {
    nlohmann::json* blocks = f.Find("block_configs");
    if (blocks && blocks->is_array() && layer < static_cast<int64_t>(blocks->size())) {
      v = &(*blocks)[static_cast<size_t>(layer)];
      size_t at = 6;
      while (v && at <= field.size()) {
        size_t dot = std::min(field.find('.', at), field.size());
        std::string key(field.substr(at, dot - at));
        v = v->is_object() && v->contains(key) ? &(*v)[key] : nullptr;
        at = dot + 1;
      }
    }
  } else {
    v = f.Find(std::string(field));
  }
  if (has) return v && !v->is_null() ? 1.0 : 0.0;
  if (v && v->is_boolean()) return v->get<bool>() ? 1.0 : 0.0;
  if (v && v->is_number()) return v->get<double>();
  if (depth > 0)
    for (const auto& [key, expr] : t.defaults)
      if (key == field) {
        try {
          return expr.Eval([&](std::string_view n) { return Lookup(t, f, layer, n, depth - 1); });
        } catch (const ExprError&) {
          return std::nullopt;
        }
      }
  return std::nullopt;
}

// Which modules of the layer template layer `layer` has, as a string of 0/1/? per module.
std::string LayerKind(const ArchTemplate& t, Fields& f, int64_t layer) {
  std::string kind;
  for (const ModuleTemplate& m : t.layer) {
    if (!m.when) continue;
    try {
      kind += m.when->Eval([&](std::string_view n) { return Lookup(t, f, layer, n, 4); }) != 0 ? '1' : '0';
    } catch (const ExprError&) {
      kind += '?';
    }
  }
  return kind;
}

// Layers enough for every kind of layer the config describes: the shortest prefix of the layers
// that holds every distinct module set (the `when` expressions, evaluated per layer) and every
// distinct layer_types value, at least kMinLayers.
int64_t LayersNeeded(const ArchTemplate& t, Fields& f, int64_t layers) {
  nlohmann::json* types = f.Find("layer_types");
  if (types && !types->is_array()) types = nullptr;
  auto kind = [&](int64_t i) {
    std::string k = LayerKind(t, f, i);
    if (types && i < static_cast<int64_t>(types->size())) k += (*types)[static_cast<size_t>(i)].dump();
    return k;
  };
  std::set<std::string> all;
  for (int64_t i = 0; i < layers; ++i) all.insert(kind(i));
  std::set<std::string> seen;
  int64_t n = 0;
  while (n < layers && seen.size() < all.size()) seen.insert(kind(n++));
  for (const char* pattern : {"sliding_window_pattern", "_sliding_window_pattern"})
    if (int64_t p = f.Int(pattern); p > 0) n = std::max(n, p);
  return std::min(std::max<int64_t>(n, kMinLayers), layers);
}

void ShrinkLayers(const ArchTemplate& t, Fields& f, ShrinkReport* report) {
  std::vector<std::string> vars = t.layers_count.Variables();
  if (vars.size() != 1) return;
  nlohmann::json* count = f.Find(vars[0]);
  if (!count || !count->is_number_integer()) return;
  int64_t old = count->get<int64_t>();
  if (old <= 0 || old > limits::kMaxLayers) return;
  int64_t n = LayersNeeded(t, f, old);
  Set(count, vars[0], n, report);
  // Per-layer arrays (layer_types, block_configs) follow the count; index lists drop what is gone.
  for (nlohmann::json* o : f.Objects())
    for (auto& [key, v] : o->items()) {
      if (!v.is_array()) continue;
      if (static_cast<int64_t>(v.size()) == old && old != n) {
        v.erase(v.begin() + n, v.end());
        report->changes.push_back(key + ": cut to " + std::to_string(n) + " entries");
      } else if (key == "mlp_only_layers") {
        v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& e) { return !e.is_number() || e.template get<int64_t>() >= n; }), v.end());
      }
    }
}

}  // namespace

bool ShrinkConfig(const nlohmann::json& config, int tp, const ArchRegistry& registry,
                  nlohmann::json* out, ShrinkReport* report, std::string* err) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string()) {
    *err = "the config has no model_type";
    return false;
  }
  std::string model_type = config["model_type"].get<std::string>();
  SourceManager sources;
  Diagnostics diags(sources);
  const ArchTemplate* t = registry.Find(model_type, diags);
  if (!t) {
    *err = "no architecture file covers model_type '" + model_type + "'";
    return false;
  }
  if (tp < 1) {
    *err = "tp must be at least 1, got " + std::to_string(tp);
    return false;
  }
  *out = config;
  bool nested = std::count(t->text_config_types.begin(), t->text_config_types.end(), model_type) > 0;
  nlohmann::json* text = nested && out->contains("text_config") && (*out)["text_config"].is_object()
                             ? &(*out)["text_config"] : nullptr;
  Fields f(out, text, *t);
  const int64_t mod = std::lcm<int64_t>(tp, 8);

  std::set<std::string> heads;
  for (const ModuleTemplate* m : AllModules(*t)) {
    if (m->heads) Add(*m->heads, &heads);
    if (m->kv_heads) Add(*m->kv_heads, &heads);
  }
  std::map<std::string, DimClass> dims = Dimensions(*t, heads);

  // A per-head size the config leaves to a default (head_dim = hidden_size // heads) stays derived:
  // the default's other field is set so that it yields a small size.
  std::set<std::string> fixed;
  for (const auto& [field, expr] : t->defaults) {
    auto d = dims.find(field);
    if (d == dims.end() || d->second != DimClass::kPerHead || f.Find(field)) continue;
    std::vector<std::string> vars = expr.Variables();
    int64_t h = -1;
    for (const std::string& v : vars)
      if (heads.count(v)) h = f.Int(v);
    for (const std::string& v : vars) {
      nlohmann::json* value = f.Find(v);
      if (heads.count(v) || h <= 0 || !value || !value->is_number_integer()) continue;
      int64_t per_head = kPerHeadTarget;
      while (per_head > 2 && h * per_head > kMaxQueryWidth) per_head /= 2;
      if (value->get<int64_t>() > h * per_head) Set(value, v, h * per_head, report);
      fixed.insert(v);
    }
  }

  for (const auto& [field, cls] : dims) {
    nlohmann::json* v = f.Find(field);
    if (fixed.count(field) || !v || !v->is_number_integer() || v->get<int64_t>() <= 0) continue;
    int64_t target = cls == DimClass::kVocab   ? kVocabTarget
                     : cls == DimClass::kExpert ? kExpertTarget
                     : cls == DimClass::kPerHead ? kPerHeadTarget
                                                 : kWidthTarget;
    Set(v, field, Shrink(v->get<int64_t>(), target, mod), report);
  }

  // Routing: top-k within the experts, groups that divide them.
  int64_t experts = -1;
  for (const auto& [field, cls] : dims)
    if (cls == DimClass::kExpert && f.Int(field) > 0) experts = f.Int(field);
  if (experts > 0) {
    for (const char* k : kTopKFields)
      if (nlohmann::json* v = f.Find(k); v && v->is_number_integer() && v->get<int64_t>() > experts)
        Set(v, k, experts, report);
    if (nlohmann::json* g = f.Find("n_group"); g && g->is_number_integer() && g->get<int64_t>() > 0) {
      Set(g, "n_group", std::gcd(g->get<int64_t>(), experts), report);
      if (nlohmann::json* tg = f.Find("topk_group"); tg && tg->is_number_integer() && *tg > *g)
        Set(tg, "topk_group", g->get<int64_t>(), report);
    }
  }
  ShrinkLayers(*t, f, report);
  return true;
}

}  // namespace tpc::verify
