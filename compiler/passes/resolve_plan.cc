// resolve-plan: matches every plan key to modules and parameters under the dialect's real rules,
// and reports keys that match nothing, keys the dialect can never apply, and keys overridden by
// later ones.
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {

// transformers 4.x: re.sub(r"\d+", "*", name) -- every digit run, even inside `fc1`.
std::string DigitRunsToStar(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(name[i]))) {
      out += '*';
      while (i + 1 < name.size() && std::isdigit(static_cast<unsigned char>(name[i + 1]))) ++i;
    } else {
      out += name[i];
    }
  }
  return out;
}

// torch parallelize_module: each key segment is an fnmatch pattern for exactly one name segment.
bool TorchMatches(const std::vector<std::string_view>& key, const std::vector<std::string_view>& name) {
  if (key.size() != name.size()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == name[i]) continue;
    if (key[i].find_first_of("*?[") == std::string_view::npos) return false;
    if (fnmatch(std::string(key[i]).c_str(), std::string(name[i]).c_str(), 0) != 0) return false;
  }
  return true;
}

}  // namespace

Resolution ResolvePlan(const Subject& s, Diagnostics& diags) {
  Resolution r;
  const ModelGraph& g = s.model;
  const std::vector<Module>& mods = g.modules();
  const size_t n_entries = s.plan.entries.size();
  r.module_entry.assign(mods.size(), -1);
  r.param_entry.resize(mods.size());
  for (size_t m = 0; m < mods.size(); ++m) r.param_entry[m].assign(mods[m].params.size(), -1);
  r.full_keys.resize(n_entries);
  r.entry_style.resize(n_entries);
  r.matches.assign(n_entries, {});

  for (size_t e = 0; e < n_entries; ++e) {
    const PlanEntry& pe = s.plan.entries[e];
    r.full_keys[e] = (pe.base_relative && !g.base_prefix.empty()) ? g.base_prefix + "." + pe.key : pe.key;
    r.entry_style[e] = FindStyle(s.opts.dialect, pe.style);
  }

  const Dialect dialect = s.opts.dialect;
  std::vector<bool> dead(n_entries, false);
  if (dialect == Dialect::kTorch) {
    std::unordered_map<size_t, std::vector<int>> by_depth;
    std::vector<std::vector<std::string_view>> segs(mods.size());
    for (size_t m = 0; m < mods.size(); ++m) {
      if (mods[m].is_virtual) continue;
      segs[m] = Split(mods[m].name, '.');
      by_depth[segs[m].size()].push_back(static_cast<int>(m));
    }
    for (size_t e = 0; e < n_entries; ++e) {
      std::vector<std::string_view> key = Split(r.full_keys[e], '.');
      for (int m : by_depth[key.size()])
        if (TorchMatches(key, segs[m])) r.matches[e].push_back({m, -1});
    }
  } else {
    // Both HF dialects generalise names and then look keys up exactly.
    std::unordered_map<std::string, std::vector<Match>> lookup;
    for (size_t m = 0; m < mods.size(); ++m) {
      if (mods[m].is_virtual) continue;
      const std::string& name = mods[m].name;
      if (dialect == Dialect::kHfV4) {  // the parameter's full name first, then its module's
        lookup[DigitRunsToStar(name)].push_back({static_cast<int>(m), -1});
        for (size_t p = 0; p < mods[m].params.size(); ++p)
          lookup[DigitRunsToStar(name + "." + mods[m].params[p].name)].push_back({static_cast<int>(m), static_cast<int>(p)});
        continue;
      }
      std::string generic = GenericName(name);
      lookup[generic].push_back({static_cast<int>(m), -1});
      for (size_t p = 0; p < mods[m].params.size(); ++p)
        lookup[generic + "." + mods[m].params[p].name].push_back({static_cast<int>(m), static_cast<int>(p)});
    }
    for (size_t e = 0; e < n_entries; ++e) {
      const std::string& key = r.full_keys[e];
      if (dialect == Dialect::kHfV4 && std::any_of(key.begin(), key.end(), ::isdigit)) {
        dead[e] = true;
        continue;
      }
      if (auto it = lookup.find(key); it != lookup.end()) r.matches[e] = it->second;
    }
  }

  // Apply in plan order. torch applies every matching key in turn, so the last one wins; the HF
  // dialects look one exact name up, so only parameter-vs-module keys can overlap.
  std::map<std::pair<int, int>, int> overlaps;  // (earlier entry, later entry) -> shared modules
  for (size_t e = 0; e < n_entries; ++e) {
    for (const Match& t : r.matches[e]) {
      if (t.param >= 0) {
        r.param_entry[t.module][t.param] = static_cast<int>(e);
        continue;
      }
      int& slot = r.module_entry[t.module];
      if (slot >= 0 && slot != static_cast<int>(e)) ++overlaps[{slot, static_cast<int>(e)}];
      slot = static_cast<int>(e);
    }
  }
  for (size_t m = 0; m < mods.size(); ++m)
    for (int& pe : r.param_entry[m])
      if (pe < 0) pe = r.module_entry[m];

  std::vector<std::string> candidates;
  for (size_t e = 0; e < n_entries; ++e) {
    const PlanEntry& pe = s.plan.entries[e];
    if (dead[e]) {
      std::string example;
      for (std::string_view seg : Split(pe.key, '.'))
        if (std::any_of(seg.begin(), seg.end(), ::isdigit)) {
          example = std::string(seg);
          break;
        }
      diags.Report(DiagId::kDialectNeverApplies, pe.key_loc,
                   {"hf-v4", pe.key,
                    "transformers 4.x turns every digit run of a module name into '*' before the exact "
                    "lookup, so '" + example + "' is looked up as '" + DigitRunsToStar(example) + "'"});
      continue;
    }
    if (!r.matches[e].empty()) continue;
    if (candidates.empty()) {
      std::vector<std::string> all;
      for (const Module& m : mods)
        if (!m.is_virtual) all.push_back(GenericName(m.name));
      std::sort(all.begin(), all.end());
      all.erase(std::unique(all.begin(), all.end()), all.end());
      candidates = std::move(all);
    }
    std::string hint = DidYouMean(r.full_keys[e], candidates);
    if (!hint.empty() && pe.base_relative && hint.rfind(g.base_prefix + ".", 0) == 0)
      hint = hint.substr(g.base_prefix.size() + 1);
    diags.Report(DiagId::kUnmatchedKey, pe.key_loc,
                 {pe.key, g.model_type, hint.empty() ? "" : "; did you mean '" + hint + "'?"});
  }
  for (const auto& [pair, shared] : overlaps) {
    auto [earlier, later] = pair;
    Diagnostic& d = diags.Report(DiagId::kShadowedKey, s.plan.entries[earlier].key_loc,
                                 {s.plan.entries[earlier].key, std::to_string(shared),
                                  std::to_string(r.matches[earlier].size())});
    diags.AddNote(d, s.plan.entries[later].key_loc, "overridden by this key");
  }
  return r;
}

}  // namespace tpc
