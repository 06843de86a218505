// tpc: the command-line front end. Each command is a table of flags, which drives both its parsing
// and its help, and a Run; all work lives in the compiler library.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <climits>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "driver/check_command.h"
#include "driver/compile_command.h"
#include "driver/plans_command.h"
#include "driver/translate_lora_command.h"
#include "flags.h"
#include "ir/program.h"
#include "ir/styles.h"
#include "support/diagnostics.h"
#include "support/limits.h"
#include "support/strings.h"

namespace {

namespace cli = tpc::cli;
using tpc::cli::Flag;
using tpc::cli::FlagTable;
using tpc::cli::InputFlags;
using tpc::cli::InputState;
using tpc::cli::PositiveIntFlag;
using tpc::cli::StringFlag;
using tpc::cli::Switch;

int Usage(const std::string& message) {
  std::cerr << "tpc: " << message << "\nrun 'tpc help' for usage\n";
  return tpc::kExitUsage;
}

bool UseColor(const std::string& color, int fd) {
  return color == "always" || (color == "auto" && isatty(fd) && !std::getenv("NO_COLOR"));
}

// A command: its flags, bound to what they fill in, and what it runs once they are all applied.
class Command {
 public:
  virtual ~Command() = default;
  virtual FlagTable Flags() = 0;
  virtual int Run() = 0;
};

class Check : public Command {
 public:
  FlagTable Flags() override {
    Flag format{{"--format"}, "text|json|sarif", "how to write the diagnostics (default text)",
                [this](const std::string& v) -> std::string {
                  if (v == "text") req_.format = tpc::OutputFormat::kText;
                  else if (v == "json") req_.format = tpc::OutputFormat::kJson;
                  else if (v == "sarif") req_.format = tpc::OutputFormat::kSarif;
                  else return "--format takes text, json or sarif, got '" + v + "'";
                  return "";
                }};
    return {InputFlags(req_, in_, true),
            {cli::TpFlag(&req_.options.tp), cli::DialectFlag(&req_.options.dialect, &req_.dialect_given), format,
             cli::KvReplicationFlag(&req_.options.kv_replication), cli::SpFlag(&req_.plan.sequence_parallel)}};
  }
  int Run() override {
    if (req_.model_path.empty()) return Usage("check needs --model PATH (a config.json or a checkpoint directory)");
    req_.color = UseColor(in_.color, STDOUT_FILENO);
    return tpc::RunCheckCommand(req_, std::cout, std::cerr);
  }

 private:
  tpc::CheckRequest req_;
  InputState in_;
};

// compile and explain share their flags; explain prints the table and needs no -o.
class Compile : public Command {
 public:
  explicit Compile(bool explain = false) { req_.explain = explain; }
  FlagTable Flags() override {
    tpc::CompileOptions& o = req_.options;
    std::ostringstream gbps;
    gbps << o.link.gbps;
    Flag dtype{{"--dtype"}, "DTYPE", "parameter dtype (default: the config's torch_dtype, else bfloat16)",
               [&o](const std::string& v) -> std::string {
                 if (!tpc::DtypeBytes(v)) return "--dtype: unknown dtype '" + v + "'; expected " + tpc::DtypeNames();
                 o.dtype = v;
                 return "";
               }};
    Flag link_gbps{{"--link-gbps"}, "G",
                   "link bandwidth per direction in GB/s, for the costs (default " + gbps.str() + ")",
                   [&o](const std::string& v) -> std::string {
                     char* end = nullptr;
                     double g = std::strtod(v.c_str(), &end);
                     if (v.empty() || *end || !(g > 0) || g > tpc::limits::kMaxLinkGbps)
                       return "--link-gbps takes a bandwidth in GB/s, got '" + v + "'";
                     o.link.gbps = g;
                     return "";
                   }};
    return {InputFlags(req_, in_, true),
            {cli::TpFlag(&o.check.tp), cli::DialectFlag(&o.check.dialect, &req_.dialect_given),
             cli::KvReplicationFlag(&o.check.kv_replication), cli::SpFlag(&o.sequence_parallel),
             Switch("--lora", "LoRA adapters on every linear but lm_head", &o.lora),
             PositiveIntFlag("--lora-rank", "R",
                             "the LoRA rank (default " + std::to_string(o.lora_rank) + "); implies --lora",
                             tpc::limits::kMaxLoraRank,
                             [&o](long n) {
                               o.lora_rank = static_cast<int>(n);
                               o.lora = true;
                             }),
             dtype, link_gbps,
             PositiveIntFlag("--tokens", "N",
                             "tokens per forward pass, for the costs (default " + std::to_string(o.link.tokens) + ")",
                             tpc::limits::kMaxTokens, [&o](long n) { o.link.tokens = n; }),
             StringFlag({"-o", "--output"}, "program.json",
                        req_.explain ? "also write the program there" : "where to write the program", &req_.output,
                        !req_.explain),
             StringFlag({"--dot"}, "block.dot", "also write one decoder block's dataflow as Graphviz", &req_.dot)}};
  }
  int Run() override {
    const char* cmd = req_.explain ? "explain" : "compile";
    if (req_.model_path.empty())
      return Usage(std::string(cmd) + " needs --model PATH (a config.json or a checkpoint directory)");
    if (!req_.explain && req_.output.empty()) return Usage("compile needs -o PATH for the program");
    req_.color = UseColor(in_.color, STDERR_FILENO);
    return tpc::RunCompileCommand(req_, std::cout, std::cerr);
  }

 private:
  tpc::CompileRequest req_;
  InputState in_;
};

class Explain : public Compile {
 public:
  Explain() : Compile(true) {}
};

class Plans : public Command {
 public:
  FlagTable Flags() override {
    return {{}, {Switch("--markdown", "print the table in plans/README.md, in Markdown", &markdown_)}};
  }
  int Run() override { return tpc::RunPlansCommand(markdown_, std::cout); }

 private:
  bool markdown_ = false;
};

class TranslateLora : public Command {
 public:
  FlagTable Flags() override {
    return {InputFlags(req_, in_, false),
            {StringFlag({"-o", "--output"}, "lora.yaml", "where to write the LoRA plan (default: standard output)",
                        &req_.output)}};
  }
  int Run() override {
    if (req_.model_path.empty() && (req_.plan.plan.empty() || req_.plan.plan == "auto"))
      return Usage("translate-lora needs --plan NAME|PATH, or --model PATH to translate the plan chosen for it");
    if (req_.model_path.empty() && in_.transformers_given)
      return Usage("--transformers says which _tp_plan a model carries; it needs --model PATH");
    req_.color = UseColor(in_.color, STDERR_FILENO);
    return tpc::RunTranslateLoraCommand(req_, std::cout, std::cerr);
  }

 private:
  tpc::TranslateLoraRequest req_;
  InputState in_;
};

struct CommandInfo {
  const char* name;
  const char* help;
  const char* note;  // more for `tpc help NAME`, or ""
  std::unique_ptr<Command> (*make)();  // null for help
};

template <class C>
std::unique_ptr<Command> Make() {
  return std::make_unique<C>();
}

const CommandInfo kCommands[] = {
    {"check", "validate a tensor-parallel plan against a model, offline", "", Make<Check>},
    {"compile", "emit the sharding program: per-rank slices, collectives, costs", "", Make<Compile>},
    {"explain", "print the compiled program as a per-layer table", "It takes compile's flags; -o is optional.",
     Make<Explain>},
    {"plans", "list the bundled plans (--markdown for the table in plans/README.md)", "", Make<Plans>},
    {"translate-lora", "write the LoRA variant of a plan, as NeMo AutoModel's translate_to_lora makes it",
     "It needs --plan NAME|PATH, or --model PATH to translate the plan chosen for it.",
     Make<TranslateLora>},
    {"help", "show this help; tpc help COMMAND (or tpc COMMAND --help) lists a command's flags", "", nullptr},
};

const CommandInfo* FindCommand(const std::string& name) {
  for (const CommandInfo& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

int UnknownCommand(const std::string& name) {
  std::vector<std::string> names;
  for (const CommandInfo& c : kCommands) names.emplace_back(c.name);
  std::string hint = tpc::DidYouMean(name, names);
  return Usage("unknown command '" + name + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

void PrintHelp() {
  std::cout << "usage: tpc COMMAND [options]\n\ncommands:\n";
  for (const CommandInfo& c : kCommands)
    std::cout << "  " << c.name << std::string(16 - std::strlen(c.name), ' ') << c.help << '\n';
  std::cout << "  verify          prove a plan numerically: the sharded forward equals the unsharded one\n"
               "                  (tpc verify --help; needs a build with LibTorch)\n";
  std::cout << '\n';
  for (const CommandInfo& c : kCommands)
    if (c.make) std::cout << cli::UsageLine(std::string("tpc ") + c.name, c.make()->Flags());
  std::cout << "\n--plan auto (the default) picks a plan the way NeMo AutoModel does and says which in a note;\n"
               "--plan NAME takes a bundled plan (tpc plans lists them), --plan PATH a YAML or JSON plan.\n\n"
               "exit codes: 0 no errors, 1 errors found, 2 usage error or unreadable input, 3 internal error\n";
}

void PrintCommandHelp(const CommandInfo& c, const FlagTable& flags) {
  std::cout << cli::UsageLine(std::string("usage: tpc ") + c.name, flags) << '\n' << c.help << '\n';
  if (*c.note) std::cout << c.note << '\n';
  std::cout << "\nflags:\n" << cli::FlagList(flags);
}

int Help(const std::vector<std::string>& args) {
  if (args.size() > 1) return Usage("help takes one command, got '" + args[1] + "' as well");
  const CommandInfo* c = args.empty() ? nullptr : FindCommand(args[0]);
  if (!c || !c->make) {
    if (!args.empty() && !c && args[0] != "-h" && args[0] != "--help") return UnknownCommand(args[0]);
    PrintHelp();
  } else {
    PrintCommandHelp(*c, c->make()->Flags());
  }
  return tpc::kExitOk;
}

// std::cout's buffer: writes to descriptor 1 and keeps the first write error, which stdio forgets
// once its buffer is dropped. std::cerr stays tied to std::cout, so merged output keeps its order.
class StdoutBuf : public std::streambuf {
 public:
  StdoutBuf() { setp(buf_, buf_ + sizeof buf_); }
  int error() const { return error_; }

 protected:
  int overflow(int c) override {
    if (Drain() != 0) return traits_type::eof();
    if (c != traits_type::eof()) sputc(static_cast<char>(c));
    return traits_type::not_eof(c);
  }
  int sync() override { return Drain(); }

 private:
  int Drain() {
    for (const char* p = pbase(); p < pptr() && !error_;) {
      ssize_t n = write(STDOUT_FILENO, p, static_cast<size_t>(pptr() - p));
      if (n < 0 && errno != EINTR) error_ = errno;
      if (n > 0) p += n;
    }
    setp(buf_, buf_ + sizeof buf_);
    return error_ ? -1 : 0;
  }
  char buf_[1 << 16];
  int error_ = 0;
};

// `tpc verify`: LibTorch lives in tpc-verify, beside this executable, which takes the arguments.
int ExecVerify(const std::vector<std::string>& args) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
  std::string exe = dir.substr(0, dir.rfind('/') + 1) + "tpc-verify";
  std::vector<char*> argv = {const_cast<char*>(exe.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::cout.flush();
  execv(exe.c_str(), argv.data());
  std::cerr << "tpc: verify needs tpc-verify beside tpc (" << exe << ": " << std::strerror(errno)
            << "); it is built only with LibTorch (tools/setup.sh installs libtorch-dev)\n";
  return tpc::kExitUsage;
}

int Dispatch(std::vector<std::string> args) {
  if (args.empty()) return Usage("no command given");
  std::string name = args[0];
  if (name == "-h" || name == "--help") name = "help";
  args.erase(args.begin());
  if (name == "verify") return ExecVerify(args);
  if (name == "help" && !args.empty() && args[0] == "verify") return ExecVerify({"--help"});
  try {
    if (name == "help") return Help(args);
    const CommandInfo* c = FindCommand(name);
    if (!c) return UnknownCommand(name);
    std::unique_ptr<Command> command = c->make();
    FlagTable flags = command->Flags();
    std::string error;
    switch (cli::ParseFlags(args, flags, name, &error)) {
      case cli::Parsed::kHelp: PrintCommandHelp(*c, flags); return tpc::kExitOk;
      case cli::Parsed::kBad: return Usage(error);
      case cli::Parsed::kOk: break;
    }
    return command->Run();
  } catch (const std::exception& e) {
    std::cerr << "tpc: internal error: " << e.what() << '\n';
    return tpc::kExitInternal;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A command's standard output is its product: when it cannot be written (a full disk, a closed
  // pipe), the run failed, whatever the command found.
  StdoutBuf buf;
  std::streambuf* previous = std::cout.rdbuf(&buf);
  int code = Dispatch(std::vector<std::string>(argv + 1, argv + argc));
  std::cout.flush();
  std::cout.rdbuf(previous);
  if (buf.error() == 0) return code;
  std::cerr << "tpc: cannot write standard output: " << std::strerror(buf.error()) << '\n';
  return code > tpc::kExitUsage ? code : tpc::kExitUsage;
}
