#include "support/json_text.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string_view>

#include "support/limits.h"
#include "support/strings.h"

namespace tpc {
namespace {

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

// The end of the string whose opening quote is at `i` (one past its closing quote).
size_t SkipString(const std::string& text, size_t i) {
  for (++i; i < text.size() && text[i] != '"'; ++i)
    if (text[i] == '\\') ++i;
  return std::min(i + 1, text.size());
}

size_t SkipSpace(const std::string& text, size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  return i;
}

// The end of the value that starts at `i`. Counts brackets instead of recursing, so nesting depth
// costs no stack.
size_t SkipValue(const std::string& text, size_t i) {
  if (i >= text.size()) return i;
  if (text[i] == '"') return SkipString(text, i);
  if (text[i] != '{' && text[i] != '[') {  // a number, true, false or null
    while (i < text.size() && std::string_view(",}] \t\r\n").find(text[i]) == std::string_view::npos) ++i;
    return i;
  }
  size_t depth = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '"') {
      i = SkipString(text, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return i + 1;
    ++i;
  }
  return i;
}

// RFC 6901 unescaping of one pointer token: ~1 is '/', ~0 is '~'.
std::string Unescape(std::string_view token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out += token[++i] == '0' ? '~' : '/';
    } else {
      out += token[i];
    }
  }
  return out;
}

// The start of member `key` of the object at `i`, or npos. Keys are compared as written, so a
// key spelled with escapes is not found (the caller then points at the object).
size_t FindMember(const std::string& text, size_t i, const std::string& key) {
  for (i = SkipSpace(text, i + 1); i < text.size() && text[i] == '"';) {
    size_t end = SkipString(text, i);
    bool match = text.compare(i + 1, end - i - 2, key) == 0 && end - i - 2 == key.size();
    size_t value = SkipSpace(text, SkipSpace(text, end) + 1);  // past the ':'
    if (match) return value;
    i = SkipSpace(text, SkipValue(text, value));
    if (i >= text.size() || text[i] != ',') break;
    i = SkipSpace(text, i + 1);
  }
  return std::string::npos;
}

// The start of element `index` of the array at `i`, or npos.
size_t FindElement(const std::string& text, size_t i, size_t index) {
  i = SkipSpace(text, i + 1);
  if (i >= text.size() || text[i] == ']') return std::string::npos;
  for (size_t n = 0; n < index; ++n) {
    i = SkipSpace(text, SkipValue(text, i));
    if (i >= text.size() || text[i] != ',') return std::string::npos;
    i = SkipSpace(text, i + 1);
  }
  return i;
}

}  // namespace

bool CheckJsonSyntax(int file, const std::string& text, Diagnostics& diags) {
  JsonChecker check;
  nlohmann::json::sax_parse(text, &check);
  if (!check.failed) return true;
  SourceLoc loc = ByteToLoc(file, text, check.end);
  // The overflow is reported after its whole number was read: point at the number's start.
  if (check.overflow) {
    loc = ByteToLoc(file, text, check.end - check.token_size + 1);
    loc.length = static_cast<int>(std::min(check.token_size, limits::kMaxQuotedLine));
  }
  diags.Report(DiagId::kJsonSyntax, loc, {check.message});
  return false;
}

SourceLoc LocateJsonPointer(int file, const std::string& text, const std::string& pointer) {
  size_t at = SkipSpace(text, 0);
  for (size_t i = 0; i < pointer.size() && pointer[i] == '/';) {
    size_t next = std::min(pointer.find('/', i + 1), pointer.size());
    std::string token = Unescape(std::string_view(pointer).substr(i + 1, next - i - 1));
    size_t found = std::string::npos;
    if (at < text.size() && text[at] == '{') {
      found = FindMember(text, at, token);
    } else if (at < text.size() && text[at] == '[' && !token.empty() &&
               token.find_first_not_of("0123456789") == std::string::npos && token.size() < 10) {
      found = FindElement(text, at, std::stoul(token));
    }
    if (found == std::string::npos || found >= text.size()) break;
    at = found;
    i = next;
  }
  SourceLoc loc = ByteToLoc(file, text, at + 1);
  size_t length = std::max<size_t>(1, SkipValue(text, at) - at);
  loc.length = static_cast<int>(std::min(length, limits::kMaxQuotedLine));
  return loc;
}

}  // namespace tpc
