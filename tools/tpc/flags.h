// tpc's flag tables: one per command, driving both its parsing and its help.
#ifndef TPC_TOOLS_TPC_FLAGS_H_
#define TPC_TOOLS_TPC_FLAGS_H_

#include <functional>
#include <string>
#include <vector>

#include "frontend/releases.h"
#include "ir/styles.h"

namespace tpc::cli {

/// One flag: its names, its value, its help, and what it does with the value.
struct Flag {
  std::vector<std::string> names;  ///< "-o", "--output": usage lines show the first
  std::string value;               ///< the value's name in help ("PATH", "4|5"); empty for a switch
  std::string help;                ///< one line for `tpc help COMMAND`
  /// Takes the value ("" for a switch); returns "" or the usage message for a bad value.
  std::function<std::string(const std::string& value)> apply;
  bool required = false;  ///< shown without brackets in usage lines; the command checks it
};

/// A command's flags. Help lists the shared input flags first; did-you-mean tries the command's own
/// flags first, so a typo as near to one of each suggests the command's own.
struct FlagTable {
  std::vector<Flag> input;  ///< --model, --plan and the others every model-loading command takes
  std::vector<Flag> own;
};

/// What ParseFlags found.
enum class Parsed { kOk, kHelp, kBad };

/// Applies `args` to `table` in order, each as `--flag value`, `--flag=value` or a switch alone.
/// Returns kHelp at -h or --help; kBad at the first bad argument, with its usage message in
/// `*error` ("--tp needs a value", "unknown argument '--modle'; did you mean '--model'?", or the
/// flag's own message for a bad value).
Parsed ParseFlags(const std::vector<std::string>& args, const FlagTable& table, const std::string& command,
                  std::string* error);

/// `start` ("tpc check") and the table's flags, "--model PATH [--plan auto|NAME|PATH] ...",
/// wrapped under the first of them.
std::string UsageLine(const std::string& start, const FlagTable& table);
/// Every flag with its value and help, one a line, then -h, --help.
std::string FlagList(const FlagTable& table);

/// A flag whose value, any string, goes to `*target`.
Flag StringFlag(std::vector<std::string> names, const std::string& value, const std::string& help,
                std::string* target, bool required = false);
/// A flag whose value is an integer in [1, max], given to `store`; any other value is
/// "NAME takes a positive integer, got 'V'".
Flag PositiveIntFlag(const std::string& name, const std::string& value, const std::string& help, long max,
                     std::function<void(long)> store);
/// A switch that sets `*target`.
Flag Switch(const std::string& name, const std::string& help, bool* target);

/// What the input flags set outside a request.
struct InputState {
  std::string color = "auto";
  bool transformers_given = false;
};

/// The flags of every command that loads a model and a plan, into a request with model_path, plan
/// and arch_dir, in the order did-you-mean has always tried them.
template <class Request>
std::vector<Flag> InputFlags(Request& req, InputState& in, bool model_required) {
  if (!in.transformers_given) req.plan.transformers = tpc::NewestTransformersRelease();
  return {
      StringFlag({"--model"}, "PATH", "a config.json or a checkpoint directory", &req.model_path, model_required),
      StringFlag({"--plan"}, "auto|NAME|PATH",
                 "auto (the default) picks the plan NeMo AutoModel would, NAME a bundled plan (tpc plans lists "
                 "them), PATH a YAML or JSON plan",
                 &req.plan.plan),
      {{"--transformers"}, "VERSION",
       "the transformers release the plan runs under: its _tp_plan and its behaviour (4, 5, 5.7, 5.24.0; "
       "4 and 5 mean the newest known of that major; default " + req.plan.transformers.version + ")",
       [&req, &in](const std::string& v) -> std::string {
         std::string why;
         std::optional<tpc::RuntimeRelease> r = tpc::FindTransformersRelease(v, &why);
         if (!r) return why;
         req.plan.transformers = *r;
         req.plan.transformers_given = in.transformers_given = true;
         return "";
       }},
      StringFlag({"--arch-dir"}, "DIR", "extra architecture templates, overriding the bundled ones", &req.arch_dir),
      {{"--color"}, "auto|always|never", "colour the messages; auto: on a terminal, unless NO_COLOR is set",
       [&in](const std::string& v) -> std::string {
         if (v != "auto" && v != "always" && v != "never") return "--color takes auto, always or never";
         in.color = v;
         return "";
       }},
      {{"--no-color"}, "", "the same as --color never", [&in](const std::string&) {
         in.color = "never";
         return std::string();
       }},
  };
}

/// --tp N, into `*tp`.
Flag TpFlag(int* tp);
/// --dialect, into `*dialect`; sets `*given`.
Flag DialectFlag(Dialect* dialect, bool* given);
/// --kv-replication, a switch.
Flag KvReplicationFlag(bool* on);
/// --sp, a switch.
Flag SpFlag(bool* on);

}  // namespace tpc::cli

#endif  // TPC_TOOLS_TPC_FLAGS_H_
