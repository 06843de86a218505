#ifndef TPC_BACKEND_RENDER_DIAGNOSTICS_H_
#define TPC_BACKEND_RENDER_DIAGNOSTICS_H_

#include <string>

#include "support/diagnostics.h"

namespace tpc {

/// Clang-style text: `file:line:col: error: message [code]`, the source line, a caret, notes.
std::string RenderText(const Diagnostics& diags, bool color);
/// `{"ok", "errors", "warnings", "diagnostics": [...]}`, one stable object per diagnostic.
std::string RenderJson(const Diagnostics& diags);
/// SARIF 2.1.0 with one run of tool "tpc".
std::string RenderSarif(const Diagnostics& diags);
/// "2 errors and 1 warning generated." style summary line, with context.
std::string Summary(const Diagnostics& diags, const std::string& context);

}  // namespace tpc

#endif  // TPC_BACKEND_RENDER_DIAGNOSTICS_H_
