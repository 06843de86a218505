// `tpc explain`: the program as a terminal table. Layers that look the same are printed once
// ("layers 0-125"), so a 126-layer model fits on a screen.
#include <algorithm>
#include <cstdio>
#include <map>

#include "backend/emit_program.h"
#include "backend/explain_rows.h"
#include "support/strings.h"

namespace tpc {
namespace {

using Row = std::vector<std::string>;

struct Section {
  int first = -1, last = -1;  // layer range, -1 outside the layers
  std::vector<Row> rows;
};

Row StepRow(const Program& p, const ModelGraph& model, const ModuleStep& s) {
  const Module& m = model.at(s.module);
  std::vector<std::string> colls;
  for (int c : s.collectives) {
    const Collective& k = p.collectives[c];
    std::string what = CollectiveName(k.kind);
    if (k.after != m.name) what += " of " + LayerRelativeName(k.after);
    colls.push_back(what + " " + HumanBytes(static_cast<double>(k.bytes_per_token)) + "/tok");
  }
  if (s.local_slice) colls.push_back("local slice");
  std::string name = m.layer >= 0 ? LayerRelativeName(m.name) : m.name;
  return {"  " + name, WeightSummary(p, m.name), LayoutName(s.in) + " -> " + LayoutName(s.out), Join(colls, ", ")};
}

std::string Table(const std::vector<Row>& rows, const std::vector<size_t>& widths) {
  std::string out;
  for (const Row& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(widths[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string RenderExplain(const Program& p, const ModelGraph& model) {
  std::vector<Section> sections;
  for (const ModuleStep& s : p.steps) {
    int layer = model.at(s.module).layer;
    if (sections.empty() || sections.back().first != layer) sections.push_back({layer, layer, {}});
    sections.back().rows.push_back(StepRow(p, model, s));
  }
  std::vector<Section> merged;
  for (Section& s : sections) {
    if (!merged.empty() && s.first >= 0 && merged.back().first >= 0 && merged.back().last + 1 == s.first &&
        merged.back().rows == s.rows) {
      merged.back().last = s.first;
      continue;
    }
    merged.push_back(std::move(s));
  }
  std::vector<size_t> widths(4, 0);
  Row header{"  module", "weight (rank 0)", "layout in -> out", "collectives"};
  for (size_t i = 0; i < 4; ++i) widths[i] = header[i].size();
  for (const Section& s : merged)
    for (const Row& r : s.rows)
      for (size_t i = 0; i < 4; ++i) widths[i] = std::max(widths[i], r[i].size());

  std::string out = p.model_type + ", tp " + std::to_string(p.tp) + ", " + p.dtype + ", dialect " + p.dialect +
                    (p.sequence_parallel ? ", sequence parallel" : "") +
                    (p.lora ? ", LoRA rank " + std::to_string(p.lora_rank) : "") + "\n\n";
  out += Table({header}, widths);
  for (size_t i = 0; i < merged.size(); ++i) {
    const Section& s = merged[i];
    if (s.first < 0 && i > 0) out += "after the layers:\n";
    if (s.first >= 0) {
      std::string range = s.first == s.last ? "layer " + std::to_string(s.first)
                                            : "layers " + std::to_string(s.first) + "-" + std::to_string(s.last);
      out += range + (s.first == s.last ? "" : " (identical)") + ":\n";
    }
    out += Table(s.rows, widths);
  }

  std::map<std::string, std::pair<int64_t, int64_t>> attrs;  // name -> (local, global), first layer's
  std::map<std::string, int> attr_count;
  for (const Attribute& a : p.attributes) {
    attrs.emplace(a.name, std::make_pair(a.value, a.global));
    ++attr_count[a.name];
  }
  if (!attrs.empty()) {
    std::vector<std::string> parts;
    for (const auto& [name, v] : attrs)
      parts.push_back(name + " " + std::to_string(v.second) + " -> " + std::to_string(v.first) + " (" +
                      std::to_string(attr_count[name]) + " modules)");
    out += "\nattribute rewrites: " + Join(parts, ", ") + "\n";
  }
  const ProgramSummary& sum = p.summary;
  int64_t max_rank = 0;
  for (int64_t b : sum.param_bytes_per_rank) max_rank = std::max(max_rank, b);
  out += "\nparameters: " + std::to_string(p.params.size()) + ", " + HumanBytes(static_cast<double>(sum.param_bytes_total)) +
         " in all, at most " + HumanBytes(static_cast<double>(max_rank)) + " per rank\n";
  std::map<std::string, int> counts;
  for (const Collective& c : p.collectives) ++counts[CollectiveName(c.kind)];
  std::vector<std::string> parts;
  for (const auto& [kind, n] : counts) parts.push_back(std::to_string(n) + " " + kind);
  char tail[160];
  std::snprintf(tail, sizeof tail, "; %s per token (%s sent per rank); ~%.2f us/token at %g GB/s, %lld tokens\n",
                HumanBytes(static_cast<double>(sum.traffic_bytes_per_token)).c_str(),
                HumanBytes(sum.send_bytes_per_token).c_str(), sum.comm_us_per_token, p.link.gbps,
                static_cast<long long>(p.link.tokens));
  out += "collectives: " + (parts.empty() ? std::string("none") : Join(parts, ", ")) + tail;
  return out;
}

}  // namespace tpc
