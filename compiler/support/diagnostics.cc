#include "support/diagnostics.h"

namespace tpc {

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kNote: return "note";
    case Severity::kWarning: return "warning";
    case Severity::kError:
    case Severity::kFatal: return "error";
  }
  return "?";
}
namespace {

struct DiagInfo {
  Severity severity;
  const char* code;
  const char* text;
};

constexpr DiagInfo kDiagInfo[] = {
#define DIAG(id, sev, code, text) {Severity::sev, code, text},
#include "support/diagnostic_kinds.def"
#undef DIAG
};

}  // namespace

std::string Substitute(const std::string& pattern, const std::vector<std::string>& args) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{' && i + 2 < pattern.size() && pattern[i + 2] == '}' &&
        pattern[i + 1] >= '0' && pattern[i + 1] <= '9') {
      size_t n = pattern[i + 1] - '0';
      if (n < args.size()) out += args[n];
      i += 2;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

std::string LayerSuffix(const LayerSpan& layers) {
  if (layers.count > 1 && layers.all) return " (in all " + std::to_string(layers.count) + " layers)";
  if (layers.count > 1) return " (in layers " + layers.list + ")";
  if (layers.count == 1) return " (in layer " + layers.list + ")";
  return "";
}

const char* DiagCode(DiagId id) { return kDiagInfo[static_cast<int>(id)].code; }

Diagnostic& Diagnostics::Report(DiagId id, SourceLoc loc, std::vector<std::string> args) {
  const DiagInfo& info = kDiagInfo[static_cast<int>(id)];
  diags_.push_back({id, info.severity, info.code, Substitute(info.text, args), loc, {}, {}});
  if (info.severity == Severity::kFatal) fatal_ = true;
  if (info.severity >= Severity::kError) ++errors_;
  if (info.severity == Severity::kWarning) ++warnings_;
  return diags_.back();
}

void Diagnostics::AddNote(Diagnostic& d, SourceLoc loc, std::string message) {
  d.notes.push_back({loc, std::move(message)});
}

}  // namespace tpc
