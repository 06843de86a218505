// Safetensors headers checked as the reference implementation (huggingface/safetensors, tensor.rs)
// checks them, from the 8-byte length and the JSON header alone: a 400 GB checkpoint costs a few
// preads, never a byte of tensor data.
#include "support/safetensors_header.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "support/json_text.h"
#include "support/limits.h"
#include "support/sha256.h"
#include "support/strings.h"
#include "support/text_file.h"

namespace tpc {
namespace {

using nlohmann::json;

struct DtypeBits {
  const char* name;
  int bits;
};
// Every dtype of the format, in the reference's order (safetensors 0.8), with its bits per element.
constexpr DtypeBits kDtypes[] = {
    {"BOOL", 8},      {"F4", 4},           {"F6_E2M3", 6},      {"F6_E3M2", 6}, {"U8", 8},   {"I8", 8},
    {"F8_E5M2", 8},   {"F8_E4M3", 8},      {"F8_E8M0", 8},      {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8},
    {"I16", 16},      {"U16", 16},         {"F16", 16},         {"BF16", 16},   {"I32", 32}, {"U32", 32},
    {"F32", 32},      {"C64", 64},         {"F64", 64},         {"I64", 64},    {"U64", 64}};

std::string DtypeList() {
  std::string out;
  for (const DtypeBits& d : kDtypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

std::string Describe(const json& j) {
  if (j.is_number() || j.is_boolean()) return j.dump();
  if (j.is_string()) return "'" + Shorten(j.get_ref<const std::string&>(), limits::kMaxQuotedValue) + "'";
  return j.is_null() ? "null" : std::string("an ") + j.type_name();
}

std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string PointerToken(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return "/" + out;
}

// Finds the first key given twice in one object (nlohmann would keep only one). A frame per open
// container keeps its own pointer token; pointers are joined only for the duplicate.
class DuplicateKeys {
 public:
  bool null() { return Value(); }
  bool boolean(bool) { return Value(); }
  bool number_integer(json::number_integer_t) { return Value(); }
  bool number_unsigned(json::number_unsigned_t) { return Value(); }
  bool number_float(json::number_float_t, const json::string_t&) { return Value(); }
  bool string(json::string_t&) { return Value(); }
  bool binary(json::binary_t&) { return Value(); }
  bool start_object(std::size_t) { return Open(true); }
  bool start_array(std::size_t) { return Open(false); }
  bool end_object() { return frames_.pop_back(), true; }
  bool end_array() { return frames_.pop_back(), true; }
  bool key(json::string_t& k) {
    Frame& f = frames_.back();
    if (!f.keys.insert(k).second) {
      found = true, key_ = k;
      for (const Frame& open : frames_) where_ += open.token;
      return false;
    }
    f.last_key = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return syntax_error = true, false; }

  bool found = false;
  bool syntax_error = false;
  std::string key_, where_;  // the duplicate key and the pointer of the object holding it

 private:
  struct Frame {
    bool object;
    std::string token;  // this container's step from its parent: "/name" or "/3"
    std::set<std::string> keys;
    std::string last_key;
    size_t index = 0;
  };
  bool Value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
    return true;
  }
  bool Open(bool object) {
    std::string token;
    if (!frames_.empty()) {
      Frame& f = frames_.back();
      token = f.object ? PointerToken(f.last_key) : "/" + std::to_string(f.index++);
    }
    frames_.push_back({object, std::move(token), {}, {}, 0});
    return true;
  }
  std::vector<Frame> frames_;
};

// Checks duplicate keys, and syntax (json-syntax at line:col) when the text does not parse, then
// builds the value.
bool ParseStrict(int file, const std::string& path, const std::string& text, DiagId dup_id, json* out,
                 Diagnostics& diags) {
  DuplicateKeys dups;
  json::sax_parse(text, &dups);
  if (dups.syntax_error && !CheckJsonSyntax(file, text, diags)) return false;
  if (dups.found) {
    std::string where = dups.where_.empty() ? "the top-level object" : "the object at '" + dups.where_ + "'";
    diags.Report(dup_id, LocateJsonPointer(file, text, dups.where_ + PointerToken(dups.key_)),
                 {path, dups.key_, where});
    return false;
  }
  *out = json::parse(text, nullptr, false);
  if (out->is_discarded()) return CheckJsonSyntax(file, text, diags) && false;
  return true;
}

bool ReadAt(int fd, uint64_t offset, size_t n, char* buf) {
  while (n > 0) {
    ssize_t got = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return errno = got == 0 ? EIO : errno, false;
    buf += got, offset += static_cast<uint64_t>(got), n -= static_cast<size_t>(got);
  }
  return true;
}

bool Unsigned(const json& j, uint64_t* out) {
  if (!j.is_number_unsigned()) return false;
  *out = j.get<uint64_t>();
  return true;
}

class HeaderReader {
 public:
  HeaderReader(const std::string& path, int file, const std::string& text, Diagnostics& diags)
      : path_(path), file_(file), text_(text), diags_(diags) {}

  bool Field(const std::string& pointer, const std::string& what, const std::string& problem) {
    diags_.Report(DiagId::kSafetensorsBadField, LocateJsonPointer(file_, text_, pointer), {path_, what, problem});
    return false;
  }

  bool Metadata(const json& j, std::map<std::string, std::string>* out) {
    if (j.is_null()) return true;
    if (!j.is_object()) return Field("/__metadata__", "'__metadata__'", "is " + Describe(j) + ", expected an object of strings");
    for (const auto& item : j.items()) {
      if (!item.value().is_string())
        return Field("/__metadata__" + PointerToken(item.key()), "'__metadata__' entry '" + item.key() + "'",
                     "is " + Describe(item.value()) + ", expected a string");
      (*out)[item.key()] = item.value().get<std::string>();
    }
    return true;
  }

  bool Tensor(const std::string& name, const json& j, SafetensorsTensor* t) {
    // Only a message needs these: built on the way to one, not for every tensor.
    auto at = [&] { return PointerToken(name); };
    auto what = [&] { return "tensor '" + name + "'"; };
    t->name = name;
    if (!j.is_object()) return Field(at(), what(), "is " + Describe(j) + ", expected an object with dtype, shape and data_offsets");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!j.contains(key)) return Field(at(), what(), std::string("has no '") + key + "'");
    const json& dtype = j["dtype"];
    if (!dtype.is_string()) return Field(at() + "/dtype", what() + " field 'dtype'", "is " + Describe(dtype) + ", expected a string");
    t->dtype = dtype.get<std::string>();
    int bits = SafetensorsDtypeBits(t->dtype);
    if (bits == 0) {
      diags_.Report(DiagId::kSafetensorsUnknownDtype, LocateJsonPointer(file_, text_, at() + "/dtype"),
                    {path_, name, Describe(dtype), DtypeList()});
      return false;
    }
    const json& shape = j["shape"];
    if (!shape.is_array()) return Field(at() + "/shape", what() + " field 'shape'", "is " + Describe(shape) + ", expected an array");
    for (size_t i = 0; i < shape.size(); ++i) {
      uint64_t dim = 0;
      if (!Unsigned(shape[i], &dim))
        return Field(at() + "/shape/" + std::to_string(i), what() + " shape element " + std::to_string(i),
                     "is " + Describe(shape[i]) + ", expected a non-negative integer");
      t->shape.push_back(dim);
    }
    const json& offsets = j["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !Unsigned(offsets[0], &t->begin) || !Unsigned(offsets[1], &t->end))
      return Field(at() + "/data_offsets", what() + " field 'data_offsets'",
                   "is " + Shorten(offsets.dump(), limits::kMaxQuotedValue) + ", expected [begin, end] of non-negative integers");
    uint64_t numel = 1, total_bits = 0;
    for (uint64_t dim : t->shape)
      if (__builtin_mul_overflow(numel, dim, &numel)) return Overflow(at(), *t);
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(bits), &total_bits)) return Overflow(at(), *t);
    if (total_bits % 8 != 0) {
      diags_.Report(DiagId::kSafetensorsBitsNotBytes, LocateJsonPointer(file_, text_, at() + "/shape"),
                    {path_, name, ShapeText(t->shape), t->dtype, std::to_string(numel), std::to_string(bits)});
      return false;
    }
    bytes_[name] = total_bits / 8;
    return true;
  }

  bool Overflow(const std::string& at, const SafetensorsTensor& t) {
    diags_.Report(DiagId::kSafetensorsOverflow, LocateJsonPointer(file_, text_, at + "/shape"),
                  {path_, t.name, ShapeText(t.shape)});
    return false;
  }

  // Tensors in data order must tile [0, end) exactly, each exactly as long as its shape needs.
  bool Layout(std::vector<SafetensorsTensor>& tensors, uint64_t* data_end) {
    std::stable_sort(tensors.begin(), tensors.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t start = 0;
    const SafetensorsTensor* prev = nullptr;
    for (const SafetensorsTensor& t : tensors) {
      std::string at = PointerToken(t.name) + "/data_offsets", why;
      std::string before = prev ? "the previous tensor '" + prev->name + "' ends at byte " + std::to_string(start)
                                : "the data starts at byte 0";
      if (t.end < t.begin) why = "its end is before its begin";
      else if (t.begin > start) why = before + ", leaving a hole of " + std::to_string(t.begin - start) + " bytes";
      else if (t.begin < start) why = before + ", an overlap of " + std::to_string(start - t.begin) + " bytes";
      if (!why.empty()) {
        diags_.Report(DiagId::kSafetensorsOffsetGap, LocateJsonPointer(file_, text_, at),
                      {path_, t.name, std::to_string(t.begin), std::to_string(t.end), why});
        return false;
      }
      uint64_t need = bytes_[t.name];
      if (t.end - t.begin != need) {
        diags_.Report(DiagId::kSafetensorsSizeMismatch, LocateJsonPointer(file_, text_, at),
                      {path_, t.name, std::to_string(t.begin), std::to_string(t.end), std::to_string(t.end - t.begin),
                       ShapeText(t.shape), t.dtype, std::to_string(need)});
        return false;
      }
      start = t.end;
      prev = &t;
    }
    *data_end = start;
    return true;
  }

 private:
  const std::string& path_;
  int file_;
  const std::string& text_;
  Diagnostics& diags_;
  std::map<std::string, uint64_t> bytes_;
};

bool Unreadable(const std::string& path, const std::string& why, Diagnostics& diags) {
  diags.Report(DiagId::kFileUnreadable, {diags.sources().AddPath(path), 0, 0, 0}, {path, why});
  return false;
}

// The checks on a file of `size` bytes whose bytes `read` fetches (false, with errno, on failure).
bool ParseFile(const std::string& path, uint64_t size, const std::function<bool(uint64_t, size_t, char*)>& read,
               SafetensorsHeader* out, Diagnostics& diags) {
  auto whole_file = [&](DiagId id, std::vector<std::string> args) {
    diags.Report(id, {diags.sources().AddPath(path), 0, 0, 0}, std::move(args));
    return false;
  };
  if (size < 8) return whole_file(DiagId::kSafetensorsTooShort, {path, std::to_string(size)});
  unsigned char prefix[8];
  if (!read(0, 8, reinterpret_cast<char*>(prefix))) return Unreadable(path, std::strerror(errno), diags);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | prefix[i];
  if (n > limits::kMaxSafetensorsHeaderBytes)
    return whole_file(DiagId::kSafetensorsHeaderTooLarge,
                      {path, std::to_string(n), std::to_string(limits::kMaxSafetensorsHeaderBytes)});
  if (n > size - 8) return whole_file(DiagId::kSafetensorsHeaderPastEnd, {path, std::to_string(n), std::to_string(size - 8)});
  std::string text(n, '\0');
  if (!read(8, n, text.data())) return Unreadable(path, std::strerror(errno), diags);
  if (text.empty() || text[0] != '{') {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", text.empty() ? 0 : static_cast<unsigned char>(text[0]));
    std::string first = text.empty() ? "nothing (the header is empty)"
                        : std::isprint(static_cast<unsigned char>(text[0])) ? "'" + text.substr(0, 1) + "' (" + hex + ")"
                                                                            : std::string("byte ") + hex;
    return whole_file(DiagId::kSafetensorsHeaderStart, {path, first});
  }
  // Hashed here, from the bytes already read, so a checkpoint's headers are each read once.
  Sha256 hash;
  hash.Update(std::string_view(reinterpret_cast<const char*>(prefix), sizeof prefix));
  hash.Update(text);
  std::string header_sha256 = hash.Hex();
  int file = diags.sources().AddFile(path, text);
  json j;
  if (!ParseStrict(file, path, text, DiagId::kSafetensorsDuplicateKey, &j, diags)) return false;
  HeaderReader reader(path, file, text, diags);
  for (const auto& item : j.items()) {
    if (item.key() == "__metadata__") {
      if (!reader.Metadata(item.value(), &out->metadata)) return false;
      continue;
    }
    out->tensors.emplace_back();
    if (!reader.Tensor(item.key(), item.value(), &out->tensors.back())) return false;
  }
  uint64_t data_end = 0;
  if (!reader.Layout(out->tensors, &data_end)) return false;
  uint64_t expected = 0;  // n <= 10^8, so only data_end can overflow the sum
  bool overflow = __builtin_add_overflow(8 + n, data_end, &expected);
  if (overflow || expected != size)
    return whole_file(DiagId::kSafetensorsFileSize, {path, std::to_string(n), std::to_string(data_end),
                                                     overflow ? "over 2^64" : std::to_string(expected),
                                                     std::to_string(size)});
  out->header_bytes = n;
  out->file_bytes = size;
  out->header_sha256 = std::move(header_sha256);
  return true;
}

}  // namespace

int SafetensorsDtypeBits(const std::string& dtype) {
  for (const DtypeBits& d : kDtypes)
    if (dtype == d.name) return d.bits;
  return 0;
}

bool ReadSafetensorsHeader(const std::string& path, SafetensorsHeader* out, Diagnostics& diags) {
  *out = {};
  struct stat st;
  // Look before opening: open() on a FIFO blocks until a writer comes.
  if (::stat(path.c_str(), &st) != 0) return Unreadable(path, std::strerror(errno), diags);
  if (!S_ISREG(st.st_mode)) return Unreadable(path, "it is not a regular file", diags);
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Unreadable(path, std::strerror(errno), diags);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return Unreadable(path, std::strerror(errno), diags);
  if (!S_ISREG(st.st_mode)) return Unreadable(path, "it is not a regular file", diags);
  auto read = [fd](uint64_t offset, size_t n, char* buf) { return ReadAt(fd, offset, n, buf); };
  return ParseFile(path, static_cast<uint64_t>(st.st_size), read, out, diags);
}

bool CheckSafetensorsBytes(const std::string& path, const std::string& bytes, SafetensorsHeader* out,
                           Diagnostics& diags) {
  *out = {};
  auto read = [&bytes](uint64_t offset, size_t n, char* buf) { return offset <= bytes.size() && bytes.copy(buf, n, offset) == n; };
  return ParseFile(path, bytes.size(), read, out, diags);
}

bool ReadSafetensorsIndex(const std::string& path, SafetensorsIndex* out, Diagnostics& diags) {
  *out = {};
  std::string text;
  if (!ReadTextFile(path, &text, diags)) return false;
  int file = out->file = diags.sources().AddFile(path, text);
  json j;
  if (!ParseStrict(file, path, text, DiagId::kSafetensorsIndexDuplicateKey, &j, diags)) return false;
  auto fail = [&](const std::string& pointer, const std::string& what, const std::string& problem) {
    diags.Report(DiagId::kSafetensorsIndexField, LocateJsonPointer(file, text, pointer), {path, what, problem});
    return false;
  };
  if (!j.is_object()) return fail("", "the index", "is " + Describe(j) + ", expected an object");
  if (!j.contains("weight_map")) return fail("", "the index", "has no 'weight_map'");
  const json& map = j["weight_map"];
  if (!map.is_object()) return fail("/weight_map", "'weight_map'", "is " + Describe(map) + ", expected an object");
  for (const auto& item : map.items()) {
    const json& shard = item.value();
    bool name = shard.is_string() && !shard.get_ref<const std::string&>().empty() &&
                shard.get_ref<const std::string&>().find('/') == std::string::npos && shard != "." && shard != "..";
    if (!name)
      return fail("/weight_map" + PointerToken(item.key()), "tensor '" + item.key() + "'",
                  "is mapped to " + Describe(shard) + ", expected a file name in the index's directory");
    out->weight_map[item.key()] = shard.get<std::string>();
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::set<std::string> checked;
  for (const auto& [tensor, shard] : out->weight_map) {
    if (!checked.insert(shard).second) continue;
    struct stat st;
    std::string why = ::stat((dir + shard).c_str(), &st) != 0 ? std::strerror(errno)
                      : !S_ISREG(st.st_mode)                  ? "it is not a regular file"
                                                              : "";
    if (!why.empty()) {
      diags.Report(DiagId::kSafetensorsMissingShard, LocateJsonPointer(file, text, "/weight_map" + PointerToken(tensor)),
                   {path, tensor, shard, why});
      return false;
    }
  }
  return true;
}

}  // namespace tpc
