#ifndef TPC_TESTS_TEST_UTIL_H_
#define TPC_TESTS_TEST_UTIL_H_

#include <string>

#include "frontend/arch_template.h"
#include "frontend/releases.h"
#include "passes/analysis.h"
#include "passes/lowering.h"
#include "support/diagnostics.h"

namespace tpc::test {

/// The source tree, for data files (tests/data, plans/).
std::string SourcePath(const std::string& relative);
/// Reads a whole file; empty when missing.
std::string ReadFile(const std::string& path);

/// Check options for one tp size and dialect.
inline CheckOptions Opts(int tp, Dialect dialect = Dialect::kHfV5, bool kv_replication = false) {
  CheckOptions o;
  o.tp = tp;
  o.dialect = dialect;
  o.kv_replication = kv_replication;
  return o;
}

/// The transformers release `spec` names ("5.7", "5.24"), as --transformers reads it.
inline RuntimeRelease Release(const std::string& spec) {
  std::string why;
  return FindTransformersRelease(spec, &why).value_or(RuntimeRelease{});
}

/// Check options for one tp size under a transformers release (dialect hf-v5).
inline CheckOptions OptsUnder(int tp, const std::string& release) {
  CheckOptions o = Opts(tp);
  o.transformers = Release(release);
  return o;
}

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

/// A small llama config: head_dim 8, q/o [64, 64], k/v [16, 64], gate/up [192, 64], vocab 1000.
inline const char* kTinyLlama = R"({
  "model_type": "llama",
  "hidden_size": 64,
  "num_attention_heads": 8,
  "num_key_value_heads": 2,
  "intermediate_size": 192,
  "num_hidden_layers": 2,
  "vocab_size": 1000,
  "tie_word_embeddings": false
})";

/// The bundled architecture templates, loaded once.
const ArchRegistry& Registry();

/// Runs a shell command, capturing stdout; returns the exit code.
int RunCommand(const std::string& command, std::string* out);

/// The real `tpc` binary run in the source tree: exit code and output.
struct TpcRun {
  int code = -1;
  std::string out;  ///< stdout, plus stderr when merged
};
TpcRun RunTpc(const std::string& args, bool merge_stderr);

/// One compile run: the program (nullopt when rejected) and the diagnostic codes in order.
struct CompileRun {
  std::optional<Program> program;
  std::vector<std::string> codes;
};
/// Compiles a plan file (relative to the source tree) for a config under tests/data/configs.
CompileRun CompileFiles(const std::string& config_dir, const std::string& plan_path, const CompileOptions& opts);
/// Compiles a plan given as YAML text for a config given as text.
CompileRun CompileTexts(const std::string& config_text, const std::string& plan_text, const CompileOptions& opts);
/// How many collectives of kind `k` a program has.
int CountCollectives(const Program& p, CollectiveKind k);

/// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const;
  std::string path;
};

/// Writes `text` to `path` (a test fixture file); fails the test when it cannot.
void WriteFile(const std::string& path, const std::string& text);

}  // namespace tpc::test

#endif  // TPC_TESTS_TEST_UTIL_H_
