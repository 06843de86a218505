// program.json. Field names and their meaning are fixed by schemas/program.schema.json; a change
// here is a change of that schema and of kProgramVersion.
#include "ir/program_json.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace tpc {
namespace {

using nlohmann::ordered_json;

ordered_json OrNull(const std::string& s) { return s.empty() ? ordered_json(nullptr) : ordered_json(s); }

ordered_json FileJson(const InputFile& f, const char* hash_key = "sha256") {
  return {{"path", f.path}, {hash_key, OrNull(f.sha256)}, {"bytes", f.bytes}};
}

ordered_json InputsJson(const ProgramInputs& in) {
  ordered_json j;
  j["tpc_version"] = in.tpc_version;
  j["config"] = FileJson(in.config);
  ordered_json plan = nullptr;
  if (!in.plan.path.empty()) {
    plan = FileJson(in.plan);
    plan["bundled"] = in.bundled_plan;
  }
  j["plan"] = std::move(plan);
  ordered_json checkpoint = nullptr;
  if (!in.checkpoint_dir.empty()) {
    checkpoint["dir"] = in.checkpoint_dir;
    checkpoint["index"] = in.index.path.empty() ? ordered_json(nullptr) : FileJson(in.index);
    ordered_json files = ordered_json::array();
    for (const InputFile& f : in.shards)
      files.push_back({{"path", f.path}, {"bytes", f.bytes}, {"header_sha256", OrNull(f.sha256)}});
    checkpoint["files"] = std::move(files);
  }
  j["checkpoint"] = std::move(checkpoint);
  return j;
}

ordered_json ParamJson(const ProgramParam& param) {
  ordered_json j;
  j["name"] = param.name;
  j["file"] = OrNull(param.file);
  j["source"] = OrNull(param.source);
  j["kind"] = EntryKindName(param.kind);
  j["tree"] = OrNull(param.tree);
  if (param.expert >= 0) j["expert"] = param.expert;
  if (param.kind == EntryKind::kScale) {
    j["scales"] = param.scales;
    j["block"] = param.block;
  }
  if (param.kind == EntryKind::kExtra) j["what"] = param.what;
  if (!param.adapter.empty()) j["adapter"] = param.adapter;
  j["module"] = OrNull(param.module);
  j["layer"] = param.layer >= 0 ? ordered_json(param.layer) : ordered_json(nullptr);
  j["dtype"] = param.dtype;
  j["global_shape"] = param.global_shape;
  j["placement"] = ToString(param.placement);
  j["shard_dim"] = param.placement.kind == Placement::kShard ? ordered_json(param.placement.dim) : ordered_json(nullptr);
  j["local_shape"] = param.LocalShape(param.owners.empty() ? 0 : param.owners[0]);
  if (!param.owners.empty()) j["owners"] = param.owners;
  if (param.placement.kind == Placement::kShard) {
    if (param.replicas > 1) j["replicas"] = param.replicas;
    ordered_json ranks = ordered_json::array();
    for (const std::vector<Slice>& slices : param.ranks) {
      ordered_json r = ordered_json::array();
      for (const Slice& s : slices) {
        ordered_json sj;
        if (!s.segment.empty()) sj["segment"] = s.segment;
        sj["start"] = s.start;
        sj["length"] = s.length;
        r.push_back(std::move(sj));
      }
      ranks.push_back(std::move(r));
    }
    j["slices"] = std::move(ranks);
  }
  if (param.bias != BiasJoin::kNone) j["bias"] = BiasJoinName(param.bias);
  if (!param.vocab_offsets.empty()) j["vocab_offsets"] = param.vocab_offsets;
  return j;
}

ordered_json CollectiveJson(const Collective& c) {
  ordered_json j;
  j["kind"] = CollectiveName(c.kind);
  j["after"] = c.after;
  j["before"] = c.before;
  j["layer"] = c.layer >= 0 ? ordered_json(c.layer) : ordered_json(nullptr);
  j["from"] = LayoutName(c.from);
  j["to"] = LayoutName(c.to);
  j["elements_per_token"] = c.elements_per_token;
  if (c.padded_elements_per_token > 0) j["padded_elements_per_token"] = c.padded_elements_per_token;
  j["bytes_per_token"] = c.bytes_per_token;
  j["send_bytes_per_token"] = c.send_bytes_per_token;
  j["ring_steps"] = c.steps;
  return j;
}

}  // namespace

std::string EmitProgramJson(const Program& p) {
  ordered_json j;
  j["format"] = "tpc-program";
  j["version"] = kProgramVersion;
  j["names"] = NamingName(p.naming);
  j["inputs"] = InputsJson(p.inputs);
  j["model_type"] = p.model_type;
  j["dtype"] = p.dtype;
  j["tp"] = p.tp;
  j["dialect"] = p.dialect;
  j["sequence_parallel"] = p.sequence_parallel;
  j["kv_replication"] = p.kv_replication;
  j["lora"] = p.lora ? ordered_json({{"rank", p.lora_rank}}) : ordered_json(nullptr);
  j["link"] = {{"gbps", p.link.gbps},
               {"launch_us", p.link.launch_us},
               {"hop_us", p.link.hop_us},
               {"tokens", p.link.tokens}};
  ordered_json params = ordered_json::array();
  for (const ProgramParam& param : p.params) params.push_back(ParamJson(param));
  j["parameters"] = std::move(params);
  ordered_json colls = ordered_json::array();
  for (const Collective& c : p.collectives) colls.push_back(CollectiveJson(c));
  j["collectives"] = std::move(colls);
  ordered_json attrs = ordered_json::array();
  for (const Attribute& a : p.attributes)
    attrs.push_back({{"module", a.module}, {"name", a.name}, {"value", a.value}, {"global", a.global}});
  j["attributes"] = std::move(attrs);

  const ProgramSummary& s = p.summary;
  ordered_json counts = ordered_json::object();
  for (CollectiveKind k : {CollectiveKind::kAllReduce, CollectiveKind::kAllGather, CollectiveKind::kReduceScatter,
                           CollectiveKind::kAllToAll})
    counts[CollectiveName(k)] = 0;
  for (const Collective& c : p.collectives) counts[CollectiveName(c.kind)] = counts[CollectiveName(c.kind)].get<int>() + 1;
  int64_t max_rank = 0;
  for (int64_t b : s.param_bytes_per_rank) max_rank = std::max(max_rank, b);
  j["summary"] = {{"parameters", p.params.size()},
                  {"param_bytes_total", s.param_bytes_total},
                  {"param_bytes_per_rank", s.param_bytes_per_rank},
                  {"max_param_bytes_per_rank", max_rank},
                  {"collectives", counts},
                  {"traffic_bytes_per_token", s.traffic_bytes_per_token},
                  {"layer_traffic_bytes_per_token", s.layer_traffic_bytes_per_token},
                  {"send_bytes_per_token", s.send_bytes_per_token},
                  {"comm_us_per_token", s.comm_us_per_token}};
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";  // plan text may be bad UTF-8
}

}  // namespace tpc
