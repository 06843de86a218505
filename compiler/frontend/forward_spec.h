#ifndef TPC_FRONTEND_FORWARD_SPEC_H_
#define TPC_FRONTEND_FORWARD_SPEC_H_

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/model_graph.h"
#include "support/expr.h"
#include "support/source_manager.h"

namespace tpc {

struct ArchTemplate;
class ArchRegistry;
class Diagnostics;

/// One numeric semantics attribute of the `forward` section of an architecture file: a number or
/// an expression, or a list of them of which the first whose variables are all set applies
/// (`eps: [rms_norm_eps, 1e-6]`); or, for a string attribute, a constant or the first set config
/// field of `config` (a name may hold `{layer_type}`: config.layer_types[layer]) with a `default`.
struct ForwardAttrTemplate {
  std::string name;
  bool is_string = false;
  std::vector<Expr> alternatives;        ///< numeric: tried in order
  std::vector<std::string> config_names;  ///< string: config fields tried in order
  std::string default_text;               ///< string: the constant, or the default
  bool has_default = false;
  SourceLoc loc;
};

/// The `forward` section: attributes per module kind, and per module name overriding them.
struct ForwardTemplate {
  bool present = false;
  /// The model types whose numerics the section describes; empty: all of the family's.
  std::vector<std::string> model_types;
  std::map<std::string, std::vector<ForwardAttrTemplate>> by_kind;    ///< "norm", "attention", ...
  std::map<std::string, std::vector<ForwardAttrTemplate>> by_module;  ///< names as in the module lists
};

/// Thrown while parsing the section; ParseArchTemplate reports it at `node`.
struct ForwardTemplateError {
  YAML::Node node;
  std::string message;
};

/// Parses the `forward` mapping of an architecture file; throws ForwardTemplateError.
ForwardTemplate ParseForwardTemplate(int file, const YAML::Node& n);

/// One module's numeric semantics (eps, rope_theta, window, act, ...).
struct ModuleForward {
  std::map<std::string, double> num;
  std::map<std::string, std::string> str;
  /// The number `name`, or `fallback` when the module has none.
  double Num(const std::string& name, double fallback) const {
    auto it = num.find(name);
    return it == num.end() ? fallback : it->second;
  }
};

/// The `forward` attributes of every module of a model, evaluated against its config.
struct ForwardSpec {
  /// False when the family's file has no forward section, or one whose model_types leave this
  /// model type out (granite's multipliers are not modelled by llama's): no reference forward.
  bool covered = false;
  std::vector<ModuleForward> modules;  ///< indexed by module id
  /// Attributes none of whose alternatives could be evaluated: "eps of 'model.norm': none of
  /// rms_norm_eps is set". Compilation never needs them; a numeric forward does.
  std::vector<std::string> problems;
};

/// Evaluates the template's `forward` section for every dataflow module of `g` against the config
/// root (its text_config for nested model types). Variables: config fields by dotted path
/// (`rope_parameters.rope_theta`), the template's defaults and aliases, `layer`, and
/// `layer_type.<name>` (1 when config.layer_types[layer] is <name>).
ForwardSpec EvalForwardSpec(const ModelGraph& g, const ArchTemplate& t, const YAML::Node& config);

/// Reads the config.json of `path` (a file or a directory holding one) again and evaluates the
/// forward section of its family's template; nullopt after a fatal diagnostic.
std::optional<ForwardSpec> LoadForwardSpec(const ModelGraph& g, const ArchRegistry& registry,
                                           const std::string& path, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_FRONTEND_FORWARD_SPEC_H_
