// Helpers of the program.json tests: the fixtures in tests/data/programs, edits of them, and the
// one diagnostic a rejected program gets.
#ifndef TPC_TESTS_IR_PROGRAM_FIXTURE_H_
#define TPC_TESTS_IR_PROGRAM_FIXTURE_H_

#include <doctest/doctest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "ir/program_json.h"
#include "support/diagnostics.h"

namespace tpc {

inline std::string Fixture(const std::string& name) {
  return std::string(TPC_SOURCE_DIR) + "/tests/data/programs/" + name;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// `text` with its first `from` replaced by `to`.
inline std::string Edit(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "the fixture has no '" << from << "'");
  return text.replace(at, from.size(), to);
}

// The one diagnostic a rejected program gets, as "path:line:col: [code] message".
inline std::string Rejection(const std::string& path, const std::string& text) {
  SourceManager sources;
  Diagnostics diags(sources);
  std::optional<Program> p = ParseProgramJson(path, text, diags);
  CHECK_FALSE(p.has_value());
  REQUIRE(diags.all().size() == 1);
  const Diagnostic& d = diags.all()[0];
  CHECK(d.severity == Severity::kFatal);
  return sources.path(d.loc.file) + ":" + std::to_string(d.loc.line) + ":" +
         std::to_string(d.loc.column) + ": [" + d.code + "] " + d.message;
}

// The 1-based column of the value after the first `key` in one-line `text`.
inline std::string ColumnOf(const std::string& text, const std::string& key) {
  size_t at = text.find(key);
  REQUIRE(at != std::string::npos);
  return std::to_string(at + key.size() + 1);
}

}  // namespace tpc

#endif  // TPC_TESTS_IR_PROGRAM_FIXTURE_H_
