#ifndef TPC_SUPPORT_DIAGNOSTICS_H_
#define TPC_SUPPORT_DIAGNOSTICS_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "support/source_manager.h"

namespace tpc {

enum class Severity { kNote, kWarning, kError, kFatal };
/// "note", "warning" or "error" (a fatal diagnostic is an error to its reader).
const char* SeverityName(Severity s);

/// Every diagnostic tpc can emit, from diagnostic_kinds.def.
enum class DiagId {
#define DIAG(id, sev, code, text) id,
#include "support/diagnostic_kinds.def"
#undef DIAG
};

/// A related place attached to a diagnostic.
struct Note {
  SourceLoc loc;
  std::string message;
};

/// The layers one diagnostic stands for when a problem repeats per layer (LayerAggregator).
struct LayerSpan {
  int count = 0;     ///< how many layers; 0 when the diagnostic is not per layer
  bool all = false;  ///< every layer of the model
  std::string list;  ///< the layers as text: "0-31", "1, 5" (the first 8, then ", ...") or "3"
};

/// One reported problem, already formatted; the message leaves out the layers.
struct Diagnostic {
  DiagId id;
  Severity severity;
  std::string code;
  std::string message;
  SourceLoc loc;
  std::vector<Note> notes;
  LayerSpan layers;
};

/// What text output appends to a message for its layers: " (in all 32 layers)", " (in layers 1, 5)",
/// " (in layer 3)", or "" when the diagnostic is not per layer.
std::string LayerSuffix(const LayerSpan& layers);

/// Substitutes {0}, {1}, ... in `pattern` with `args` (GCC 12 has no <format>).
std::string Substitute(const std::string& pattern, const std::vector<std::string>& args);

/// Collects diagnostics; passes report into it and never throw.
class Diagnostics {
 public:
  explicit Diagnostics(SourceManager& sources) : sources_(sources) {}

  /// Reports `id` at `loc` with the message template filled from `args`; returns it for notes.
  Diagnostic& Report(DiagId id, SourceLoc loc, std::vector<std::string> args = {});
  /// Attaches a note to the most recent diagnostic.
  void AddNote(Diagnostic& d, SourceLoc loc, std::string message);

  const std::vector<Diagnostic>& all() const { return diags_; }
  int errors() const { return errors_; }
  int warnings() const { return warnings_; }
  bool has_errors() const { return errors_ > 0; }
  bool has_fatal() const { return fatal_; }
  SourceManager& sources() { return sources_; }
  const SourceManager& sources() const { return sources_; }

 private:
  SourceManager& sources_;
  std::vector<Diagnostic> diags_;
  int errors_ = 0;
  int warnings_ = 0;
  bool fatal_ = false;
};

/// Returns the stable kebab-case code of `id`.
const char* DiagCode(DiagId id);

}  // namespace tpc

#endif  // TPC_SUPPORT_DIAGNOSTICS_H_
