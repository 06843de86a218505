#ifndef TPC_BACKEND_RENDER_DIAGNOSTICS_H_
#define TPC_BACKEND_RENDER_DIAGNOSTICS_H_

#include <string>

#include "support/diagnostics.h"

namespace tpc {

/// Clang-style text: `file:line:col: error: message [code]`, the source line, a caret, notes.
std::string RenderText(const Diagnostics& diags, bool color);
/// `{"ok", "errors", "warnings", "transformers", "diagnostics": [...]}`, one stable object per
/// diagnostic; "transformers" is the release assumed (left out when `transformers` is empty).
std::string RenderJson(const Diagnostics& diags, const std::string& transformers = "");
/// SARIF 2.1.0 with one run of tool "tpc"; the release assumed is the run's properties.transformers.
std::string RenderSarif(const Diagnostics& diags, const std::string& transformers = "");
/// "2 errors and 1 warning generated." style summary line, with context.
std::string Summary(const Diagnostics& diags, const std::string& context);

}  // namespace tpc

#endif  // TPC_BACKEND_RENDER_DIAGNOSTICS_H_
