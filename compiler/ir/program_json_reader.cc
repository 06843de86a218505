// Reads program.json back, checking everything a runtime relies on before it allocates or loads a
// byte: the first bad field stops the reader with its JSON pointer ("/parameters/3/slices/1/0").
#include <algorithm>
#include <initializer_list>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "ir/program_json.h"
#include "support/json_text.h"
#include "support/limits.h"
#include "support/strings.h"
#include "support/text_file.h"

namespace tpc {
namespace {

using nlohmann::json;
using Keys = std::initializer_list<const char*>;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

std::string Describe(const json& j) {
  if (j.is_number_integer() || j.is_number_float() || j.is_boolean()) return j.dump();
  if (j.is_string()) return "'" + Shorten(j.get_ref<const std::string&>(), limits::kMaxQuotedValue) + "'";
  return j.is_null() ? "null" : std::string("an ") + j.type_name();  // an object, an array
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

class Reader {
 public:
  Reader(int file, const std::string& text, Diagnostics& diags) : file_(file), text_(text), diags_(diags) {}

  bool Fail(const std::string& at, const std::string& problem) {
    std::string what = at.empty() ? "the program" : "program field '" + at + "'";
    diags_.Report(DiagId::kBadProgramField, LocateJsonPointer(file_, text_, at), {what, problem});
    return false;
  }

  // `j` is an object whose keys are all in `keys`; every key that is not optional is present.
  bool Object(const json& j, const std::string& at, Keys keys, Keys optional = {}) {
    if (!j.is_object()) return Fail(at, "is " + Describe(j) + ", expected an object");
    for (const auto& item : j.items()) {
      const std::string& key = item.key();  // a plain name: clang 14 cannot capture a structured binding
      auto is = [&](const char* k) { return key == k; };
      if (std::none_of(keys.begin(), keys.end(), is) && std::none_of(optional.begin(), optional.end(), is))
        return Fail(at + "/" + key, "is not part of program version " + std::to_string(kProgramVersion));
    }
    for (const char* key : keys)
      if (!j.contains(key)) return Fail(at + "/" + key, "is missing");
    return true;
  }

  bool Int(const json& j, const std::string& at, int64_t lo, int64_t hi, int64_t* out) {
    bool integer = j.is_number_integer() && !(j.is_number_unsigned() && j.get<uint64_t>() > uint64_t{kInt64Max});
    if (!integer || j.get<int64_t>() < lo || j.get<int64_t>() > hi)
      return Fail(at, "is " + Describe(j) + ", expected an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
    *out = j.get<int64_t>();
    return true;
  }
  template <typename T>
  bool Int(const json& j, const std::string& at, int64_t lo, int64_t hi, T* out) {
    int64_t v = 0;
    if (!Int(j, at, lo, hi, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  // An integer or null (stored as -1): a layer number.
  bool Layer(const json& j, const std::string& at, int* out) {
    if (j.is_null()) return *out = -1, true;
    return Int(j, at, 0, limits::kMaxLayers, out);
  }
  bool Number(const json& j, const std::string& at, double lo, bool open, double* out) {
    if (!j.is_number() || (open ? j.get<double>() <= lo : j.get<double>() < lo))
      return Fail(at, "is " + Describe(j) + ", expected a number " + (open ? "over " : "of at least ") +
                          json(lo).dump());
    *out = j.get<double>();
    return true;
  }
  bool String(const json& j, const std::string& at, std::string* out, bool nonempty = false) {
    if (!j.is_string() || (nonempty && j.get_ref<const std::string&>().empty()))
      return Fail(at, "is " + Describe(j) + ", expected a" + (nonempty ? " non-empty" : "") + " string");
    *out = j.get<std::string>();
    return true;
  }
  bool Bool(const json& j, const std::string& at, bool* out) {
    if (!j.is_boolean()) return Fail(at, "is " + Describe(j) + ", expected true or false");
    *out = j.get<bool>();
    return true;
  }
  // A string that is one of `names`; its index.
  template <typename T>
  bool OneOf(const json& j, const std::string& at, const std::vector<std::string>& names, T* out) {
    auto it = j.is_string() ? std::find(names.begin(), names.end(), j.get<std::string>()) : names.end();
    if (it == names.end()) return Fail(at, "is " + Describe(j) + ", expected one of " + Join(names, ", "));
    *out = static_cast<T>(it - names.begin());
    return true;
  }
  bool Shape(const json& j, const std::string& at, std::vector<int64_t>* out) {
    if (!j.is_array()) return Fail(at, "is " + Describe(j) + ", expected an array of sizes");
    out->resize(j.size());
    int64_t elements = 1;
    for (size_t i = 0; i < j.size(); ++i) {
      if (!Int(j[i], at + "/" + std::to_string(i), 0, limits::kMaxDimension, &(*out)[i])) return false;
      int64_t d = (*out)[i];
      if (d > 0 && elements > limits::kMaxModelElements / d)
        return Fail(at, "has more than " + std::to_string(limits::kMaxModelElements) + " elements, over tpc's limit");
      elements *= d;
    }
    return true;
  }

  bool Param(const json& j, const std::string& at, const Program& p, ProgramParam* out);
  bool Slices(const json& j, const std::string& at, const Program& p, ProgramParam* out);
  bool Collective(const json& j, const std::string& at, tpc::Collective* out);
  bool Summary(const json& j, const std::string& at, Program* p);
  std::optional<Program> Read(const json& root);

 private:
  int file_;
  const std::string& text_;
  Diagnostics& diags_;
};

bool Reader::Param(const json& j, const std::string& at, const Program& p, ProgramParam* out) {
  if (!Object(j, at, {"name", "source", "module", "layer", "dtype", "global_shape", "placement", "shard_dim", "local_shape"},
              {"adapter", "replicas", "slices"}))
    return false;
  if (!String(j["name"], at + "/name", &out->name, true)) return false;
  if (!j["source"].is_null() && !String(j["source"], at + "/source", &out->source, true)) return false;
  int adapter = 0;
  if (j.contains("adapter") && !OneOf(j["adapter"], at + "/adapter", {"lora_A", "lora_B"}, &adapter)) return false;
  if (j.contains("adapter")) out->adapter = j["adapter"].get<std::string>();
  if (!String(j["module"], at + "/module", &out->module) || !Layer(j["layer"], at + "/layer", &out->layer)) return false;
  if (j["dtype"] != p.dtype) return Fail(at + "/dtype", "is " + Describe(j["dtype"]) + ", not the program's dtype '" + p.dtype + "'");
  if (!Shape(j["global_shape"], at + "/global_shape", &out->global_shape)) return false;
  const json& placement = j["placement"];
  std::string text = placement.is_string() ? placement.get<std::string>() : "";
  if (text == "replicate") {
    out->placement = {Placement::kReplicate, 0};
    if (!j["shard_dim"].is_null()) return Fail(at + "/shard_dim", "is " + Describe(j["shard_dim"]) + ", expected null for a replicated parameter");
    for (const char* key : {"replicas", "slices"})
      if (j.contains(key)) return Fail(at + "/" + key, "is given for a replicated parameter");
  } else {
    int dims = static_cast<int>(out->global_shape.size());
    size_t close = text.size() - 1;
    bool shard = text.size() > 7 && text.compare(0, 6, "shard(") == 0 && text[close] == ')' && text.size() < 14 &&
                 text.find_first_not_of("0123456789", 6) == close;
    int dim = shard ? std::stoi(text.substr(6)) : -1;
    if (!shard || dim >= dims)
      return Fail(at + "/placement", "is " + Describe(placement) + ", expected replicate or shard(N) with N below " +
                                         std::to_string(dims) + ", the tensor's number of dims");
    out->placement = {Placement::kShard, dim};
    int64_t shard_dim = 0;
    if (!Int(j["shard_dim"], at + "/shard_dim", dim, dim, &shard_dim)) return false;
    if (j.contains("replicas") && !Int(j["replicas"], at + "/replicas", 2, p.tp, &out->replicas)) return false;
    if (!j.contains("slices")) return Fail(at + "/slices", "is missing, and a sharded parameter needs one list per rank");
    if (!Slices(j["slices"], at + "/slices", p, out)) return false;
  }
  std::vector<int64_t> local;
  if (!Shape(j["local_shape"], at + "/local_shape", &local)) return false;
  if (local != out->LocalShape(0))
    return Fail(at + "/local_shape", "is " + ShapeText(local) + ", but rank 0 holds " + ShapeText(out->LocalShape(0)));
  return true;
}

// One list of row ranges per rank, each inside the sharded dim, together covering every row
// `replicas` times: what the runtime slices out of the checkpoint.
bool Reader::Slices(const json& j, const std::string& at, const Program& p, ProgramParam* out) {
  if (!j.is_array() || j.size() != static_cast<size_t>(p.tp))
    return Fail(at, "is " + Describe(j) + (j.is_array() ? " of " + std::to_string(j.size()) : std::string()) +
                        ", expected one list of slices per rank (" + std::to_string(p.tp) + ")");
  int64_t n = out->global_shape[out->placement.dim];
  std::map<int64_t, int64_t> events;  // row -> change of coverage there
  out->ranks.assign(j.size(), {});
  for (size_t r = 0; r < j.size(); ++r) {
    std::string rank_at = at + "/" + std::to_string(r);
    if (!j[r].is_array()) return Fail(rank_at, "is " + Describe(j[r]) + ", expected an array of slices");
    for (size_t i = 0; i < j[r].size(); ++i) {
      const json& s = j[r][i];
      std::string slice_at = rank_at + "/" + std::to_string(i);
      Slice slice;
      if (!Object(s, slice_at, {"start", "length"}, {"segment"})) return false;
      if (s.contains("segment") && !String(s["segment"], slice_at + "/segment", &slice.segment, true)) return false;
      if (!Int(s["start"], slice_at + "/start", 0, n, &slice.start) ||
          !Int(s["length"], slice_at + "/length", 0, n - slice.start, &slice.length))
        return false;
      if (slice.length > 0) events[slice.start] += 1, events[slice.start + slice.length] -= 1;
      out->ranks[r].push_back(std::move(slice));
    }
  }
  // Sweep the range ends: rows [pos, row) are covered `depth` times, which must be `replicas`.
  int64_t depth = 0, pos = 0;
  for (const auto& [row, change] : events) {
    if (row > pos && depth != out->replicas) break;
    depth += change;
    pos = row;
  }
  if (pos != n)
    return Fail(at, "do not cover rows [0, " + std::to_string(n) + ") of dim " + std::to_string(out->placement.dim) +
                        " exactly " + std::to_string(out->replicas) + " time(s): row " + std::to_string(pos) +
                        " is covered " + std::to_string(depth) + " time(s)");
  return true;
}

bool Reader::Collective(const json& j, const std::string& at, tpc::Collective* c) {
  static const std::vector<std::string> kKinds = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"};
  static const std::vector<std::string> kLayouts = {"replicate", "shard(-1)", "shard(1)", "partial"};
  return Object(j, at, {"kind", "after", "before", "layer", "from", "to", "elements_per_token", "bytes_per_token",
                        "send_bytes_per_token", "ring_steps"}) &&
         OneOf(j["kind"], at + "/kind", kKinds, &c->kind) && String(j["after"], at + "/after", &c->after, true) &&
         String(j["before"], at + "/before", &c->before, true) && Layer(j["layer"], at + "/layer", &c->layer) &&
         OneOf(j["from"], at + "/from", kLayouts, &c->from) && OneOf(j["to"], at + "/to", kLayouts, &c->to) &&
         Int(j["elements_per_token"], at + "/elements_per_token", 0, kInt64Max, &c->elements_per_token) &&
         Int(j["bytes_per_token"], at + "/bytes_per_token", 0, kInt64Max, &c->bytes_per_token) &&
         Number(j["send_bytes_per_token"], at + "/send_bytes_per_token", 0, false, &c->send_bytes_per_token) &&
         Int(j["ring_steps"], at + "/ring_steps", 0, limits::kMaxTp, &c->steps);
}

bool Reader::Summary(const json& j, const std::string& at, Program* p) {
  ProgramSummary& s = p->summary;
  if (!Object(j, at, {"parameters", "param_bytes_total", "param_bytes_per_rank", "max_param_bytes_per_rank",
                      "collectives", "traffic_bytes_per_token", "layer_traffic_bytes_per_token",
                      "send_bytes_per_token", "comm_us_per_token"}))
    return false;
  int64_t count = 0;
  if (!Int(j["parameters"], at + "/parameters", p->params.size(), p->params.size(), &count) ||
      !Int(j["param_bytes_total"], at + "/param_bytes_total", 0, kInt64Max, &s.param_bytes_total))
    return false;
  const json& per_rank = j["param_bytes_per_rank"];
  if (!per_rank.is_array() || per_rank.size() != static_cast<size_t>(p->tp))
    return Fail(at + "/param_bytes_per_rank", "is " + Describe(per_rank) + ", expected one size per rank (" +
                                                  std::to_string(p->tp) + ")");
  s.param_bytes_per_rank.resize(per_rank.size());
  for (size_t r = 0; r < per_rank.size(); ++r)
    if (!Int(per_rank[r], at + "/param_bytes_per_rank/" + std::to_string(r), 0, kInt64Max, &s.param_bytes_per_rank[r]))
      return false;
  int64_t max_rank = 0;
  for (int64_t b : s.param_bytes_per_rank) max_rank = std::max(max_rank, b);
  if (!Int(j["max_param_bytes_per_rank"], at + "/max_param_bytes_per_rank", max_rank, max_rank, &max_rank)) return false;
  // The counts are derived from the collectives, as the writer derives them.
  const json& counts = j["collectives"];
  if (!Object(counts, at + "/collectives", {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"})) return false;
  for (CollectiveKind k : {CollectiveKind::kAllReduce, CollectiveKind::kAllGather, CollectiveKind::kReduceScatter,
                           CollectiveKind::kAllToAll}) {
    int64_t n = std::count_if(p->collectives.begin(), p->collectives.end(), [&](const auto& c) { return c.kind == k; });
    if (!Int(counts[CollectiveName(k)], at + "/collectives/" + CollectiveName(k), n, n, &n)) return false;
  }
  return Int(j["traffic_bytes_per_token"], at + "/traffic_bytes_per_token", 0, kInt64Max, &s.traffic_bytes_per_token) &&
         Int(j["layer_traffic_bytes_per_token"], at + "/layer_traffic_bytes_per_token", 0, kInt64Max,
             &s.layer_traffic_bytes_per_token) &&
         Number(j["send_bytes_per_token"], at + "/send_bytes_per_token", 0, false, &s.send_bytes_per_token) &&
         Number(j["comm_us_per_token"], at + "/comm_us_per_token", 0, false, &s.comm_us_per_token);
}

std::optional<Program> Reader::Read(const json& root) {
  Program p;
  // Format and version first: a later version may change every other field.
  if (!root.is_object()) return Fail("", "is " + Describe(root) + ", expected an object"), std::nullopt;
  if (!root.contains("format") || root["format"] != "tpc-program")
    return Fail("/format", root.contains("format") ? "is " + Describe(root["format"]) + ", expected 'tpc-program'"
                                                  : std::string("is missing, so this is not a tpc program")),
           std::nullopt;
  if (!root.contains("version")) return Fail("/version", "is missing"), std::nullopt;
  if (root["version"] != kProgramVersion) {
    diags_.Report(DiagId::kUnsupportedProgramVersion, LocateJsonPointer(file_, text_, "/version"),
                  {Describe(root["version"]), std::to_string(kProgramVersion)});
    return std::nullopt;
  }
  if (!Object(root, "", {"format", "version", "model_type", "dtype", "tp", "dialect", "sequence_parallel",
                         "kv_replication", "lora", "link", "parameters", "collectives", "attributes", "summary"}) ||
      !String(root["model_type"], "/model_type", &p.model_type, true) || !String(root["dtype"], "/dtype", &p.dtype))
    return std::nullopt;
  if (DtypeBytes(p.dtype) == 0) return Fail("/dtype", "is " + Describe(root["dtype"]) + ", not a dtype tpc knows"), std::nullopt;
  int dialect = 0;
  if (!Int(root["tp"], "/tp", 1, limits::kMaxTp, &p.tp) ||
      !OneOf(root["dialect"], "/dialect", {"torch", "hf-v4", "hf-v5"}, &dialect) ||
      !Bool(root["sequence_parallel"], "/sequence_parallel", &p.sequence_parallel) ||
      !Bool(root["kv_replication"], "/kv_replication", &p.kv_replication))
    return std::nullopt;
  p.dialect = root["dialect"].get<std::string>();
  if (p.lora = !root["lora"].is_null(); p.lora && (!Object(root["lora"], "/lora", {"rank"}) ||
                                                   !Int(root["lora"]["rank"], "/lora/rank", 1, limits::kMaxLoraRank, &p.lora_rank)))
    return std::nullopt;
  const json& link = root["link"];
  if (!Object(link, "/link", {"gbps", "launch_us", "hop_us", "tokens"}) ||
      !Number(link["gbps"], "/link/gbps", 0, true, &p.link.gbps) ||
      !Number(link["launch_us"], "/link/launch_us", 0, false, &p.link.launch_us) ||
      !Number(link["hop_us"], "/link/hop_us", 0, false, &p.link.hop_us) ||
      !Int(link["tokens"], "/link/tokens", 1, limits::kMaxTokens, &p.link.tokens))
    return std::nullopt;
  for (const char* key : {"parameters", "collectives", "attributes"})
    if (!root[key].is_array()) return Fail(std::string("/") + key, "is " + Describe(root[key]) + ", expected an array"), std::nullopt;
  for (size_t i = 0; i < root["parameters"].size(); ++i)
    if (!Param(root["parameters"][i], "/parameters/" + std::to_string(i), p, &p.params.emplace_back())) return std::nullopt;
  for (size_t i = 0; i < root["collectives"].size(); ++i)
    if (!Collective(root["collectives"][i], "/collectives/" + std::to_string(i), &p.collectives.emplace_back()))
      return std::nullopt;
  for (size_t i = 0; i < root["attributes"].size(); ++i) {
    const json& a = root["attributes"][i];
    std::string at = "/attributes/" + std::to_string(i);
    Attribute& attr = p.attributes.emplace_back();
    int name = 0;
    if (!Object(a, at, {"module", "name", "value", "global"}) || !String(a["module"], at + "/module", &attr.module, true) ||
        !OneOf(a["name"], at + "/name", {"num_heads", "num_key_value_heads"}, &name) ||
        !Int(a["value"], at + "/value", 0, limits::kMaxDimension, &attr.value) ||
        !Int(a["global"], at + "/global", 0, limits::kMaxDimension, &attr.global))
      return std::nullopt;
    attr.name = a["name"].get<std::string>();
  }
  if (!Summary(root["summary"], "/summary", &p)) return std::nullopt;
  return p;
}

}  // namespace

std::optional<Program> ParseProgramJson(const std::string& path, const std::string& text, Diagnostics& diags) {
  int file = diags.sources().AddFile(path, text);
  if (!CheckJsonSyntax(file, text, diags)) return std::nullopt;
  // The syntax is known good, so parsing cannot throw; the reader checks each type before any get.
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    diags.Report(DiagId::kJsonSyntax, {file, 0, 0, 0}, {"the text is not one JSON value"});
    return std::nullopt;
  }
  return Reader(file, diags.sources().text(file), diags).Read(root);
}

std::optional<Program> ReadProgramJson(const std::string& path, Diagnostics& diags) {
  std::string text;
  if (!ReadTextFile(path, &text, diags)) return std::nullopt;
  return ParseProgramJson(path, text, diags);
}

}  // namespace tpc
