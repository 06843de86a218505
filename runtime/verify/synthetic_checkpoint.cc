// A config (optionally shrunk) and deterministic random weights, written as a checkpoint directory
// that the rest of tpc verify reads like any other.
#include "runtime/verify/synthetic_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "frontend/arch_template.h"
#include "frontend/model_loader.h"
#include "runtime/verify/random_weights.h"
#include "runtime/verify/shrink_config.h"
#include "support/diagnostics.h"
#include "support/source_manager.h"

namespace tpc::verify {
namespace {

namespace fs = std::filesystem;

bool ReadText(const fs::path& p, std::string* text, std::string* err) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return *err = p.string() + ": cannot be read", false;
  std::stringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  return true;
}

bool WriteText(const fs::path& p, const std::string& text, std::string* err) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  out.close();
  if (!out) return *err = p.string() + ": cannot be written", false;
  return true;
}

}  // namespace

bool WriteSyntheticCheckpoint(const std::string& model_path, const std::string& arch_dir, bool shrink, int tp,
                              uint64_t seed, const std::string& dir, std::string* summary, std::string* err) {
  fs::path config_path = fs::is_directory(model_path) ? fs::path(model_path) / "config.json" : fs::path(model_path);
  std::string text;
  if (!ReadText(config_path, &text, err)) return false;
  nlohmann::json config = nlohmann::json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return *err = config_path.string() + ": not a JSON object (tpc check names the place)", false;
  SourceManager sources;
  Diagnostics diags(sources);
  ArchRegistry registry;
  if (!registry.Load(arch_dir, diags)) return *err = "cannot load the architecture files", false;
  if (shrink) {
    nlohmann::json small;
    ShrinkReport report;
    if (!ShrinkConfig(config, tp, registry, &small, &report, err)) return *err = config_path.string() + ": " + *err, false;
    config = std::move(small);
  }
  config["torch_dtype"] = "float32";
  fs::path out_config = fs::path(dir) / "config.json";
  if (!WriteText(out_config, config.dump(2) + "\n", err)) return false;
  std::optional<ModelGraph> g = ParseModel(out_config.string(), config.dump(), registry, diags);
  if (!g) {
    for (const Diagnostic& d : diags.all()) return *err = config_path.string() + ": " + d.message, false;
    return *err = config_path.string() + ": cannot be loaded", false;
  }
  // safetensors: an 8-byte header length, the JSON header padded with spaces to 8 bytes, the data.
  std::vector<RandomParam> params = RandomParams(*g);
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t at = 0, count = 0;
  for (const RandomParam& p : params) {
    uint64_t n = 1;
    for (int64_t d : p.shape) n *= static_cast<uint64_t>(d);
    header[p.name] = {{"dtype", "F32"}, {"shape", p.shape}, {"data_offsets", {at, at + 4 * n}}};
    at += 4 * n;
    count += n;
  }
  std::string head = header.dump();
  head.append((8 - head.size() % 8) % 8, ' ');
  fs::path weights = fs::path(dir) / "model.safetensors";
  std::ofstream out(weights, std::ios::binary);
  uint64_t length = head.size();
  char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  out.write(le, 8);
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  std::vector<float> values;
  for (const RandomParam& p : params) {
    Box whole{std::vector<int64_t>(p.shape.size(), 0), p.shape};
    if (!FillBox(seed, p, whole, &values, err)) return false;
    out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
  }
  out.close();
  if (!out) return *err = weights.string() + ": cannot be written", false;
  *summary = std::to_string(params.size()) + " random tensors (" + std::to_string(count) + " parameters, seed " +
             std::to_string(seed) + ")" + (shrink ? ", config shrunk for tp " + std::to_string(tp) : "");
  return true;
}

}  // namespace tpc::verify
