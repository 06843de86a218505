// Internal to program.json's reader: the top level and inputs (program_json_reader.cc), the
// parameter entries and the checks every field shares (program_json_fields.cc).
#ifndef TPC_IR_PROGRAM_JSON_READER_H_
#define TPC_IR_PROGRAM_JSON_READER_H_

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ir/program.h"
#include "support/diagnostics.h"

namespace tpc::program_json {

using nlohmann::json;
using Keys = std::initializer_list<const char*>;

inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

/// A value as a message quotes it: 2, 'text', null, an object.
std::string Describe(const json& j);

/// Reads one program.json value; the first bad field is a fatal diagnostic with its JSON pointer.
class Reader {
 public:
  Reader(int file, const std::string& text, Diagnostics& diags)
      : file_(file), text_(text), diags_(diags) {}

  std::optional<Program> Read(const json& root);

  // Each check reports the field at `at` and returns false when `j` is not what it expects.
  bool Fail(const std::string& at, const std::string& problem);
  /// An object whose keys are all in `keys` or `optional`, with every key of `keys` present.
  bool Object(const json& j, const std::string& at, Keys keys, Keys optional = {});
  bool Int(const json& j, const std::string& at, int64_t lo, int64_t hi, int64_t* out);
  template <typename T>
  bool Int(const json& j, const std::string& at, int64_t lo, int64_t hi, T* out) {
    int64_t v = 0;
    if (!Int(j, at, lo, hi, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  /// An integer or null (stored as -1): a layer number.
  bool Layer(const json& j, const std::string& at, int* out);
  bool Number(const json& j, const std::string& at, double lo, bool open, double* out);
  bool String(const json& j, const std::string& at, std::string* out, bool nonempty = false);
  /// A non-empty string, or null (stored as "").
  bool StringOrNull(const json& j, const std::string& at, std::string* out);
  bool Bool(const json& j, const std::string& at, bool* out);
  /// A string that is one of `names`; its index.
  template <typename T>
  bool OneOf(const json& j, const std::string& at, const std::vector<std::string>& names, T* out) {
    int index = 0;
    if (!OneOfIndex(j, at, names, &index)) return false;
    *out = static_cast<T>(index);
    return true;
  }
  bool Shape(const json& j, const std::string& at, std::vector<int64_t>* out);

 private:
  bool OneOfIndex(const json& j, const std::string& at, const std::vector<std::string>& names,
                  int* out);
  bool Inputs(const json& j, const std::string& at, Program* p);
  bool FileFields(const json& j, const std::string& at, const char* hash_key, InputFile* out);
  bool Sha256(const json& j, const std::string& at, std::string* out);
  bool Param(const json& j, const std::string& at, const Program& p, ProgramParam* out);
  bool KindFields(const json& j, const std::string& at, ProgramParam* out);
  bool Placed(const json& j, const std::string& at, const Program& p, ProgramParam* out);
  bool Joins(const json& j, const std::string& at, const Program& p, ProgramParam* out);
  bool Owners(const json& j, const std::string& at, int tp, std::vector<int>* out);
  bool Slices(const json& j, const std::string& at, const Program& p, ProgramParam* out);
  bool Entries(const Program& p);
  bool Collective(const json& j, const std::string& at, tpc::Collective* out);
  bool Summary(const json& j, const std::string& at, Program* p);

  int file_;
  const std::string& text_;
  Diagnostics& diags_;
};

}  // namespace tpc::program_json

#endif  // TPC_IR_PROGRAM_JSON_READER_H_
