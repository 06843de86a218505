#include "runtime/command_output.h"

namespace tpc {

void RenderRunDiagnostics(const Diagnostics& diags, std::ostream& err) {
  for (const Diagnostic& d : diags.all()) {
    if (d.loc.valid() && d.loc.line > 0)
      err << diags.sources().path(d.loc.file) << ":" << d.loc.line << ":" << d.loc.column << ": ";
    else
      err << "tpc-run: ";
    err << SeverityName(d.severity) << ": " << d.message << " [" << d.code << "]\n";
  }
}

double GigabytesPerSecond(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0;
}

}  // namespace tpc
