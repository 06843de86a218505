#include "flags.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "support/limits.h"
#include "support/strings.h"

namespace tpc::cli {
namespace {

constexpr size_t kHelpWidth = 100;  // columns of `tpc help`

// The flags in the order did-you-mean tries them: the command's own, then the input flags.
std::vector<const Flag*> InTieOrder(const FlagTable& table) {
  std::vector<const Flag*> flags;
  for (const Flag& f : table.own) flags.push_back(&f);
  for (const Flag& f : table.input) flags.push_back(&f);
  return flags;
}

// The flag args[i] names, with its value; advances `i` past a value given as the next argument.
const Flag* Match(const std::vector<const Flag*>& flags, const std::vector<std::string>& args, size_t& i,
                  std::string* value) {
  const std::string& a = args[i];
  for (const Flag* f : flags) {
    for (const std::string& name : f->names) {
      if (f->value.empty()) {
        if (a == name) return f;
      } else if (a == name && i + 1 < args.size()) {
        *value = args[++i];
        return f;
      } else if (StartsWith(a, name + "=")) {
        *value = a.substr(name.size() + 1);
        return f;
      }
    }
  }
  return nullptr;
}

// The message for an argument no flag took. A value flag's name given last, with nothing after
// it, lands here too.
std::string Unknown(const std::string& a, const std::vector<const Flag*>& flags, const std::string& command) {
  std::vector<std::string> names;
  for (const Flag* f : flags) {
    for (const std::string& name : f->names) {
      if (a == name && !f->value.empty()) return a + " needs a value";
      names.push_back(name);
    }
  }
  // A command with a single flag names it instead of guessing.
  if (names.size() == 1) return "unknown argument '" + a + "' for " + command + "; it takes only " + names[0];
  std::string hint = DidYouMean(a, names);
  return "unknown argument '" + a + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?");
}

// `first`, then `words` each after a space, broken before kHelpWidth with `indent` spaces
// starting each later line.
std::string Wrap(std::string first, const std::vector<std::string>& words, size_t indent) {
  std::string out;
  std::string line = std::move(first);
  bool line_has_word = true;
  for (const std::string& w : words) {
    if (line_has_word && line.size() + 1 + w.size() > kHelpWidth) {
      out += line + "\n";
      line = std::string(indent, ' ');
      line_has_word = false;
    }
    if (line_has_word) line += ' ';
    line += w;
    line_has_word = true;
  }
  return out + line + "\n";
}

std::string Label(const Flag& f) { return Join(f.names, ", ") + (f.value.empty() ? "" : " " + f.value); }

}  // namespace

Parsed ParseFlags(const std::vector<std::string>& args, const FlagTable& table, const std::string& command,
                  std::string* error) {
  std::vector<const Flag*> flags = InTieOrder(table);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") return Parsed::kHelp;
    std::string value;
    const Flag* f = Match(flags, args, i, &value);
    *error = f ? f->apply(value) : Unknown(args[i], flags, command);
    if (!error->empty()) return Parsed::kBad;
  }
  return Parsed::kOk;
}

std::string UsageLine(const std::string& start, const FlagTable& table) {
  std::vector<std::string> words;
  for (const auto* rows : {&table.input, &table.own}) {
    for (const Flag& f : *rows) {
      std::string w = f.names[0] + (f.value.empty() ? "" : " " + f.value);
      words.push_back(f.required ? w : "[" + w + "]");
    }
  }
  return Wrap(start, words, start.size() + 1);
}

std::string FlagList(const FlagTable& table) {
  Flag help{{"-h", "--help"}, "", "show this help", nullptr};
  std::vector<const Flag*> rows;
  for (const auto* group : {&table.input, &table.own})
    for (const Flag& f : *group) rows.push_back(&f);
  rows.push_back(&help);
  size_t width = 0;
  for (const Flag* f : rows) width = std::max(width, Label(*f).size());
  std::string out;
  for (const Flag* f : rows) {
    std::string label = "  " + Label(*f);
    label.resize(width + 3, ' ');
    std::vector<std::string> words;
    for (std::string_view w : Split(f->help, ' ')) words.emplace_back(w);
    out += Wrap(label, words, width + 4);
  }
  return out;
}

Flag StringFlag(std::vector<std::string> names, const std::string& value, const std::string& help,
                std::string* target, bool required) {
  return {std::move(names), value, help, [target](const std::string& v) {
            *target = v;
            return std::string();
          }, required};
}

Flag PositiveIntFlag(const std::string& name, const std::string& value, const std::string& help, long max,
                     std::function<void(long)> store) {
  return {{name}, value, help, [name, max, store](const std::string& v) -> std::string {
            char* end = nullptr;
            errno = 0;
            long x = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || errno || x < 1 || x > max)
              return name + " takes a positive integer, got '" + v + "'";
            store(x);
            return "";
          }};
}

Flag Switch(const std::string& name, const std::string& help, bool* target) {
  return {{name}, "", help, [target](const std::string&) {
            *target = true;
            return std::string();
          }};
}

Flag TpFlag(int* tp) {
  std::string help = "the tensor-parallel size (default " + std::to_string(*tp) + ")";
  return PositiveIntFlag("--tp", "N", help, limits::kMaxTp, [tp](long n) { *tp = static_cast<int>(n); });
}

Flag DialectFlag(Dialect* dialect, bool* given) {
  std::string help = std::string("the plan's dialect, over its file's (default: the file's, else ") +
                     DialectName(*dialect) + ")";
  return {{"--dialect"}, "torch|hf-v4|hf-v5", help, [dialect, given](const std::string& v) -> std::string {
            auto d = ParseDialect(v);
            if (!d) return "--dialect takes torch, hf-v4 or hf-v5, got '" + v + "'";
            *dialect = *d;
            *given = true;
            return "";
          }};
}

Flag KvReplicationFlag(bool* on) {
  return Switch("--kv-replication", "replicate key/value heads when tp exceeds their count, as vLLM does", on);
}

Flag SpFlag(bool* on) {
  return Switch("--sp", "use the plan's sequence-parallel variant", on);
}

}  // namespace tpc::cli
