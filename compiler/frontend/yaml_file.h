#ifndef TPC_FRONTEND_YAML_FILE_H_
#define TPC_FRONTEND_YAML_FILE_H_

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

#include "support/diagnostics.h"
#include "support/text_file.h"  // ReadTextFile, which every reader here starts with

namespace tpc {

/// A parsed YAML or JSON document whose nodes keep their marks for diagnostics.
struct YamlDoc {
  int file = -1;
  YAML::Node root;
};

/// Parses `text` as if read from `path` (JSON is checked strictly first, for exact syntax
/// messages). On failure reports a fatal diagnostic naming the file and place, and returns nullopt.
std::optional<YamlDoc> ParseYamlText(const std::string& path, std::string text, Diagnostics& diags);

/// The location of a node in `file` (yaml-cpp marks are 0-based; ours are 1-based).
SourceLoc LocOf(int file, const YAML::Node& node, int length = 1);
/// A short name for a node's type, for messages: "a string", "a sequence".
std::string NodeTypeName(const YAML::Node& node);

}  // namespace tpc

#endif  // TPC_FRONTEND_YAML_FILE_H_
