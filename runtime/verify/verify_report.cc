#include "runtime/verify/verify_report.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "support/strings.h"

namespace tpc::verify {
namespace {

// max |a - b| / max |b| in double; 0 for two empty tensors.
double RelError(const at::Tensor& got, const at::Tensor& want) {
  if (want.numel() == 0 && got.numel() == 0) return 0;
  if (!got.sizes().equals(want.sizes())) return INFINITY;
  at::Tensor ref = want.to(at::kDouble);
  double scale = ref.abs().max().item<double>();
  double diff = (got.to(at::kDouble) - ref).abs().max().item<double>();
  return scale > 0 ? diff / scale : diff;
}

// NaN: nothing of it was compared (a rank stopped before it).
std::string Sci(double x) {
  if (std::isnan(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", x);
  return buf;
}


void Keep(double& slot, double e) { slot = std::isnan(slot) ? e : std::max(slot, e); }


// GlobalView, or undefined with `why` when the ranks' pieces do not join: a sequence split the plan
// never gathers leaves rank 1 of 2 no token at --tokens 1, and [2, 1, 16] and [2, 0, 16] are no
// column shards of one tensor.
at::Tensor Assemble(const ShardedRun& run, int m, int64_t width, std::string* why) {
  try {
    return GlobalView(run, m, width);
  } catch (const c10::Error&) {
    std::string shapes;
    for (const RankRun& r : run.ranks)
      shapes += (shapes.empty() ? "" : ", ") + ShapeText(r.values.at(static_cast<size_t>(m)).sizes().vec());
    *why = "its ranks' outputs have shapes " + shapes + ": they do not join into one tensor";
    return at::Tensor();
  }
}

}  // namespace

Outcome Compare(const ReferenceModel& model, const ForwardOutput& ref, const ShardedRun& run, double tol) {
  const ModelGraph& g = model.graph;
  Outcome o;
  std::vector<double> by_layer(static_cast<size_t>(g.num_layers), NAN);
  double before = NAN, after = NAN;
  o.logits_error = NAN;
  const RankRun* failed = nullptr;  // the rank whose failure stopped the others
  for (const RankRun& r : run.ranks)
    if (r.failure == 0) failed = &r, o.stopped = r.error;
  for (int id : ForwardOrder(g)) {
    if (failed && id == failed->stopped_at && o.first < 0) {
      o.first = id, o.first_error = INFINITY, o.first_why = failed->error;
      o.max_error = INFINITY;
    }
    if (!run.ran[id] || !ref.values[id].defined()) continue;
    std::string unfit;
    at::Tensor got = Assemble(run, id, ref.values[id].dim() > 0 ? ref.values[id].size(-1) : 0, &unfit);
    double e = got.defined() ? RelError(got, ref.values[id]) : INFINITY;
    if (o.first < 0 && !got.defined()) o.first_why = unfit;
    else if (o.first < 0 && !got.sizes().equals(ref.values[id].sizes()))
      o.first_why = "its output has shape " + ShapeText(got.sizes().vec()) + " where the unsharded one has " +
                    ShapeText(ref.values[id].sizes().vec());
    const tpc::Module& m = g.at(id);
    if (m.layer >= 0) Keep(by_layer[static_cast<size_t>(m.layer)], e);
    else if (by_layer.empty() || m.kind == ModuleKind::kEmbedding) Keep(before, e);
    else Keep(after, e);
    if (m.role == Role::kLmHead) o.logits_error = e;
    o.max_error = std::max(o.max_error, e);
    if (o.first < 0 && !(e <= tol)) o.first = id, o.first_error = e;
  }
  o.rows.push_back({"embedding", before});
  for (size_t l = 0; l < by_layer.size(); ++l) o.rows.push_back({"layer " + std::to_string(l), by_layer[l]});
  o.rows.push_back({"final norm and lm_head", after});
  return o;
}

void Render(const VerifyRequest& req, const ReferenceModel& model, const Program& p, const Outcome& o, bool ok,
            std::ostream& out) {
  const ModelGraph& g = model.graph;
  if (req.json) {
    nlohmann::ordered_json j;
    j["ok"] = ok;
    j["tp"] = p.tp;
    j["ranks"] = req.processes ? "processes" : "threads";
    j["dtype"] = req.dtype;
    j["tolerance"] = req.tolerance;
    j["max_rel_error"] = o.max_error;
    j["logits_rel_error"] = o.logits_error;
    j["collectives"] = p.collectives.size();
    j["check_errors"] = o.check_errors;
    if (o.first < 0) {
      j["first_divergence"] = nullptr;
    } else {
      const tpc::Module& m = g.at(o.first);
      j["first_divergence"] = {{"module", m.name}, {"kind", KindName(m.kind)}, {"rel_error", o.first_error}};
      if (m.layer >= 0) j["first_divergence"]["layer"] = m.layer;
      if (!o.first_why.empty()) j["first_divergence"]["why"] = o.first_why;
    }
    if (!o.stopped.empty()) j["stopped"] = o.stopped;
    j["layers"] = nlohmann::ordered_json::array();
    for (const Row& r : o.rows) j["layers"].push_back({{"part", r.what}, {"max_rel_error", r.error}});
    out << j.dump(2) << '\n';
    return;
  }
  out << "part                     max rel error\n";
  for (const Row& r : o.rows) out << r.what << std::string(25 - std::min<size_t>(24, r.what.size()), ' ') << Sci(r.error) << '\n';
  out << "logits                   " << Sci(o.logits_error) << '\n';
  if (o.first >= 0 && o.first_why.empty())
    out << "first divergence: '" << g.at(o.first).name << "' (" << KindName(g.at(o.first).kind) << "), relative error "
        << Sci(o.first_error) << " > " << Sci(req.tolerance) << '\n';
  if (o.first >= 0 && !o.first_why.empty())
    out << "first divergence: '" << g.at(o.first).name << "' (" << KindName(g.at(o.first).kind) << "): " << o.first_why
        << '\n';
  if (!o.stopped.empty() && o.stopped != o.first_why) out << "then the sharded forward stopped: " << o.stopped << '\n';
  if (o.first < 0 && o.check_errors > 0)
    out << "the arithmetic agrees, but tpc check rejects the plan (" << o.check_errors
        << " errors above): the runtime may refuse or crash on it\n";
  out << (o.first < 0 ? "ok" : "diverges") << ": the sharded forward at tp " << p.tp << " (" << p.collectives.size()
      << " collectives, " << req.dtype << (req.processes ? ", " + std::to_string(p.tp) + " processes" : "") << ") "
      << (o.first < 0 ? "equals" : "differs from")
      << " the unsharded one; max relative error " << Sci(o.max_error) << (o.first < 0 ? " <= " : " > ")
      << Sci(req.tolerance) << '\n';
}

}  // namespace tpc::verify
