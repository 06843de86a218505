#include "support/yaml_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <yaml-cpp/eventhandler.h>
#include <sstream>

#include "support/limits.h"
#include "support/strings.h"

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

// Checks JSON syntax without building a DOM. sax_parse hands every failure here, the number
// overflow (out_of_range 406, `1e400`) as well as syntax errors, so nothing is thrown.
class JsonChecker {
 public:
  using json = nlohmann::json;
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(json::string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }

  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& e) {
    failed = true;
    overflow = e.id == 406;
    end = position;
    token_size = token.size();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..." -> "syntax
    // error ..."; "[json.exception.out_of_range.406] number overflow ..." -> "number overflow ...".
    std::string what = e.what();
    size_t cut = what.find(e.id == 406 ? "] " : ": ");
    message = cut == std::string::npos ? what : what.substr(cut + 2);
    // The token may be a whole unterminated string: quote only its ends.
    if (size_t at = message.find(token); !token.empty() && at != std::string::npos)
      message.replace(at, token.size(), Shorten(token, limits::kMaxQuotedLine));
    return false;
  }

  bool failed = false;
  bool overflow = false;
  size_t end = 0;
  size_t token_size = 0;
  std::string message;
};

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

// "a FIFO", "a directory", ... for what is not a regular file; nullptr for a regular file.
const char* NotRegular(mode_t mode) {
  if (S_ISREG(mode)) return nullptr;
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// `size` is 0 when the file grew past the limit while being read.
std::string TooBig(uint64_t size) {
  return "it is " + (size ? std::to_string(size) + " bytes, over" : std::string("over")) + " the limit of " +
         std::to_string(limits::kMaxInputBytes) + " bytes (" + HumanBytes(static_cast<double>(limits::kMaxInputBytes)) +
         ") for one input file";
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
  auto fail = [&](const std::string& why) {
    int f = diags.sources().AddPath(path);
    diags.Report(DiagId::kFileUnreadable, {f, 0, 0, 0}, {path, why});
    return false;
  };
  auto kind_of = [](const struct stat& st) { return std::string("it is ") + NotRegular(st.st_mode); };
  // Look before opening: open() on a FIFO blocks until a writer comes, and a character device such
  // as /dev/zero never ends.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fail(std::strerror(errno));
  if (NotRegular(st.st_mode)) return fail(kind_of(st));
  // O_NONBLOCK: should the path have become a FIFO since stat, open still returns at once.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (NotRegular(st.st_mode)) return fail(kind_of(st));
  if (static_cast<uint64_t>(st.st_size) > limits::kMaxInputBytes) return fail(TooBig(st.st_size));
  // Read at most one byte past the limit: a file that grows after fstat still cannot exhaust memory.
  text->clear();
  char buf[1 << 16];
  while (text->size() <= limits::kMaxInputBytes) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::strerror(errno));
    if (n == 0) return true;
    text->append(buf, static_cast<size_t>(n));
  }
  return fail(TooBig(0));
}

std::optional<YamlDoc> ParseYamlText(const std::string& path, std::string text, Diagnostics& diags) {
  int f = diags.sources().AddFile(path, text);
  if (LooksLikeJson(path, text)) {
    JsonChecker check;
    nlohmann::json::sax_parse(text, &check);
    if (check.failed) {
      SourceLoc loc = ByteToLoc(f, text, check.end);
      // The overflow is reported after its whole number was read: point at the number's start.
      if (check.overflow) {
        loc = ByteToLoc(f, text, check.end - check.token_size + 1);
        loc.length = static_cast<int>(std::min(check.token_size, limits::kMaxQuotedLine));
      }
      diags.Report(DiagId::kJsonSyntax, loc, {check.message});
      return std::nullopt;
    }
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
