// tpc: the command-line front end. Parses flags and dispatches to a subcommand; all work lives in
// the compiler library.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <streambuf>
#include <string>
#include <vector>

#include "driver/check_command.h"
#include "driver/compile_command.h"
#include "driver/plans_command.h"
#include "driver/translate_lora_command.h"
#include "ir/program.h"
#include "support/diagnostics.h"
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

bool ParseInt(const std::string& v, long lo, long hi, long* out) {
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi) return false;
  *out = x;
  return true;
}

// The flags of every command that loads a model and a plan.
struct InputFlags {
  std::string* model_path;
  tpc::PlanRequest* plan;
  std::string* arch_dir;
  std::string* color;
};
const std::vector<std::string> kInputFlags = {"--model", "--plan", "--transformers", "--arch-dir", "--color", "--no-color"};

// Takes args[i] when it is one of kInputFlags: true with `*code` -1 when it was taken, true with the
// exit code when it was malformed, false when it is not an input flag.
bool TakeInputFlag(const std::vector<std::string>& args, size_t& i, const InputFlags& f, int* code) {
  std::string v;
  *code = -1;
  if (TakeValue(args, i, "--model", &v)) *f.model_path = v;
  else if (TakeValue(args, i, "--plan", &v)) f.plan->plan = v;
  else if (TakeValue(args, i, "--arch-dir", &v)) *f.arch_dir = v;
  else if (TakeValue(args, i, "--transformers", &v)) {
    if (v != "4" && v != "5") *code = Usage("--transformers takes 4 or 5, got '" + v + "'");
    else f.plan->transformers = v[0] - '0';
  } else if (TakeValue(args, i, "--color", &v)) {
    if (v != "auto" && v != "always" && v != "never") *code = Usage("--color takes auto, always or never");
    else *f.color = v;
  } else if (args[i] == "--no-color") *f.color = "never";
  else return false;
  return true;
}

// Every flag of a command that is not a switch takes a value; one that reaches here as a whole
// argument is such a flag given last, with nothing after it.
int UnknownArgument(const std::string& a, std::vector<std::string> flags) {
  flags.insert(flags.end(), kInputFlags.begin(), kInputFlags.end());
  if (std::find(flags.begin(), flags.end(), a) != flags.end()) return Usage(a + " needs a value");
  std::string hint = tpc::DidYouMean(a, flags);
  return Usage("unknown argument '" + a + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

int Check(const std::vector<std::string>& args) {
  tpc::CheckRequest req;
  std::string color = "auto";
  InputFlags input{&req.model_path, &req.plan, &req.arch_dir, &color};
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    const std::string& a = args[i];
    int code = -1;
    if (TakeInputFlag(args, i, input, &code)) {
      if (code >= 0) return code;
    } else if (TakeValue(args, i, "--tp", &v)) {
      long tp = 0;
      if (!ParseInt(v, 1, 1 << 20, &tp)) return Usage("--tp takes a positive integer, got '" + v + "'");
      req.options.tp = static_cast<int>(tp);
    } else if (TakeValue(args, i, "--dialect", &v)) {
      auto d = tpc::ParseDialect(v);
      if (!d) return Usage("--dialect takes torch, hf-v4 or hf-v5, got '" + v + "'");
      req.options.dialect = *d;
      req.dialect_given = true;
    } else if (TakeValue(args, i, "--format", &v)) {
      if (v == "text") req.format = tpc::OutputFormat::kText;
      else if (v == "json") req.format = tpc::OutputFormat::kJson;
      else if (v == "sarif") req.format = tpc::OutputFormat::kSarif;
      else return Usage("--format takes text, json or sarif, got '" + v + "'");
    } else if (a == "--kv-replication") {
      req.options.kv_replication = true;
    } else if (a == "--sp") {
      req.plan.sequence_parallel = true;
    } else {
      return UnknownArgument(a, {"--tp", "--dialect", "--format", "--kv-replication", "--sp"});
    }
  }
  if (req.model_path.empty()) return Usage("check needs --model PATH (a config.json or a checkpoint directory)");
  req.color = color == "always" || (color == "auto" && isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"));
  return tpc::RunCheckCommand(req, std::cout, std::cerr);
}

bool UseColor(const std::string& color) {
  return color == "always" || (color == "auto" && isatty(STDERR_FILENO) && !std::getenv("NO_COLOR"));
}

// compile and explain share their flags; explain prints the table instead of requiring -o.
int CompileOrExplain(const std::vector<std::string>& args, bool explain) {
  tpc::CompileRequest req;
  req.explain = explain;
  std::string color = "auto";
  InputFlags input{&req.model_path, &req.plan, &req.arch_dir, &color};
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    const std::string& a = args[i];
    long n = 0;
    int code = -1;
    if (TakeInputFlag(args, i, input, &code)) {
      if (code >= 0) return code;
    } else if (TakeValue(args, i, "-o", &v) || TakeValue(args, i, "--output", &v)) req.output = v;
    else if (TakeValue(args, i, "--dot", &v)) req.dot = v;
    else if (TakeValue(args, i, "--dtype", &v)) {
      if (!tpc::DtypeBytes(v)) return Usage("--dtype: unknown dtype '" + v + "'; expected " + tpc::DtypeNames());
      req.options.dtype = v;
    }
    else if (TakeValue(args, i, "--tp", &v)) {
      if (!ParseInt(v, 1, 1 << 20, &n)) return Usage("--tp takes a positive integer, got '" + v + "'");
      req.options.check.tp = static_cast<int>(n);
    } else if (TakeValue(args, i, "--lora-rank", &v)) {
      if (!ParseInt(v, 1, 1 << 16, &n)) return Usage("--lora-rank takes a positive integer, got '" + v + "'");
      req.options.lora_rank = static_cast<int>(n);
      req.options.lora = true;
    } else if (TakeValue(args, i, "--tokens", &v)) {
      if (!ParseInt(v, 1, 1L << 40, &n)) return Usage("--tokens takes a positive integer, got '" + v + "'");
      req.options.link.tokens = n;
    } else if (TakeValue(args, i, "--link-gbps", &v)) {
      char* end = nullptr;
      double g = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(g > 0) || g > 1e6) return Usage("--link-gbps takes a bandwidth in GB/s, got '" + v + "'");
      req.options.link.gbps = g;
    } else if (TakeValue(args, i, "--dialect", &v)) {
      auto d = tpc::ParseDialect(v);
      if (!d) return Usage("--dialect takes torch, hf-v4 or hf-v5, got '" + v + "'");
      req.options.check.dialect = *d;
      req.dialect_given = true;
    } else if (a == "--kv-replication") {
      req.options.check.kv_replication = true;
    } else if (a == "--sp") {
      req.options.sequence_parallel = true;
    } else if (a == "--lora") {
      req.options.lora = true;
    } else {
      return UnknownArgument(a, {"--tp", "--dialect", "--kv-replication", "--sp", "--lora", "--lora-rank", "--dtype",
                                 "--link-gbps", "--tokens", "-o", "--output", "--dot"});
    }
  }
  const char* cmd = explain ? "explain" : "compile";
  if (req.model_path.empty()) return Usage(std::string(cmd) + " needs --model PATH (a config.json or a checkpoint directory)");
  if (!explain && req.output.empty()) return Usage("compile needs -o PATH for the program");
  req.color = UseColor(color);
  return tpc::RunCompileCommand(req, std::cout, std::cerr);
}

int Compile(const std::vector<std::string>& args) { return CompileOrExplain(args, false); }
int Explain(const std::vector<std::string>& args) { return CompileOrExplain(args, true); }

int Plans(const std::vector<std::string>& args) {
  bool markdown = false;
  for (const std::string& a : args) {
    if (a == "--markdown") markdown = true;
    else return Usage("unknown argument '" + a + "' for plans; it takes only --markdown");
  }
  return tpc::RunPlansCommand(markdown, std::cout);
}

int TranslateLora(const std::vector<std::string>& args) {
  tpc::TranslateLoraRequest req;
  std::string color = "auto";
  InputFlags input{&req.model_path, &req.plan, &req.arch_dir, &color};
  bool transformers_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    int code = -1;
    transformers_given |= tpc::StartsWith(args[i], "--transformers");
    if (TakeInputFlag(args, i, input, &code)) {
      if (code >= 0) return code;
    } else if (TakeValue(args, i, "-o", &v) || TakeValue(args, i, "--output", &v)) {
      req.output = v;
    } else {
      return UnknownArgument(args[i], {"-o", "--output"});
    }
  }
  if (req.model_path.empty() && (req.plan.plan.empty() || req.plan.plan == "auto"))
    return Usage("translate-lora needs --plan NAME|PATH, or --model PATH to translate the plan chosen for it");
  if (req.model_path.empty() && transformers_given)
    return Usage("--transformers says which _tp_plan a model carries; it needs --model PATH");
  req.color = UseColor(color);
  return tpc::RunTranslateLoraCommand(req, std::cout, std::cerr);
}

int Help(const std::vector<std::string>&);

struct Command {
  const char* name;
  const char* help;
  int (*fn)(const std::vector<std::string>&);
};

const Command kCommands[] = {
    {"check", "validate a tensor-parallel plan against a model, offline", Check},
    {"compile", "emit the sharding program: per-rank slices, collectives, costs", Compile},
    {"explain", "print the compiled program as a per-layer table", Explain},
    {"plans", "list the bundled plans (--markdown for the table in plans/README.md)", Plans},
    {"translate-lora", "write the LoRA variant of a plan, as NeMo AutoModel's translate_to_lora makes it", TranslateLora},
    {"help", "show this help", Help},
};

int Help(const std::vector<std::string>&) {
  std::cout << "usage: tpc COMMAND [options]\n\ncommands:\n";
  for (const Command& c : kCommands) std::cout << "  " << c.name << std::string(16 - std::strlen(c.name), ' ') << c.help << '\n';
  std::cout << "\ntpc check --model PATH [--plan auto|NAME|PATH] [--tp N] [--sp] [--transformers 4|5]\n"
               "          [--dialect torch|hf-v4|hf-v5] [--kv-replication] [--format text|json|sarif]\n"
               "          [--color auto|always|never] [--arch-dir DIR]\n"
               "tpc compile --model PATH [--plan auto|NAME|PATH] --tp N -o program.json [--sp] [--lora] [--lora-rank R]\n"
               "          [--kv-replication] [--dialect D] [--dtype T] [--dot block.dot] [--link-gbps G] [--tokens T]\n"
               "tpc explain (the same flags as compile, without -o)\n"
               "tpc plans [--markdown]\n"
               "tpc translate-lora --plan NAME|PATH [-o lora.yaml]\n"
               "tpc translate-lora --model PATH [--plan auto|NAME|PATH] [--transformers 4|5] [-o lora.yaml]\n\n"
               "--plan auto (the default) picks a plan the way NeMo AutoModel does and says which in a note;\n"
               "--plan NAME takes a bundled plan (tpc plans lists them), --plan PATH a YAML or JSON plan.\n\n"
               "exit codes: 0 no errors, 1 errors found, 2 usage error or unreadable input, 3 internal error\n";
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

int Dispatch(std::vector<std::string> args) {
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
