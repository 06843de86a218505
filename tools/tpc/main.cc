// tpc: the command-line front end. Parses flags and dispatches to a subcommand; all work lives in
// the compiler library.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "driver/check_command.h"
#include "support/strings.h"

namespace {

using tpc::ExitCode;

int Usage(const std::string& message) {
  std::cerr << "tpc: " << message << "\nrun 'tpc help' for usage\n";
  return tpc::kExitUsage;
}

// Reads `--flag value` or `--flag=value`; advances `i` past what it consumed.
bool TakeValue(const std::vector<std::string>& args, size_t& i, const std::string& flag, std::string* value) {
  const std::string& a = args[i];
  if (a == flag) {
    if (i + 1 >= args.size()) return false;
    *value = args[++i];
    return true;
  }
  if (a.rfind(flag + "=", 0) == 0) {
    *value = a.substr(flag.size() + 1);
    return true;
  }
  return false;
}

int Check(const std::vector<std::string>& args) {
  tpc::CheckRequest req;
  std::string color = "auto";
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    const std::string& a = args[i];
    if (TakeValue(args, i, "--model", &v)) req.model_path = v;
    else if (TakeValue(args, i, "--plan", &v)) req.plan_path = v;
    else if (TakeValue(args, i, "--arch-dir", &v)) req.arch_dir = v;
    else if (TakeValue(args, i, "--tp", &v)) {
      char* end = nullptr;
      long tp = std::strtol(v.c_str(), &end, 10);
      if (*end || tp < 1 || tp > 1 << 20) return Usage("--tp takes a positive integer, got '" + v + "'");
      req.options.tp = static_cast<int>(tp);
    } else if (TakeValue(args, i, "--dialect", &v)) {
      auto d = tpc::ParseDialect(v);
      if (!d) return Usage("--dialect takes torch, hf-v4 or hf-v5, got '" + v + "'");
      req.options.dialect = *d;
    } else if (TakeValue(args, i, "--format", &v)) {
      if (v == "text") req.format = tpc::OutputFormat::kText;
      else if (v == "json") req.format = tpc::OutputFormat::kJson;
      else if (v == "sarif") req.format = tpc::OutputFormat::kSarif;
      else return Usage("--format takes text, json or sarif, got '" + v + "'");
    } else if (TakeValue(args, i, "--color", &v)) {
      if (v != "auto" && v != "always" && v != "never") return Usage("--color takes auto, always or never");
      color = v;
    } else if (a == "--kv-replication") {
      req.options.kv_replication = true;
    } else if (a == "--no-color") {
      color = "never";
    } else {
      std::string hint = tpc::DidYouMean(a, {"--model", "--plan", "--tp", "--dialect", "--format", "--color",
                                             "--kv-replication", "--arch-dir", "--no-color"});
      return Usage("unknown argument '" + a + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
    }
  }
  if (req.model_path.empty()) return Usage("check needs --model PATH (a config.json or a checkpoint directory)");
  if (req.plan_path.empty()) return Usage("check needs --plan PATH (a YAML or JSON plan)");
  req.color = color == "always" || (color == "auto" && isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"));
  return tpc::RunCheckCommand(req, std::cout);
}

int Help(const std::vector<std::string>&);

struct Command {
  const char* name;
  const char* help;
  int (*fn)(const std::vector<std::string>&);
};

const Command kCommands[] = {
    {"check", "validate a tensor-parallel plan against a model, offline", Check},
    {"help", "show this help", Help},
};

int Help(const std::vector<std::string>&) {
  std::cout << "usage: tpc COMMAND [options]\n\ncommands:\n";
  for (const Command& c : kCommands) std::cout << "  " << c.name << std::string(10 - std::strlen(c.name), ' ') << c.help << '\n';
  std::cout << "\ntpc check --model PATH --plan PATH [--tp N] [--dialect torch|hf-v4|hf-v5] [--kv-replication]\n"
               "          [--format text|json|sarif] [--color auto|always|never] [--arch-dir DIR]\n\n"
               "exit codes: 0 no errors, 1 errors found, 2 usage error or unreadable input, 3 internal error\n";
  return tpc::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage("no command given");
  std::string name = args[0];
  if (name == "-h" || name == "--help") name = "help";
  args.erase(args.begin());
  try {
    for (const Command& c : kCommands)
      if (name == c.name) return c.fn(args);
    std::vector<std::string> names;
    for (const Command& c : kCommands) names.emplace_back(c.name);
    std::string hint = tpc::DidYouMean(name, names);
    return Usage("unknown command '" + name + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
  } catch (const std::exception& e) {
    std::cerr << "tpc: internal error: " << e.what() << '\n';
    return tpc::kExitInternal;
  }
}
