#include "frontend/yaml_file.h"

#include <yaml-cpp/eventhandler.h>

#include <sstream>

#include "support/json_text.h"

namespace tpc {
namespace {

bool LooksLikeJson(const std::string& path, const std::string& text) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return true;
  size_t i = text.find_first_not_of(" \t\r\n");
  return i != std::string::npos && (text[i] == '{' || text[i] == '[');
}

// Records where each document starts, to find a second one that YAML::Load would drop.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// The mark of the second document in `text`, if it has one. Another document needs a marker line
// ('---' or '...'), so text without one is not parsed a second time.
std::optional<YAML::Mark> SecondDocument(const std::string& text) {
  bool marker = text.compare(0, 3, "...") == 0;
  for (size_t i = text.find('\n'); !marker && i != std::string::npos; i = text.find('\n', i + 1))
    marker = text.compare(i + 1, 3, "---") == 0 || text.compare(i + 1, 3, "...") == 0;
  if (!marker) return std::nullopt;
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  try {
    if (parser.HandleNextDocument(starts)) parser.HandleNextDocument(starts);
  } catch (const YAML::Exception&) {
    // A syntax error inside the second document: its start was recorded before the error.
  }
  if (starts.marks.size() < 2) return std::nullopt;
  return starts.marks[1];
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

std::optional<YamlDoc> ParseYamlText(const std::string& path, std::string text, Diagnostics& diags) {
  int f = diags.sources().AddFile(path, text);
  if (LooksLikeJson(path, text)) {
    if (!CheckJsonSyntax(f, text, diags)) return std::nullopt;
    // Raw tabs are legal JSON whitespace but not YAML indentation; inside valid JSON strings they
    // cannot occur unescaped, so replacing them keeps every column where it was.
    for (char& c : text)
      if (c == '\t') c = ' ';
  }
  try {
    YAML::Node root = YAML::Load(text);
    if (std::optional<YAML::Mark> second = SecondDocument(text)) {
      diags.Report(DiagId::kYamlSyntax, {f, second->line + 1, second->column + 1, 1},
                   {"a second YAML document starts here; tpc reads one document per file, so remove it or "
                    "move it to a file of its own"});
      return std::nullopt;
    }
    return YamlDoc{f, root};
  } catch (const YAML::ParserException& e) {
    SourceLoc loc{f, e.mark.line + 1, e.mark.column + 1, 1};
    diags.Report(DiagId::kYamlSyntax, loc, {e.msg});
  } catch (const YAML::Exception& e) {
    SourceLoc loc = e.mark.line >= 0 ? SourceLoc{f, e.mark.line + 1, e.mark.column + 1, 1} : SourceLoc{f, 0, 0, 0};
    diags.Report(DiagId::kYamlSyntax, loc, {e.msg});
  }
  return std::nullopt;
}

}  // namespace tpc
