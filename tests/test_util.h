#ifndef TPC_TESTS_TEST_UTIL_H_
#define TPC_TESTS_TEST_UTIL_H_

#include <string>

#include "passes/analysis.h"
#include "support/diagnostics.h"

namespace tpc::test {

/// The source tree, for data files (tests/data, plans/).
std::string SourcePath(const std::string& relative);
/// Reads a whole file; empty when missing.
std::string ReadFile(const std::string& path);

/// One check run on in-memory files, with its rendered text output (no colour).
struct CheckRun {
  bool loaded = false;  ///< model and plan loaded without fatal errors
  bool ok = false;      ///< no errors
  int errors = 0;
  int warnings = 0;
  std::string text;     ///< rendered diagnostics
  std::vector<std::string> codes;  ///< diagnostic codes in order
};

/// Checks `plan_text` (named plan.yaml or plan.json) against the config at `config_path`.
CheckRun CheckText(const std::string& config_path, const std::string& plan_name, const std::string& plan_text,
                   const CheckOptions& opts);
/// Checks a config given as text (named config.json) against a plan given as text.
CheckRun CheckTexts(const std::string& config_text, const std::string& plan_name, const std::string& plan_text,
                    const CheckOptions& opts);

/// Runs a shell command, capturing stdout; returns the exit code.
int RunCommand(const std::string& command, std::string* out);

}  // namespace tpc::test

#endif  // TPC_TESTS_TEST_UTIL_H_
