// Reads program.json back, checking everything a runtime relies on before it allocates or loads a
// byte: the first bad field stops the reader with its JSON pointer ("/parameters/3/slices/1/0").
// This file reads the top level, the inputs, collectives and summary; program_json_fields.cc the
// parameter entries.
#include <algorithm>

#include "ir/program_json.h"
#include "ir/program_json_reader.h"
#include "support/json_text.h"
#include "support/limits.h"
#include "support/text_file.h"

namespace tpc {
namespace program_json {

// A file's path, its hash under `hash_key` and its size.
bool Reader::FileFields(const json& j, const std::string& at, const char* hash_key, InputFile* out) {
  return String(j["path"], at + "/path", &out->path) && Sha256(j[hash_key], at + "/" + hash_key, &out->sha256) &&
         Int(j["bytes"], at + "/bytes", 0, kInt64Max, &out->bytes);
}

bool Reader::Sha256(const json& j, const std::string& at, std::string* out) {
  if (j.is_null()) return out->clear(), true;
  const std::string* s = j.is_string() ? &j.get_ref<const std::string&>() : nullptr;
  if (!s || s->size() != 64 || s->find_first_not_of("0123456789abcdef") != std::string::npos)
    return Fail(at, "is " + Describe(j) + ", expected a SHA-256 as 64 lowercase hex digits, or null");
  *out = *s;
  return true;
}

bool Reader::Inputs(const json& j, const std::string& at, Program* p) {
  ProgramInputs& in = p->inputs;
  if (!Object(j, at, {"tpc_version", "config", "plan", "checkpoint"}) ||
      !String(j["tpc_version"], at + "/tpc_version", &in.tpc_version) ||
      !Object(j["config"], at + "/config", {"path", "sha256", "bytes"}) ||
      !FileFields(j["config"], at + "/config", "sha256", &in.config))
    return false;
  const json& plan = j["plan"];
  if (!plan.is_null() && (!Object(plan, at + "/plan", {"path", "sha256", "bytes", "bundled"}) ||
                          !FileFields(plan, at + "/plan", "sha256", &in.plan) ||
                          !String(plan["path"], at + "/plan/path", &in.plan.path, true) ||
                          !Bool(plan["bundled"], at + "/plan/bundled", &in.bundled_plan)))
    return false;
  const json& ckpt = j["checkpoint"];
  if (ckpt.is_null() != (p->naming == Naming::kModuleTree))
    return Fail(at + "/checkpoint", "is " + Describe(ckpt) + ", but names is '" + NamingName(p->naming) +
                                        "': a checkpoint-named program has a checkpoint, a module-tree one none");
  if (ckpt.is_null()) return true;
  if (!Object(ckpt, at + "/checkpoint", {"dir", "index", "files"}) ||
      !String(ckpt["dir"], at + "/checkpoint/dir", &in.checkpoint_dir, true))
    return false;
  const json& index = ckpt["index"];
  if (!index.is_null() && (!Object(index, at + "/checkpoint/index", {"path", "sha256", "bytes"}) ||
                           !FileFields(index, at + "/checkpoint/index", "sha256", &in.index) ||
                           !String(index["path"], at + "/checkpoint/index/path", &in.index.path, true)))
    return false;
  const json& files = ckpt["files"];
  if (!files.is_array()) return Fail(at + "/checkpoint/files", "is " + Describe(files) + ", expected an array");
  for (size_t i = 0; i < files.size(); ++i) {
    std::string file_at = at + "/checkpoint/files/" + std::to_string(i);
    InputFile& f = in.shards.emplace_back();
    if (!Object(files[i], file_at, {"path", "bytes", "header_sha256"}) ||
        !FileFields(files[i], file_at, "header_sha256", &f) || !String(files[i]["path"], file_at + "/path", &f.path, true))
      return false;
  }
  return true;
}

bool Reader::Collective(const json& j, const std::string& at, tpc::Collective* c) {
  static const std::vector<std::string> kKinds = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"};
  static const std::vector<std::string> kLayouts = {"replicate", "shard(-1)", "shard(1)", "partial"};
  if (!Object(j, at, {"kind", "after", "before", "layer", "from", "to", "elements_per_token", "bytes_per_token",
                      "send_bytes_per_token", "ring_steps"},
              {"padded_elements_per_token"}))
    return false;
  return
         OneOf(j["kind"], at + "/kind", kKinds, &c->kind) && String(j["after"], at + "/after", &c->after, true) &&
         String(j["before"], at + "/before", &c->before, true) && Layer(j["layer"], at + "/layer", &c->layer) &&
         OneOf(j["from"], at + "/from", kLayouts, &c->from) && OneOf(j["to"], at + "/to", kLayouts, &c->to) &&
         Int(j["elements_per_token"], at + "/elements_per_token", 0, kInt64Max, &c->elements_per_token) &&
         Int(j["bytes_per_token"], at + "/bytes_per_token", 0, kInt64Max, &c->bytes_per_token) &&
         Number(j["send_bytes_per_token"], at + "/send_bytes_per_token", 0, false, &c->send_bytes_per_token) &&
         Int(j["ring_steps"], at + "/ring_steps", 0, limits::kMaxTp, &c->steps) &&
         (!j.contains("padded_elements_per_token") ||
          Int(j["padded_elements_per_token"], at + "/padded_elements_per_token", c->elements_per_token + 1, kInt64Max,
              &c->padded_elements_per_token));
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
  if (root["version"] == 1)
    return Fail("/version", "is 1: a program from an older tpc (before checkpoint-aware programs); compile it again "
                            "with this tpc"),
           std::nullopt;
  if (root["version"] != kProgramVersion) {
    diags_.Report(DiagId::kUnsupportedProgramVersion, LocateJsonPointer(file_, text_, "/version"),
                  {Describe(root["version"]), std::to_string(kProgramVersion)});
    return std::nullopt;
  }
  if (!Object(root, "", {"format", "version", "names", "inputs", "model_type", "dtype", "tp", "dialect", "sequence_parallel",
                         "kv_replication", "lora", "link", "parameters", "collectives", "attributes", "summary"}) ||
      !String(root["model_type"], "/model_type", &p.model_type, true) || !String(root["dtype"], "/dtype", &p.dtype))
    return std::nullopt;
  if (!OneOf(root["names"], "/names", {NamingName(Naming::kModuleTree), NamingName(Naming::kCheckpoint)}, &p.naming) ||
      !Inputs(root["inputs"], "/inputs", &p))
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
  if (!Entries(p)) return std::nullopt;
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

}  // namespace program_json

std::optional<Program> ParseProgramJson(const std::string& path, const std::string& text, Diagnostics& diags) {
  int file = diags.sources().AddFile(path, text);
  if (!CheckJsonSyntax(file, text, diags)) return std::nullopt;
  // The syntax is known good, so parsing cannot throw; the reader checks each type before any get.
  nlohmann::json root = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    diags.Report(DiagId::kJsonSyntax, {file, 0, 0, 0}, {"the text is not one JSON value"});
    return std::nullopt;
  }
  return program_json::Reader(file, diags.sources().text(file), diags).Read(root);
}

std::optional<Program> ReadProgramJson(const std::string& path, Diagnostics& diags) {
  std::string text;
  if (!ReadTextFile(path, &text, diags)) return std::nullopt;
  return ParseProgramJson(path, text, diags);
}

}  // namespace tpc
