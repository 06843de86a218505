#ifndef TPC_FRONTEND_ARCH_TEMPLATE_H_
#define TPC_FRONTEND_ARCH_TEMPLATE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frontend/forward_spec.h"
#include "ir/model_graph.h"
#include "support/diagnostics.h"
#include "support/expr.h"

namespace tpc {

/// One module line of an architecture template (schemas/arch.schema.json).
struct ModuleTemplate {
  std::string name;  ///< relative to the layer inside `layers`, else to the root; "{base}" expands
  ModuleKind kind = ModuleKind::kLinear;
  Role role = Role::kNone;
  bool is_virtual = false;
  bool per_head = false;
  std::optional<Expr> when;  ///< include the module only where this is non-zero
  std::vector<Expr> weight;  ///< shape of `weight`, if the module has one
  std::optional<Expr> bias;  ///< a `bias` of shape [weight[0]] where non-zero
  struct ParamTemplate {
    std::string name;
    Role role = Role::kNone;
    std::vector<Expr> shape;
  };
  std::vector<ParamTemplate> params;
  FusedLayout fused = FusedLayout::kNone;
  std::vector<std::pair<std::string, Expr>> segments;
  std::optional<Expr> heads, kv_heads;
  std::vector<std::string> inputs;
  std::string tied_to;
  std::optional<Expr> tie_when;
  SourceLoc loc;
};

/// How a family of config.json files expands into modules (one file per family in plans/arch/).
struct ArchTemplate {
  std::string family;
  std::vector<std::string> model_types;
  std::string base_prefix = "model";
  std::map<std::string, std::string> base_prefix_for;  ///< per model_type override
  std::vector<std::string> text_config_types;          ///< model types whose fields sit in text_config
  std::vector<std::pair<std::string, Expr>> defaults;  ///< derived fields, in order
  /// Other names a config may give a field under (transformers' attribute_map): field -> names.
  std::map<std::string, std::vector<std::string>> aliases;
  std::vector<ModuleTemplate> pre, post;  ///< modules before and after the decoder layers
  std::string layers_path;                ///< e.g. "{base}.layers"
  Expr layers_count = Expr::Constant(0);
  std::string layers_in;   ///< module feeding layer 0
  std::string layers_out;  ///< module of a layer producing its output
  std::vector<ModuleTemplate> layer;
  StoredNames stored_names;  ///< `checkpoint`: names are unexpanded ("{base}" still in them)
  ForwardTemplate forward;   ///< `forward`: numeric semantics for a reference forward
  int file = -1;
};

/// Parses one template document; reports problems as bad-arch-template and returns nullopt.
std::optional<ArchTemplate> ParseArchTemplate(const std::string& path, const std::string& text,
                                              Diagnostics& diags);

/// The bundled templates (compiled in from plans/arch/), plus any from `extra_dir`. Bundled ones
/// are parsed on first use, so a check pays for one template only.
class ArchRegistry {
 public:
  /// Indexes the bundled templates and parses every *.yaml in `extra_dir` (which win).
  bool Load(const std::string& extra_dir, Diagnostics& diags);
  /// Parses one template (text read from `path`) and puts it before the others; false (reported)
  /// when it does not parse.
  bool Add(const std::string& path, std::string text, Diagnostics& diags);
  /// Returns the template for a model_type (parsing it now if needed), or nullptr; a template that
  /// fails to parse is reported into `diags`.
  const ArchTemplate* Find(const std::string& model_type, Diagnostics& diags) const;
  /// Every supported model_type, sorted.
  std::vector<std::string> ModelTypes() const;

 private:
  struct Source {
    std::string path;
    std::vector<std::string> model_types;
    std::string text;
    mutable std::optional<ArchTemplate> parsed;
  };
  std::vector<Source> sources_;
};

}  // namespace tpc

#endif  // TPC_FRONTEND_ARCH_TEMPLATE_H_
