#ifndef TPC_FRONTEND_CONFIG_VALUES_H_
#define TPC_FRONTEND_CONFIG_VALUES_H_

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/checkpoint.h"
#include "support/diagnostics.h"

namespace tpc {

/// One config.json value as written: its YAML kind, its text and its place, so that a value the
/// architecture template cannot use is reported where it stands.
struct ConfigValue {
  enum Kind { kNumber, kBool, kString, kText, kNull, kSequence, kMapping };
  Kind kind = kNull;
  std::string name;  ///< as messages name it: "hidden_size", "block_configs[2].ffn.ffn_mult"
  std::string raw;   ///< the value as written, shortened: -4096, "4096" (a string), [1] (a sequence)
  double value = 0;  ///< for kNumber and kBool (1 or 0)
  bool per_layer = false;  ///< from a block_configs entry
  SourceLoc loc;     ///< of the value
  SourceLoc key_loc; ///< of its key, quotes included
};

/// Thrown while reading a config; ParseModel turns it into one diagnostic.
struct ConfigError {
  DiagId id;
  SourceLoc loc;
  std::vector<std::string> args;
};

/// Transparent hashing: fields are looked up by string_view without building a string.
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
/// Config values by the name templates read them by ("hidden_size", "block.ffn.ffn_mult").
using ConfigFields = std::unordered_map<std::string, ConfigValue, NameHash, std::equal_to<>>;

/// Adds every field of the mapping `map` (the config, or its text_config, called `where`) to
/// `out`, later ones replacing earlier ones; throws ConfigError on a key that is not a plain name.
void ReadConfigFields(int file, const YAML::Node& map, const std::string& where, ConfigFields* out);

/// Flattens block_configs[index] ({attention: {no_op: true}}) into "block.attention.no_op" values.
/// `visited` counts the nodes seen over all entries; aliases can make a small file name millions,
/// so past the limits this throws ConfigError naming block_configs (at `blocks_loc`).
void FlattenBlock(int file, const YAML::Node& entry, int index, SourceLoc blocks_loc, size_t* visited,
                  ConfigFields* out);

/// Empty when `v` can be read as a size: a plain number, finite, integral (a real multiplier
/// such as ffn_mult in a per-layer entry may be fractional), above 0 and at most kMaxDimension;
/// else what is wrong, as in "must be a positive integer, got -4096".
std::string SizeProblem(const ConfigValue& v);
/// Empty when `v` can be read in a condition: a finite number or a boolean; else what is wrong.
std::string ConditionProblem(const ConfigValue& v);
/// Throws unless `v`, computed as `expr` from the config values `reads` for `purpose`, is a
/// positive integer up to `max`: bad-config-field at the first value read, naming each with its
/// value, or bad-arch-template (in `template_file`) when the expression read no config value.
void CheckComputedSize(const std::string& expr, double v, const std::vector<const ConfigValue*>& reads,
                       const std::string& purpose, int64_t max, int template_file);
/// Reads quantization_config (its quant_method and an fp8 weight_block_size) into `out`; throws
/// ConfigError (bad-config-field) when the block size is not two positive integers.
void ReadQuantization(int file, const YAML::Node& root, Quantization* out);
/// A computed number for messages: 0, 1.5, 1e+30.
std::string FormatNumber(double v);

}  // namespace tpc

#endif  // TPC_FRONTEND_CONFIG_VALUES_H_
