// program.json's parameter entries, and the checks every field of the file shares. An entry is
// checked alone (kind, shape, placement, owners, slices), then against the others (Entries): names
// are unique, scales and tied sources name entries, and a checkpoint-named entry has its file.
#include <algorithm>
#include <map>

#include "ir/program_json_reader.h"
#include "support/json_text.h"
#include "support/limits.h"
#include "support/safetensors_header.h"
#include "support/strings.h"

namespace tpc::program_json {
std::string Describe(const json& j) {
  if (j.is_number_integer() || j.is_number_float() || j.is_boolean()) return j.dump();
  if (j.is_string())
    return "'" + Shorten(j.get_ref<const std::string&>(), limits::kMaxQuotedValue) + "'";
  return j.is_null() ? "null" : std::string("an ") + j.type_name();  // an object, an array
}

bool Reader::Fail(const std::string& at, const std::string& problem) {
  std::string what = at.empty() ? "the program" : "program field '" + at + "'";
  diags_.Report(DiagId::kBadProgramField, LocateJsonPointer(file_, text_, at), {what, problem});
  return false;
}

bool Reader::Object(const json& j, const std::string& at, Keys keys, Keys optional) {
  if (!j.is_object()) return Fail(at, "is " + Describe(j) + ", expected an object");
  for (const auto& item : j.items()) {
    const std::string& key =
        item.key();  // a plain name: clang 14 cannot capture a structured binding
    auto is = [&](const char* k) { return key == k; };
    if (std::none_of(keys.begin(), keys.end(), is) &&
        std::none_of(optional.begin(), optional.end(), is))
      return Fail(at + "/" + key,
                  "is not part of program version " + std::to_string(kProgramVersion));
  }
  for (const char* key : keys)
    if (!j.contains(key)) return Fail(at + "/" + key, "is missing");
  return true;
}

bool Reader::Int(const json& j, const std::string& at, int64_t lo, int64_t hi, int64_t* out) {
  bool integer =
      j.is_number_integer() && !(j.is_number_unsigned() && j.get<uint64_t>() > uint64_t{kInt64Max});
  if (!integer || j.get<int64_t>() < lo || j.get<int64_t>() > hi)
    return Fail(at, "is " + Describe(j) + ", expected an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
  *out = j.get<int64_t>();
  return true;
}

bool Reader::Layer(const json& j, const std::string& at, int* out) {
  if (j.is_null()) return *out = -1, true;
  return Int(j, at, 0, limits::kMaxLayers, out);
}

bool Reader::Number(const json& j, const std::string& at, double lo, bool open, double* out) {
  if (!j.is_number() || (open ? j.get<double>() <= lo : j.get<double>() < lo))
    return Fail(at, "is " + Describe(j) + ", expected a number " +
                        (open ? "over " : "of at least ") + json(lo).dump());
  *out = j.get<double>();
  return true;
}

bool Reader::String(const json& j, const std::string& at, std::string* out, bool nonempty) {
  if (!j.is_string() || (nonempty && j.get_ref<const std::string&>().empty()))
    return Fail(at,
                "is " + Describe(j) + ", expected a" + (nonempty ? " non-empty" : "") + " string");
  *out = j.get<std::string>();
  return true;
}

bool Reader::StringOrNull(const json& j, const std::string& at, std::string* out) {
  if (j.is_null()) return out->clear(), true;
  if (!j.is_string() || j.get_ref<const std::string&>().empty())
    return Fail(at, "is " + Describe(j) + ", expected a non-empty string or null");
  *out = j.get<std::string>();
  return true;
}

bool Reader::Bool(const json& j, const std::string& at, bool* out) {
  if (!j.is_boolean()) return Fail(at, "is " + Describe(j) + ", expected true or false");
  *out = j.get<bool>();
  return true;
}

bool Reader::OneOfIndex(const json& j, const std::string& at, const std::vector<std::string>& names,
                        int* out) {
  auto it =
      j.is_string() ? std::find(names.begin(), names.end(), j.get<std::string>()) : names.end();
  if (it == names.end())
    return Fail(at, "is " + Describe(j) + ", expected one of " + Join(names, ", "));
  *out = static_cast<int>(it - names.begin());
  return true;
}

bool Reader::Shape(const json& j, const std::string& at, std::vector<int64_t>* out) {
  if (!j.is_array()) return Fail(at, "is " + Describe(j) + ", expected an array of sizes");
  out->resize(j.size());
  int64_t elements = 1;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!Int(j[i], at + "/" + std::to_string(i), 0, limits::kMaxDimension, &(*out)[i]))
      return false;
    int64_t d = (*out)[i];
    if (d > 0 && elements > limits::kMaxModelElements / d)
      return Fail(at, "has more than " + std::to_string(limits::kMaxModelElements) +
                          " elements, over tpc's limit");
    elements *= d;
  }
  return true;
}

bool Reader::Param(const json& j, const std::string& at, const Program& p, ProgramParam* out) {
  static const std::vector<std::string> kKinds = {
      EntryKindName(EntryKind::kParam), EntryKindName(EntryKind::kScale),
      EntryKindName(EntryKind::kExtra), EntryKindName(EntryKind::kLora)};
  if (!Object(j, at,
              {"name", "file", "source", "kind", "tree", "module", "layer", "dtype", "global_shape",
               "placement", "shard_dim", "local_shape"},
              {"expert", "scales", "block", "what", "adapter", "owners", "replicas", "slices", "bias",
               "vocab_offsets"}))
    return false;
  if (!String(j["name"], at + "/name", &out->name, true) ||
      !StringOrNull(j["file"], at + "/file", &out->file) ||
      !StringOrNull(j["source"], at + "/source", &out->source) ||
      !OneOf(j["kind"], at + "/kind", kKinds, &out->kind) ||
      !StringOrNull(j["tree"], at + "/tree", &out->tree) || !KindFields(j, at, out) ||
      !StringOrNull(j["module"], at + "/module", &out->module) ||
      !Layer(j["layer"], at + "/layer", &out->layer) ||
      !String(j["dtype"], at + "/dtype", &out->dtype))
    return false;
  if (j.contains("expert") &&
      !Int(j["expert"], at + "/expert", 0, limits::kMaxDimension, &out->expert))
    return false;
  if (SafetensorsDtypeBits(out->dtype) == 0)
    return Fail(at + "/dtype", "is " + Describe(j["dtype"]) +
                                   ", not a safetensors dtype (BF16, F16, F32, F8_E4M3, ...)");
  if (!Shape(j["global_shape"], at + "/global_shape", &out->global_shape)) return false;
  if (j.contains("owners") && !Owners(j["owners"], at + "/owners", p.tp, &out->owners))
    return false;
  if (!Placed(j, at, p, out) || !Joins(j, at, p, out)) return false;
  std::vector<int64_t> local;
  int holder = out->owners.empty() ? 0 : out->owners[0];
  if (!Shape(j["local_shape"], at + "/local_shape", &local)) return false;
  if (local != out->LocalShape(holder))
    return Fail(at + "/local_shape", "is " + ShapeText(local) + ", but rank " +
                                         std::to_string(holder) + " holds " +
                                         ShapeText(out->LocalShape(holder)));
  return true;
}

// bias (how a bias joins a row split's partial sums) and vocab_offsets (one per rank, a sharded
// embedding only).
bool Reader::Joins(const json& j, const std::string& at, const Program& p, ProgramParam* out) {
  if (j.contains("bias")) {
    static const std::vector<std::string> kJoins = {BiasJoinName(BiasJoin::kOnce), BiasJoinName(BiasJoin::kEveryRank),
                                                    BiasJoinName(BiasJoin::kDivided)};
    int k = 0;
    if (!OneOf(j["bias"], at + "/bias", kJoins, &k)) return false;
    out->bias = static_cast<BiasJoin>(k + 1);
  }
  if (!j.contains("vocab_offsets")) return true;
  const json& offsets = j["vocab_offsets"];
  if (out->placement != Placement{Placement::kShard, 0} || !offsets.is_array() ||
      offsets.size() != static_cast<size_t>(p.tp))
    return Fail(at + "/vocab_offsets", "is " + Describe(offsets) + ", expected one token id per rank (" +
                                           std::to_string(p.tp) + ") on an entry sharded on dim 0");
  out->vocab_offsets.resize(offsets.size());
  for (size_t r = 0; r < offsets.size(); ++r)
    if (!Int(offsets[r], at + "/vocab_offsets/" + std::to_string(r), 0, limits::kMaxDimension, &out->vocab_offsets[r]))
      return false;
  return true;
}

// The fields that belong to one kind only: scales and block to a scale, what to an extra, adapter
// (and no source) to a LoRA adapter.
bool Reader::KindFields(const json& j, const std::string& at, ProgramParam* out) {
  const std::string kind = std::string("a kind '") + EntryKindName(out->kind) + "' entry";
  auto only = [&](const char* key, EntryKind k) {
    if (out->kind == k && !j.contains(key))
      return Fail(at + "/" + key, std::string("is missing, and ") + kind + " needs one");
    if (out->kind != k && j.contains(key))
      return Fail(at + "/" + key,
                  "is given for " + kind + "; only kind '" + EntryKindName(k) + "' has one");
    return true;
  };
  if (!only("scales", EntryKind::kScale) || !only("block", EntryKind::kScale) ||
      !only("what", EntryKind::kExtra) || !only("adapter", EntryKind::kLora))
    return false;
  if (out->kind == EntryKind::kScale) {
    const json& block = j["block"];
    if (!String(j["scales"], at + "/scales", &out->scales, true)) return false;
    if (!block.is_array() || block.size() != 2)
      return Fail(at + "/block",
                  "is " + Describe(block) + ", expected the quantisation block [rows, cols]");
    out->block.resize(2);
    for (size_t i = 0; i < 2; ++i)
      if (!Int(block[i], at + "/block/" + std::to_string(i), 1, limits::kMaxDimension,
               &out->block[i]))
        return false;
  }
  if (out->kind == EntryKind::kExtra && !String(j["what"], at + "/what", &out->what, true))
    return false;
  if (out->kind == EntryKind::kLora) {
    int adapter = 0;
    if (!OneOf(j["adapter"], at + "/adapter", {"lora_A", "lora_B"}, &adapter)) return false;
    out->adapter = j["adapter"].get<std::string>();
  }
  if ((out->kind == EntryKind::kLora) != out->source.empty())
    return Fail(at + "/source",
                "is " + Describe(j["source"]) + ", but only a LoRA adapter reads no tensor");
  return true;
}

// placement, shard_dim, replicas and slices.
bool Reader::Placed(const json& j, const std::string& at, const Program& p, ProgramParam* out) {
  const json& placement = j["placement"];
  std::string text = placement.is_string() ? placement.get<std::string>() : "";
  if (text == "replicate") {
    out->placement = {Placement::kReplicate, 0};
    if (!j["shard_dim"].is_null())
      return Fail(at + "/shard_dim",
                  "is " + Describe(j["shard_dim"]) + ", expected null for a replicated parameter");
    for (const char* key : {"replicas", "slices"})
      if (j.contains(key)) return Fail(at + "/" + key, "is given for a replicated parameter");
    return true;
  }
  int dims = static_cast<int>(out->global_shape.size());
  size_t close = text.size() - 1;
  bool shard = text.size() > 7 && text.compare(0, 6, "shard(") == 0 && text[close] == ')' &&
               text.size() < 14 && text.find_first_not_of("0123456789", 6) == close;
  int dim = shard ? std::stoi(text.substr(6)) : -1;
  if (!shard || dim >= dims)
    return Fail(at + "/placement", "is " + Describe(placement) +
                                       ", expected replicate or shard(N) with N below " +
                                       std::to_string(dims) + ", the tensor's number of dims");
  out->placement = {Placement::kShard, dim};
  int64_t shard_dim = 0;
  if (!Int(j["shard_dim"], at + "/shard_dim", dim, dim, &shard_dim)) return false;
  if (j.contains("replicas") && !Int(j["replicas"], at + "/replicas", 2, p.tp, &out->replicas))
    return false;
  if (!j.contains("slices"))
    return Fail(at + "/slices", "is missing, and a sharded parameter needs one list per rank");
  return Slices(j["slices"], at + "/slices", p, out);
}

// The ranks holding an entry, each once and in increasing order.
bool Reader::Owners(const json& j, const std::string& at, int tp, std::vector<int>* out) {
  if (!j.is_array() || j.empty())
    return Fail(at, "is " + Describe(j) +
                        ", expected a non-empty array of ranks (omitted when every rank holds it)");
  out->resize(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    std::string rank_at = at + "/" + std::to_string(i);
    if (!Int(j[i], rank_at, 0, tp - 1, &(*out)[i])) return false;
    if (i > 0 && (*out)[i] <= (*out)[i - 1])
      return Fail(rank_at, "is " + std::to_string((*out)[i]) +
                               ", but owners lists each rank once, in increasing order");
  }
  return true;
}

// One list of row ranges per rank, each inside the sharded dim, together covering every row
// `replicas` times: what the runtime slices out of the checkpoint. A rank outside owners has none.
bool Reader::Slices(const json& j, const std::string& at, const Program& p, ProgramParam* out) {
  if (!j.is_array() || j.size() != static_cast<size_t>(p.tp))
    return Fail(at, "is " + Describe(j) +
                        (j.is_array() ? " of " + std::to_string(j.size()) : std::string()) +
                        ", expected one list of slices per rank (" + std::to_string(p.tp) + ")");
  int64_t n = out->global_shape[out->placement.dim];
  std::map<int64_t, int64_t> events;  // row -> change of coverage there
  out->ranks.assign(j.size(), {});
  for (size_t r = 0; r < j.size(); ++r) {
    std::string rank_at = at + "/" + std::to_string(r);
    if (!j[r].is_array())
      return Fail(rank_at, "is " + Describe(j[r]) + ", expected an array of slices");
    for (size_t i = 0; i < j[r].size(); ++i) {
      const json& s = j[r][i];
      std::string slice_at = rank_at + "/" + std::to_string(i);
      Slice slice;
      if (!Object(s, slice_at, {"start", "length"}, {"segment"})) return false;
      if (s.contains("segment") &&
          !String(s["segment"], slice_at + "/segment", &slice.segment, true))
        return false;
      if (!Int(s["start"], slice_at + "/start", 0, n, &slice.start) ||
          !Int(s["length"], slice_at + "/length", 0, n - slice.start, &slice.length))
        return false;
      if (slice.length > 0 && !out->HeldBy(static_cast<int>(r)))
        return Fail(slice_at, "gives rank " + std::to_string(r) +
                                  " rows, but the rank is not in owners, so it holds nothing");
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
    return Fail(at, "do not cover rows [0, " + std::to_string(n) + ") of dim " +
                        std::to_string(out->placement.dim) + " exactly " +
                        std::to_string(out->replicas) + " time(s): row " + std::to_string(pos) +
                        " is covered " + std::to_string(depth) + " time(s)");
  return true;
}

// What one entry says about others: unique names, scales and tied sources that exist, and files
// exactly where the naming needs them.
bool Reader::Entries(const Program& p) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < p.params.size(); ++i) {
    auto [it, added] = index.emplace(p.params[i].name, i);
    if (!added)
      return Fail("/parameters/" + std::to_string(i) + "/name",
                  "is '" + Shorten(p.params[i].name, limits::kMaxQuotedValue) +
                      "', already the name of /parameters/" + std::to_string(it->second));
  }
  auto named = [&](const std::string& name) {
    return index.count(name) ? &p.params[index[name]] : nullptr;
  };
  for (size_t i = 0; i < p.params.size(); ++i) {
    const ProgramParam& e = p.params[i];
    std::string at = "/parameters/" + std::to_string(i);
    auto quoted = [](const std::string& s) {
      return "'" + Shorten(s, limits::kMaxQuotedValue) + "'";
    };
    if (e.kind == EntryKind::kScale && !named(e.scales))
      return Fail(at + "/scales",
                  "is " + quoted(e.scales) + ", which names no entry of the program");
    if (p.naming == Naming::kModuleTree) {
      if (!e.file.empty())
        return Fail(at + "/file",
                    "is " + quoted(e.file) + ", but a module-tree program names no files");
      continue;
    }
    if (e.kind == EntryKind::kLora) {
      if (!e.file.empty())
        return Fail(at + "/file",
                    "is " + quoted(e.file) + ", but a LoRA adapter has no stored tensor");
    } else if (e.source == e.name) {
      if (e.file.empty())
        return Fail(at + "/file",
                    "is null, but a checkpoint entry needs the file holding its tensor");
    } else if (const ProgramParam* src = named(e.source); !src || src->file.empty()) {
      return Fail(at + "/source", "is " + quoted(e.source) + ", which names no entry with a file");
    }
  }
  return true;
}

}  // namespace tpc::program_json
