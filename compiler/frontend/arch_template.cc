#include "frontend/arch_template.h"

#include <algorithm>
#include <filesystem>

#include "frontend/embedded_files.h"
#include "support/strings.h"
#include "frontend/yaml_file.h"

namespace tpc {
namespace {

// Parsing helpers throw this; ParseArchTemplate turns it into one diagnostic at the node.
struct TemplateError {
  YAML::Node node;
  std::string message;
};

const std::pair<const char*, ModuleKind> kKinds[] = {
    {"linear", ModuleKind::kLinear},       {"embedding", ModuleKind::kEmbedding},
    {"norm", ModuleKind::kNorm},           {"attention", ModuleKind::kAttention},
    {"add", ModuleKind::kAdd},             {"mul", ModuleKind::kMul},
    {"router", ModuleKind::kRouter},       {"experts", ModuleKind::kExperts},
    {"mixer", ModuleKind::kMixer},
    // Rotary embeddings have no parameters and compute cos/sin from positions, outside the hidden
    // state's dataflow: tpc keeps them as containers so plan keys on them (RotaryEmbedParallel) resolve.
    {"rotary", ModuleKind::kContainer},
};

// A mapping key: YAML allows `? [a, b] : x`, which as<std::string>() would throw on.
std::string Key(const YAML::Node& k) {
  if (!k.IsScalar()) throw TemplateError{k, "keys must be strings"};
  return k.Scalar();
}

bool Bool(const YAML::Node& n, const char* what) {
  bool b = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) throw TemplateError{n, std::string(what) + " must be true or false"};
  return b;
}

std::string Str(const YAML::Node& n, const char* what) {
  if (!n.IsScalar()) throw TemplateError{n, std::string(what) + " must be a string"};
  return n.as<std::string>();
}

// A role the checks know: a misspelt one would silently turn off the checks that ask for it.
Role RoleOf(const YAML::Node& n) {
  std::string name = Str(n, "role");
  if (std::optional<Role> r = ParseRole(name)) return *r;
  std::string hint = DidYouMean(name, RoleNames());
  throw TemplateError{n, "unknown role '" + name + "'" +
                             (hint.empty() ? "; known roles: " + Join(RoleNames(), ", ") : "; did you mean '" + hint + "'?")};
}

Expr ParseExpr(const YAML::Node& n) {
  if (!n.IsScalar()) throw TemplateError{n, "expected an expression"};
  try {
    return Expr::Parse(n.as<std::string>());
  } catch (const ExprError& e) {
    throw TemplateError{n, e.what()};
  }
}

std::vector<Expr> ParseShape(const YAML::Node& n) {
  if (!n.IsSequence()) throw TemplateError{n, "a shape must be a sequence of expressions"};
  std::vector<Expr> out;
  for (const YAML::Node& d : n) out.push_back(ParseExpr(d));
  return out;
}

std::vector<std::string> StrList(const YAML::Node& n, const char* what) {
  std::vector<std::string> out;
  if (n.IsScalar()) return {n.as<std::string>()};
  if (!n.IsSequence()) throw TemplateError{n, std::string(what) + " must be a list of strings"};
  for (const YAML::Node& s : n) out.push_back(Str(s, what));
  return out;
}

ModuleTemplate ParseModule(int file, const YAML::Node& n) {
  if (!n.IsMap()) throw TemplateError{n, "a module must be a mapping"};
  ModuleTemplate m;
  m.loc = LocOf(file, n);
  for (const auto& kv : n) {
    std::string key = Key(kv.first);
    const YAML::Node& v = kv.second;
    if (key == "name") {
      m.name = Str(v, "name");
    } else if (key == "kind") {
      std::string k = Str(v, "kind");
      auto it = std::find_if(std::begin(kKinds), std::end(kKinds), [&](auto& p) { return k == p.first; });
      if (it == std::end(kKinds)) throw TemplateError{v, "unknown module kind '" + k + "'"};
      m.kind = it->second;
    } else if (key == "role") {
      m.role = RoleOf(v);
    } else if (key == "virtual") {
      m.is_virtual = Bool(v, "virtual");
    } else if (key == "per_head") {
      m.per_head = Bool(v, "per_head");
    } else if (key == "when") {
      m.when = ParseExpr(v);
    } else if (key == "weight") {
      m.weight = ParseShape(v);
    } else if (key == "bias") {
      m.bias = ParseExpr(v);
    } else if (key == "params") {
      if (!v.IsSequence()) throw TemplateError{v, "params must be a list"};
      for (const YAML::Node& p : v)
        m.params.push_back({Str(p["name"], "param name"), p["role"] ? RoleOf(p["role"]) : Role::kNone,
                            ParseShape(p["shape"])});
    } else if (key == "fused") {
      std::string f = Str(v, "fused");
      if (f == "concat") m.fused = FusedLayout::kConcat;
      else if (f == "per_head") m.fused = FusedLayout::kPerHead;
      else throw TemplateError{v, "fused must be concat or per_head"};
    } else if (key == "segments") {
      if (!v.IsMap()) throw TemplateError{v, "segments must map names to row counts"};
      for (const auto& s : v) m.segments.emplace_back(Key(s.first), ParseExpr(s.second));
    } else if (key == "heads") {
      m.heads = ParseExpr(v);
    } else if (key == "kv_heads") {
      m.kv_heads = ParseExpr(v);
    } else if (key == "in") {
      m.inputs = StrList(v, "in");
    } else if (key == "tied_to") {
      m.tied_to = Str(v, "tied_to");
    } else if (key == "tie_when") {
      m.tie_when = ParseExpr(v);
    } else {
      throw TemplateError{kv.first, "unknown module field '" + key + "'"};
    }
  }
  if (m.name.empty()) throw TemplateError{n, "a module needs a name"};
  if (m.kind == ModuleKind::kAttention || m.kind == ModuleKind::kAdd || m.kind == ModuleKind::kMul)
    m.is_virtual = true;
  return m;
}

std::vector<ModuleTemplate> ParseModules(int file, const YAML::Node& n) {
  std::vector<ModuleTemplate> out;
  if (!n) return out;
  if (!n.IsSequence()) throw TemplateError{n, "expected a list of modules"};
  for (const YAML::Node& m : n) out.push_back(ParseModule(file, m));
  return out;
}

// A string field `name` an entry of checkpoint.`list` must have.
std::string Required(const YAML::Node& item, const char* name, const std::string& list) {
  if (!item[name]) throw TemplateError{item, "checkpoint." + list + " entries need '" + name + "'"};
  return Str(item[name], name);
}

// The `checkpoint` section: how stored names differ from the module tree.
StoredNames ParseStoredNames(int file, const YAML::Node& n) {
  if (!n.IsMap()) throw TemplateError{n, "checkpoint must be a mapping of stored, prefixes, per_head and extras"};
  StoredNames out;
  for (const auto& kv : n) {
    std::string key = Key(kv.first);
    const YAML::Node& v = kv.second;
    if (!v.IsSequence()) throw TemplateError{v, "checkpoint." + key + " must be a list"};
    for (const YAML::Node& item : v) {
      if (!item.IsMap()) throw TemplateError{item, "checkpoint." + key + " entries must be mappings"};
      if (key == "stored") {
        StoredNames::Rule r;
        r.loc = LocOf(file, item);
        for (const auto& f : item) {
          std::string field = Key(f.first);
          if (field == "tree") r.tree = Str(f.second, "tree");
          else if (field == "stored") r.stored = StrList(f.second, "stored");
          else if (field == "per_expert") r.per_expert = Bool(f.second, "per_expert");
          else throw TemplateError{f.first, "unknown field '" + field + "' (expected tree, stored, per_expert)"};
        }
        if (r.tree.empty() || r.stored.empty()) throw TemplateError{item, "a stored rule needs 'tree' and 'stored'"};
        bool expert_named = std::all_of(r.stored.begin(), r.stored.end(),
                                        [](const std::string& s) { return s.find("{expert}") != std::string::npos; });
        if (r.per_expert != expert_named)
          throw TemplateError{item, "'{expert}' must appear in every stored name exactly when per_expert is true"};
        out.rules.push_back(std::move(r));
      } else if (key == "prefixes") {
        out.prefixes.push_back({Required(item, "tree", "prefixes"), Required(item, "stored", "prefixes")});
      } else if (key == "per_head") {
        out.per_head.push_back({Required(item, "stored", "per_head"), Required(item, "attention", "per_head")});
      } else if (key == "extras") {
        out.extras.push_back({Required(item, "prefix", "extras"), Required(item, "what", "extras")});
      } else {
        throw TemplateError{kv.first, "unknown checkpoint field '" + key + "' (expected stored, prefixes, per_head, extras)"};
      }
    }
  }
  return out;
}

}  // namespace

std::optional<ArchTemplate> ParseArchTemplate(const std::string& path, const std::string& text,
                                              Diagnostics& diags) {
  std::optional<YamlDoc> doc = ParseYamlText(path, text, diags);
  if (!doc) return std::nullopt;
  const YAML::Node& root = doc->root;
  ArchTemplate t;
  t.file = doc->file;
  try {
    if (!root.IsMap()) throw TemplateError{root, "the document must be a mapping"};
    for (const auto& kv : root) {
      std::string key = Key(kv.first);
      const YAML::Node& v = kv.second;
      if (key == "family") t.family = Str(v, "family");
      else if (key == "model_types") t.model_types = StrList(v, "model_types");
      else if (key == "base_prefix") t.base_prefix = Str(v, "base_prefix");
      else if (key == "base_prefix_for") {
        if (!v.IsMap()) throw TemplateError{v, "base_prefix_for must map model types to prefixes"};
        for (const auto& p : v) t.base_prefix_for[Key(p.first)] = Str(p.second, "prefix");
      } else if (key == "text_config") t.text_config_types = StrList(v, "text_config");
      else if (key == "defaults") {
        if (!v.IsMap()) throw TemplateError{v, "defaults must be a mapping"};
        for (const auto& d : v) t.defaults.emplace_back(Key(d.first), ParseExpr(d.second));
      } else if (key == "aliases") {
        if (!v.IsMap()) throw TemplateError{v, "aliases must map a field to the other names configs give it"};
        for (const auto& a : v) t.aliases[Key(a.first)] = StrList(a.second, "aliases");
      } else if (key == "pre") t.pre = ParseModules(t.file, v);
      else if (key == "post") t.post = ParseModules(t.file, v);
      else if (key == "layers") {
        t.layers_path = Str(v["path"], "layers.path");
        t.layers_count = ParseExpr(v["count"]);
        t.layers_in = Str(v["in"], "layers.in");
        t.layers_out = Str(v["out"], "layers.out");
        t.layer = ParseModules(t.file, v["modules"]);
      } else if (key == "checkpoint") {
        t.stored_names = ParseStoredNames(t.file, v);
      } else if (key == "forward") {
        try {
          t.forward = ParseForwardTemplate(t.file, v);
        } catch (const ForwardTemplateError& e) {
          throw TemplateError{e.node, e.message};
        }
      } else if (key == "description") {
        // Free text for readers of the data file.
      } else {
        throw TemplateError{kv.first, "unknown field '" + key + "'"};
      }
    }
    if (t.family.empty() || t.model_types.empty())
      throw TemplateError{root, "a template needs 'family' and 'model_types'"};
    if (t.layers_path.empty()) throw TemplateError{root, "a template needs 'layers'"};
  } catch (const TemplateError& e) {
    diags.Report(DiagId::kBadArchTemplate, LocOf(t.file, e.node), {e.message});
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    diags.Report(DiagId::kBadArchTemplate, {t.file, e.mark.line + 1, e.mark.column + 1, 1}, {e.msg});
    return std::nullopt;
  }
  return t;
}

bool ArchRegistry::Load(const std::string& extra_dir, Diagnostics& diags) {
  bool ok = true;
  for (int i = 0; i < kArchFilesCount; ++i) {
    Source src{std::string("plans/") + kArchFiles[i].name, {}, kArchFiles[i].text, std::nullopt};
    for (std::string_view t : Split(kArchFiles[i].index, ',')) src.model_types.emplace_back(t);
    sources_.push_back(std::move(src));
  }
  if (extra_dir.empty()) return true;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(extra_dir, ec))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  if (ec) {
    int f = diags.sources().AddPath(extra_dir);
    diags.Report(DiagId::kFileUnreadable, {f, 0, 0, 0}, {extra_dir, ec.message()});
    return false;
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    std::string text;
    ok &= ReadTextFile(p.string(), &text, diags) && Add(p.string(), std::move(text), diags);
  }
  return ok;
}

bool ArchRegistry::Add(const std::string& path, std::string text, Diagnostics& diags) {
  std::optional<ArchTemplate> t = ParseArchTemplate(path, text, diags);
  if (!t) return false;
  // An added template replaces a bundled one for the same model types.
  for (const std::string& mt : t->model_types)
    for (Source& old : sources_) std::erase(old.model_types, mt);
  std::vector<std::string> types = t->model_types;
  sources_.insert(sources_.begin(), Source{path, std::move(types), std::move(text), std::move(t)});
  return true;
}

const ArchTemplate* ArchRegistry::Find(const std::string& model_type, Diagnostics& diags) const {
  for (const Source& s : sources_) {
    if (std::find(s.model_types.begin(), s.model_types.end(), model_type) == s.model_types.end()) continue;
    if (!s.parsed) s.parsed = ParseArchTemplate(s.path, s.text, diags);
    return s.parsed ? &*s.parsed : nullptr;
  }
  return nullptr;
}

std::vector<std::string> ArchRegistry::ModelTypes() const {
  std::vector<std::string> out;
  for (const Source& s : sources_) out.insert(out.end(), s.model_types.begin(), s.model_types.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tpc
