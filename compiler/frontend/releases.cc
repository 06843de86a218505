// The transformers release table: plans/transformers_releases.yaml, compiled in. It is bundled
// data validated by schemas/releases.schema.json (tests/e2e/validate_plans.py), so a malformed
// row is a build-time bug, not user input: a field it lacks keeps RuntimeRelease's default.
#include "frontend/releases.h"

#include <tuple>
#include <yaml-cpp/yaml.h>

#include "frontend/embedded_files.h"

namespace tpc {
namespace {

using Version = std::tuple<int, int, int>;

// "5", "5.7" or "5.7.0": missing parts are -1 (meaning "any"); nullopt when not digits and dots.
std::optional<Version> ParseVersion(const std::string& s) {
  int parts[3] = {-1, -1, -1};
  size_t i = 0;
  for (int k = 0; k < 3; ++k) {
    size_t start = i;
    long v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 6) v = v * 10 + (s[i++] - '0');
    if (i == start) return std::nullopt;
    parts[k] = static_cast<int>(v);
    if (i == s.size()) return Version{parts[0], parts[1], parts[2]};
    if (s[i++] != '.') return std::nullopt;
  }
  return std::nullopt;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

std::vector<RuntimeRelease> Load() {
  std::vector<RuntimeRelease> out;
  for (int i = 0; i < kReleaseFilesCount; ++i) {
    YAML::Node doc = YAML::Load(kReleaseFiles[i].text);
    for (const YAML::Node& row : doc["releases"]) {
      RuntimeRelease r;
      r.version = row["version"].as<std::string>();
      r.major = std::get<0>(ParseVersion(r.version).value_or(Version{0, 0, 0}));
      r.plans = row["plans"].as<std::string>();
      r.uneven_splits = row["uneven_splits"].as<std::string>() == "pad";
      if (row["uneven_reason"]) r.uneven_reason = row["uneven_reason"].as<std::string>();
      r.embedding_offset_own_rows = row["embedding_vocab_offset"].as<std::string>() == "own_rows";
      r.injects_embedding_rowwise = row["injects_embedding_rowwise"].as<bool>();
      out.push_back(std::move(r));
    }
  }
  // What every row's notes say about the others.
  std::vector<std::string> uneven_fail, offset_wrong;
  std::string uneven_from, offset_from;
  for (const RuntimeRelease& r : out) {
    if (r.uneven_splits && uneven_from.empty()) uneven_from = r.version;
    if (!r.uneven_splits && r.major >= 5) uneven_fail.push_back(r.version);
    if (!r.embedding_offset_own_rows && r.major >= 5 && offset_from.empty()) offset_from = r.version;
    if (r.embedding_offset_own_rows) offset_wrong.push_back(r.version);
  }
  for (RuntimeRelease& r : out) {
    r.uneven_runs_from = uneven_from;
    r.uneven_fails_in = Join(uneven_fail);
    r.offset_right_from = offset_from;
    r.offset_wrong_in = Join(offset_wrong);
  }
  return out;
}

}  // namespace

const std::vector<RuntimeRelease>& TransformersReleases() {
  static const std::vector<RuntimeRelease> releases = Load();
  return releases;
}

const RuntimeRelease& NewestTransformersRelease() { return TransformersReleases().back(); }

std::optional<RuntimeRelease> FindTransformersRelease(const std::string& spec, std::string* why) {
  std::optional<Version> want = ParseVersion(spec);
  if (!want) {
    *why = "--transformers takes a version such as 5, 5.7 or 5.24.0, got '" + spec + "'";
    return std::nullopt;
  }
  auto [major, minor, patch] = *want;
  const RuntimeRelease* best = nullptr;
  for (const RuntimeRelease& r : TransformersReleases()) {
    Version v = ParseVersion(r.version).value_or(Version{0, 0, 0});
    if (std::get<0>(v) != major) continue;
    if (minor >= 0 && (std::get<1>(v) > minor || (std::get<1>(v) == minor && patch >= 0 && std::get<2>(v) > patch)))
      continue;
    best = &r;  // the table is oldest first: the last that fits is the newest at or below
  }
  if (!best) {
    std::vector<std::string> known;
    for (const RuntimeRelease& r : TransformersReleases()) known.push_back(r.version);
    *why = "--transformers " + spec + ": tpc knows no transformers release at or below it in its major version; known: " +
           Join(known);
    return std::nullopt;
  }
  return *best;
}

}  // namespace tpc
