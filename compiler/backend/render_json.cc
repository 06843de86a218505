// Machine-readable diagnostics: tpc's own JSON and SARIF 2.1.0 for code-scanning dashboards.
#include <nlohmann/json.hpp>
#include <set>

#include "backend/render_diagnostics.h"

namespace tpc {
namespace {

using nlohmann::ordered_json;

ordered_json Place(const SourceManager& sm, SourceLoc loc) {
  ordered_json j;
  j["file"] = loc.valid() ? ordered_json(sm.path(loc.file)) : ordered_json(nullptr);
  j["line"] = loc.valid() && loc.line > 0 ? ordered_json(loc.line) : ordered_json(nullptr);
  j["column"] = loc.valid() && loc.line > 0 ? ordered_json(loc.column) : ordered_json(nullptr);
  return j;
}

ordered_json SarifLocation(const SourceManager& sm, SourceLoc loc, const std::string* message) {
  ordered_json phys;
  phys["artifactLocation"] = {{"uri", sm.path(loc.file)}};
  if (loc.line > 0)
    phys["region"] = {{"startLine", loc.line}, {"startColumn", loc.column}, {"endColumn", loc.column + loc.length}};
  ordered_json l;
  l["physicalLocation"] = phys;
  if (message) l["message"] = {{"text", *message}};
  return l;
}

// {"count": 32, "all": true, "list": "0-31"} for a problem merged over layers, else null.
ordered_json Layers(const LayerSpan& layers) {
  if (layers.count == 0) return nullptr;
  return {{"count", layers.count}, {"all", layers.all}, {"list", layers.list}};
}

// Paths, plan text and echoed parse errors may be bad UTF-8: write U+FFFD for it instead of throwing.
std::string Dump(const ordered_json& j) { return j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n"; }

}  // namespace

std::string RenderJson(const Diagnostics& diags, const std::string& transformers) {
  const SourceManager& sm = diags.sources();
  ordered_json out;
  out["ok"] = !diags.has_errors();
  out["errors"] = diags.errors();
  out["warnings"] = diags.warnings();
  if (!transformers.empty()) out["transformers"] = transformers;
  out["diagnostics"] = ordered_json::array();
  for (const Diagnostic& d : diags.all()) {
    ordered_json j;
    j["severity"] = SeverityName(d.severity);
    j["code"] = d.code;
    j["message"] = d.message;
    j["layers"] = Layers(d.layers);
    j.update(Place(sm, d.loc));
    j["notes"] = ordered_json::array();
    for (const Note& n : d.notes) {
      ordered_json nj = {{"message", n.message}};
      nj.update(Place(sm, n.loc));
      j["notes"].push_back(nj);
    }
    out["diagnostics"].push_back(j);
  }
  return Dump(out);
}

std::string RenderSarif(const Diagnostics& diags, const std::string& transformers) {
  const SourceManager& sm = diags.sources();
  ordered_json rules = ordered_json::array();
  std::set<std::string> seen;
  ordered_json results = ordered_json::array();
  for (const Diagnostic& d : diags.all()) {
    if (seen.insert(d.code).second) rules.push_back({{"id", d.code}, {"name", d.code}});
    ordered_json r;
    r["ruleId"] = d.code;
    r["level"] = SeverityName(d.severity);
    r["message"] = {{"text", d.message}};
    r["locations"] = ordered_json::array();
    if (d.loc.valid()) r["locations"].push_back(SarifLocation(sm, d.loc, nullptr));
    ordered_json related = ordered_json::array();
    for (const Note& n : d.notes)
      if (n.loc.valid()) related.push_back(SarifLocation(sm, n.loc, &n.message));
    if (!related.empty()) r["relatedLocations"] = related;
    if (d.layers.count) r["properties"] = {{"layers", Layers(d.layers)}};
    results.push_back(r);
  }
  ordered_json run;
  run["tool"] = {{"driver", {{"name", "tpc"}, {"rules", rules}}}};
  run["results"] = results;
  if (!transformers.empty()) run["properties"] = {{"transformers", transformers}};
  ordered_json out;
  out["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json";
  out["version"] = "2.1.0";
  out["runs"] = ordered_json::array({run});
  return Dump(out);
}

}  // namespace tpc
