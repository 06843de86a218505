#ifndef TPC_SUPPORT_JSON_TEXT_H_
#define TPC_SUPPORT_JSON_TEXT_H_

#include <string>

#include "support/diagnostics.h"

namespace tpc {

/// Checks that `text` (the registered file `file`) is one JSON value, without building it. On a
/// syntax error or a number too large reports json-syntax at its line:col and returns false.
bool CheckJsonSyntax(int file, const std::string& text, Diagnostics& diags);

/// Where the value a JSON pointer ("/parameters/3/slices") names starts in valid JSON `text`, with
/// its length as the caret's; the deepest value found when the rest is missing, so a missing field
/// points at the object that lacks it.
SourceLoc LocateJsonPointer(int file, const std::string& text, const std::string& pointer);

}  // namespace tpc

#endif  // TPC_SUPPORT_JSON_TEXT_H_
