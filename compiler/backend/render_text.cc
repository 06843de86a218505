#include <algorithm>
#include <sstream>

#include "backend/render_diagnostics.h"
#include "support/limits.h"

namespace tpc {
namespace {

const char* SeverityColor(Severity s) {
  switch (s) {
    case Severity::kNote: return "\033[1;36m";
    case Severity::kWarning: return "\033[1;35m";
    default: return "\033[1;31m";
  }
}

void Location(std::ostringstream& out, const SourceManager& sm, SourceLoc loc) {
  if (!loc.valid()) return;
  out << sm.path(loc.file);
  if (loc.line > 0) out << ':' << loc.line << ':' << loc.column;
  out << ": ";
}

// Moves `i` back to the first byte of the UTF-8 character it is inside, so a cut splits none.
size_t CharStart(std::string_view s, size_t i) {
  while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// The quoted source line and a caret with `~` under the rest of the token. A line longer than
// kMaxQuotedLine (a minified config) is cut to a window around the caret, with "..." at each cut.
void Snippet(std::ostringstream& out, const SourceManager& sm, SourceLoc loc, bool color) {
  if (!loc.valid() || loc.line <= 0) return;
  std::string_view line = sm.Line(loc.file, loc.line);
  if (line.empty()) return;
  const size_t window = limits::kMaxQuotedLine;
  size_t caret = std::min<size_t>(std::max(loc.column, 1) - 1, line.size());
  size_t begin = 0, end = line.size();
  if (line.size() > window) {
    begin = CharStart(line, caret > window / 2 ? caret - window / 2 : 0);
    end = CharStart(line, std::min(line.size(), begin + window));
    if (end == line.size()) begin = CharStart(line, end - window);
  }
  std::string lead = begin > 0 ? "..." : "";
  out << lead << line.substr(begin, end - begin) << (end < line.size() ? "..." : "") << '\n';
  std::string pad(lead.size(), ' ');
  for (size_t i = begin; i < caret && i < end; ++i) pad += line[i] == '\t' ? '\t' : ' ';
  int room = static_cast<int>(end) - static_cast<int>(caret);
  int len = std::max(1, std::min(loc.length, room));
  out << pad << (color ? "\033[1;32m" : "") << '^' << std::string(len - 1, '~') << (color ? "\033[0m" : "") << '\n';
}

}  // namespace

std::string RenderText(const Diagnostics& diags, bool color) {
  std::ostringstream out;
  const SourceManager& sm = diags.sources();
  for (const Diagnostic& d : diags.all()) {
    if (color) out << "\033[1m";
    Location(out, sm, d.loc);
    if (color) out << SeverityColor(d.severity);
    out << SeverityName(d.severity) << ": ";
    if (color) out << "\033[0m\033[1m";
    out << d.message << LayerSuffix(d.layers) << " [" << d.code << ']';
    if (color) out << "\033[0m";
    out << '\n';
    Snippet(out, sm, d.loc, color);
    for (const Note& n : d.notes) {
      if (color) out << "\033[1m";
      Location(out, sm, n.loc);
      if (color) out << SeverityColor(Severity::kNote);
      out << "note: ";
      if (color) out << "\033[0m";
      out << n.message << '\n';
      Snippet(out, sm, n.loc, color);
    }
  }
  return out.str();
}

std::string Summary(const Diagnostics& diags, const std::string& context) {
  auto plural = [](int n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
  };
  std::string verdict = diags.errors() ? "FAIL" : "ok";
  return verdict + ": " + plural(diags.errors(), "error") + ", " + plural(diags.warnings(), "warning") +
         (context.empty() ? "" : " (" + context + ")") + "\n";
}

}  // namespace tpc
