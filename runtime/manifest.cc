#include "runtime/manifest.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tpc {

using nlohmann::ordered_json;

std::string RankFileName(int r) { return "rank" + std::to_string(r) + ".safetensors"; }

bool ReadManifest(const std::string& path, Manifest* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  try {
    if (!j.is_object() || j.value("format", "") != "tpc-shards" || j.value("version", 0) != 1) return false;
    *out = {};
    out->program_sha256 = j.at("program_sha256").get<std::string>();
    out->tp = j.at("tp").get<int>();
    for (const auto& r : j.at("ranks"))
      out->ranks.push_back({r.at("rank").get<int>(), r.at("file").get<std::string>(), r.at("bytes").get<uint64_t>(),
                            r.at("sha256").get<std::string>()});
  } catch (const nlohmann::json::exception&) {
    return false;  // a manifest of another shape: nothing is reused, everything is written again
  }
  return true;
}

std::string ManifestJson(const Program& program, const Manifest& m) {
  ordered_json j;
  j["format"] = "tpc-shards";
  j["version"] = 1;
  j["program_sha256"] = m.program_sha256;
  j["tp"] = m.tp;
  j["ranks"] = ordered_json::array();
  for (const ManifestRank& r : m.ranks)
    j["ranks"].push_back({{"rank", r.rank}, {"file", r.file}, {"bytes", r.bytes}, {"sha256", r.sha256}});
  j["tensors"] = ordered_json::array();
  for (const ProgramParam& e : program.params) {
    if (e.kind == EntryKind::kLora || e.source.empty()) continue;
    ordered_json t;
    t["name"] = e.name;
    t["source"] = e.source;
    t["dtype"] = e.dtype;
    t["global_shape"] = e.global_shape;
    t["placement"] = ToString(e.placement);
    t["shard_dim"] = e.placement.kind == Placement::kShard ? ordered_json(e.placement.dim) : ordered_json(nullptr);
    if (!e.owners.empty()) t["owners"] = e.owners;
    ordered_json shapes = ordered_json::array();
    for (int r = 0; r < program.tp; ++r)
      shapes.push_back(e.HeldBy(r) ? ordered_json(e.LocalShape(r)) : ordered_json(nullptr));
    t["local_shapes"] = std::move(shapes);
    j["tensors"].push_back(std::move(t));
  }
  return j.dump(2) + "\n";
}

}  // namespace tpc
