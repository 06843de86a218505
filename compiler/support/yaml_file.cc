#include "support/yaml_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tpc {
namespace {

bool LooksLikeJson(const std::string& path, const std::string& text) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return true;
  size_t i = text.find_first_not_of(" \t\r\n");
  return i != std::string::npos && (text[i] == '{' || text[i] == '[');
}

// nlohmann reports a byte offset; turn it into line and column.
SourceLoc ByteToLoc(int file, const std::string& text, size_t byte) {
  SourceLoc loc{file, 1, 1, 1};
  for (size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++loc.line;
      loc.column = 1;
    } else {
      ++loc.column;
    }
  }
  return loc;
}

// "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..." -> "syntax error ..."
std::string TrimJsonMessage(const std::string& what) {
  size_t colon = what.find(": ");
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

}  // namespace

SourceLoc LocOf(int file, const YAML::Node& node, int length) {
  YAML::Mark m = node.Mark();
  if (m.line < 0) return {file, 0, 0, 0};
  return {file, m.line + 1, m.column + 1, length};
}

std::string NodeTypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Map: return "a mapping";
    default: return "nothing";
  }
}

bool ReadTextFile(const std::string& path, std::string* text, Diagnostics& diags) {
  std::error_code ec;
  bool is_dir = std::filesystem::is_directory(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (!in || is_dir) {
    std::string why = is_dir ? "it is a directory" : std::strerror(errno);
    int f = diags.sources().AddPath(path);
    diags.Report(DiagId::kFileUnreadable, {f, 0, 0, 0}, {path, why});
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  return true;
}

std::optional<YamlDoc> ParseYamlText(const std::string& path, std::string text, Diagnostics& diags) {
  int f = diags.sources().AddFile(path, text);
  if (LooksLikeJson(path, text)) {
    try {
      [[maybe_unused]] nlohmann::json checked = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      diags.Report(DiagId::kJsonSyntax, ByteToLoc(f, text, e.byte), {TrimJsonMessage(e.what())});
      return std::nullopt;
    }
    // Raw tabs are legal JSON whitespace but not YAML indentation; inside valid JSON strings they
    // cannot occur unescaped, so replacing them keeps every column where it was.
    for (char& c : text)
      if (c == '\t') c = ' ';
  }
  try {
    return YamlDoc{f, YAML::Load(text)};
  } catch (const YAML::ParserException& e) {
    SourceLoc loc{f, e.mark.line + 1, e.mark.column + 1, 1};
    diags.Report(DiagId::kYamlSyntax, loc, {e.msg});
  } catch (const YAML::Exception& e) {
    diags.Report(DiagId::kYamlSyntax, {f, 0, 0, 0}, {e.msg});
  }
  return std::nullopt;
}

}  // namespace tpc
