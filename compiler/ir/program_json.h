#ifndef TPC_IR_PROGRAM_JSON_H_
#define TPC_IR_PROGRAM_JSON_H_

#include <optional>
#include <string>

#include "ir/program.h"
#include "support/diagnostics.h"

namespace tpc {

/// program.json: the artifact trainers and the runtime consume (schemas/program.schema.json).
std::string EmitProgramJson(const Program& p);

/// Reads the program.json at `path`. Everything a runtime relies on is checked (format, version,
/// tp, each parameter's shape, placement and slices, each collective); the first bad field is
/// reported as a fatal diagnostic naming the file, its line:col and the field's JSON pointer, and
/// the result is nullopt. The steps and edges of `tpc explain` are not part of the file.
std::optional<Program> ReadProgramJson(const std::string& path, Diagnostics& diags);
/// The same for `text`, read as if from `path`.
std::optional<Program> ParseProgramJson(const std::string& path, const std::string& text, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_IR_PROGRAM_JSON_H_
