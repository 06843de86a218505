// check-divisibility: every dimension the plan really splits must split evenly over tp. Heads are
// checked only where attention runs head-sharded (found by propagate-placements), so a plan that
// gathers attention (phi3) is not rejected for its head counts (NeMo's validate_tp_mesh is:
// Automodel #799). Vocab splits unevenly but legally (torch.chunk), so that is a warning.
//
// Uneven splits by release (plans/transformers_releases.yaml, opts.transformers):
// - hf dialects, a release that pads (5.24: DTensor placements): a plain uneven split of a linear's
//   rows or columns runs with torch.chunk's sizes, so it is the warning uneven-shard; a release
//   that does not (5.7: equal-chunk gathers and splits) keeps it dim-not-divisible, saying why.
//   compile marks each collective over such a split with the padded size its pieces travel in
//   (insert-redistributions: padded_elements_per_token = ceil(n / tp) x tp).
// - torch dialect: distribute_tensor shards with torch.chunk and DTensor pads uneven all-gathers,
//   but the torch styles rebuild activations with DTensor.from_local(..., run_check=False) and no
//   shape, which assumes even shards (global = local x tp): an uneven activation gets a wrong
//   global shape. So under torch an uneven split stays dim-not-divisible, and a torch program has
//   no padded collective (vocab rows excepted: a vocab-parallel embedding's partial sums are whole).
// - under every release and dialect: a split inside a head (heads-not-divisible: the view to
//   [.., heads_local, head_dim] fails), a packed half that does not split (each half of a fused
//   [gate | up] must split alike), an expert count EP cannot place; a producer and consumer
//   chunked differently is layout-mismatch (propagate-placements).
// - embedding_rowwise with vocab % tp != 0: 5.7 offsets a rank by rank x its own rows, which is
//   wrong on the shorter last rank (embedding-vocab-offset); later releases only warn vocab-uneven.
// - a gathered lm_head (colwise_gather_output) with vocab % tp != 0: 5.7 all-gathers equal chunks
//   and crashes like any uneven gather (dim-not-divisible, with the reason); 5.24 pads, so it is
//   vocab-uneven. A vocab-sharded lm_head that is not gathered stays vocab-uneven everywhere.
#include <cstdio>
#include <numeric>
#include <set>
#include <tuple>

#include "ir/program.h"
#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {

constexpr int64_t kMaxListedTp = 64;

std::string Sizes(const std::vector<int64_t>& v) { return v.empty() ? "none up to 64" : JoinInts(v); }

// The tp sizes up to 64 that satisfy `ok`.
template <typename F>
std::vector<int64_t> Working(F ok) {
  std::vector<int64_t> out;
  for (int64_t t = 1; t <= kMaxListedTp; ++t)
    if (ok(t)) out.push_back(t);
  return out;
}

std::string DimName(const Module& m, const Param& p, int dim) {
  bool experts = m.kind == ModuleKind::kExperts && p.shape.size() == 3;
  if (experts && dim == 0) return "the expert count";
  int rank = static_cast<int>(p.shape.size());
  std::string prefix = experts ? "per-expert " : "";
  if (p.name == "bias") return "the bias size";
  return prefix + (dim == rank - 2 ? "out_features" : "in_features");
}

// "43, 43, 42 rows" (up to 8 ranks) or "1 row on ranks 0-15, 0 on ranks 16-31": torch.chunk's
// rows per rank.
std::string RowsPerRank(int64_t size, int64_t tp) {
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < tp; ++r) rows.push_back(ChunkRange(size, tp, r).size());
  if (tp <= 8) return JoinInts(rows) + " rows";
  std::string out;
  for (int64_t r = 0; r < tp;) {
    int64_t end = r;
    while (end + 1 < tp && rows[end + 1] == rows[r]) ++end;
    std::string unit = out.empty() ? (rows[r] == 1 ? " row" : " rows") : "";
    out += (out.empty() ? "" : ", ") + std::to_string(rows[r]) + unit + (end == r ? " on rank " : " on ranks ") +
           std::to_string(r) + (end == r ? "" : "-" + std::to_string(end));
    r = end + 1;
  }
  return out;
}

// How much the largest rank's rows exceed the mean, in percent, two decimals.
std::string ImbalancePercent(int64_t size, int64_t tp) {
  double mean = static_cast<double>(size) / static_cast<double>(tp);
  double largest = static_cast<double>(ChunkRange(size, tp, 0).size());
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", (largest - mean) / mean * 100.0);
  return buf;
}

}  // namespace

bool CheckDivisibility(const Analysis& a, Diagnostics& diags) {
  int before = diags.errors();
  const int64_t tp = a.opts.tp;
  if (tp <= 1) return true;
  const std::vector<Module>& mods = a.model.modules();

  // Heads, where attention really is head-sharded.
  std::vector<char> layer_head_sharded(std::max(a.model.num_layers, 0), 0);
  LayerAggregator heads;
  for (size_t m = 0; m < mods.size(); ++m) {
    const Module& att = mods[m];
    if (att.kind != ModuleKind::kAttention || !a.head_sharded[m]) continue;
    if (att.layer >= 0) layer_head_sharded[att.layer] = 1;
    // Point at the entries of the projections that feed it (q first, k for the kv heads).
    int q_entry = -1, kv_entry = -1;
    for (int in : att.inputs) {
      for (int src = in; src >= 0;) {
        int e = a.EntryFor(src);
        if (e >= 0) {
          if (q_entry < 0) q_entry = e;
          else if (kv_entry < 0) kv_entry = e;
          break;
        }
        src = mods[src].inputs.empty() ? -1 : mods[src].inputs[0];  // through q_norm / k_norm
      }
    }
    if (kv_entry < 0) kv_entry = q_entry;
    const int64_t h = att.heads, kv = att.kv_heads;
    const bool rep = a.opts.kv_replication;
    auto kv_ok = [&](int64_t t) { return kv % t == 0 || (rep && kv > 0 && kv < t && t % kv == 0); };
    auto works = Working([&](int64_t t) { return h % t == 0 && kv_ok(t); });
    if (h > 0 && h % tp != 0) {
      std::vector<Note> notes;
      if (auto it = a.model.field_locs.find("num_attention_heads"); it != a.model.field_locs.end())
        notes.push_back({it->second, "num_attention_heads is set here"});
      heads.Add("h|" + std::to_string(h), DiagId::kHeadsNotDivisible, a.EntryLoc(q_entry),
                {std::to_string(h), std::to_string(tp), "", Sizes(works)}, notes, att.layer);
    }
    if (kv > 0 && !kv_ok(tp)) {
      std::string how = (!rep && kv < tp && tp % kv == 0)
                            ? " (--kv-replication would replicate each KV head over " + std::to_string(tp / kv) + " ranks)"
                            : "";
      std::vector<Note> notes;
      if (auto it = a.model.field_locs.find("num_key_value_heads"); it != a.model.field_locs.end())
        notes.push_back({it->second, "num_key_value_heads is set here"});
      heads.Add("kv|" + std::to_string(kv), DiagId::kKvHeadsNotDivisible, a.EntryLoc(kv_entry),
                {std::to_string(kv), std::to_string(tp), how, Sizes(works)}, notes, att.layer);
    }
  }
  heads.Flush(diags, a.model.num_layers);

  // Every other split dimension, once per plan entry and size.
  LayerAggregator dims;
  std::set<std::tuple<std::string, std::string, std::string, std::string>> release_notes;
  for (size_t m = 0; m < mods.size(); ++m) {
    const Module& mod = mods[m];
    bool attn_proj = IsAttentionRole(mod.role) && mod.layer >= 0 && layer_head_sharded[mod.layer];
    for (size_t p = 0; p < mod.params.size(); ++p) {
      int entry = a.param_entry[m][p];
      const StyleInfo* s = a.EffectiveStyle(entry);
      Placement pl = a.ParamPlacementOf(static_cast<int>(m), static_cast<int>(p));
      if (!s || pl.kind != Placement::kShard) continue;
      const Param& param = mod.params[p];
      int64_t size = param.shape[pl.dim];
      auto where_fn = [&] { return GenericName(mod.name + (param.name == "weight" ? "" : "." + param.name)); };
      SourceLoc loc = a.EntryLoc(entry);
      bool vocab = (mod.role == Role::kEmbed || mod.role == Role::kLmHead) && pl.dim == 0;
      if (vocab) {
        if (size % tp == 0) continue;
        int64_t chunk = ChunkRange(size, tp, 0).size();
        int64_t last = ChunkRange(size, tp, tp - 1).size();
        const RuntimeRelease& rel = a.opts.transformers;
        bool own_rows_offset = a.opts.dialect == Dialect::kHfV5 && mod.role == Role::kEmbed &&
                               s->split == WeightSplit::kEmbedVocab && last > 0;
        if (own_rows_offset) {
          if (rel.embedding_offset_own_rows) {
            int64_t start = ChunkRange(size, tp, tp - 1).begin, wrong = (tp - 1) * last;
            dims.Add("offset|" + std::to_string(entry), DiagId::kEmbeddingOffsetWrong, loc,
                     {std::to_string(size), std::to_string(tp), rel.version, std::to_string(start),
                      std::to_string(size - 1), std::to_string(wrong), std::to_string(wrong + last - 1)},
                     {}, -1);
          }
          if (!rel.offset_wrong_in.empty() && !rel.offset_right_from.empty())
            release_notes.insert({"an embedding_rowwise embedding whose vocab_size does not divide tp", rel.offset_right_from,
                                  "gives wrong embeddings", rel.offset_wrong_in});
          if (rel.embedding_offset_own_rows) continue;
        }
        // oracle: llama_lm_head_gather_vocab250_tp3 crashes under 5.7, runs under 5.24.
        bool gathered = a.opts.dialect == Dialect::kHfV5 && mod.role == Role::kLmHead && s->gather_hint;
        if (gathered && !rel.uneven_fails_in.empty() && !rel.uneven_runs_from.empty())
          release_notes.insert({"this plan's uneven split", rel.uneven_runs_from, "crashes", rel.uneven_fails_in});
        if (gathered && !rel.uneven_splits && !rel.uneven_reason.empty()) {
          std::string where = where_fn();
          dims.Add("dim|" + std::to_string(entry) + "|" + where + "|" + std::to_string(size),
                   DiagId::kDimNotDivisibleRelease, loc,
                   {DimName(mod, param, pl.dim), where, std::to_string(size), std::to_string(tp), rel.uneven_reason,
                    Sizes(Working([&](int64_t t) { return size % t == 0; }))},
                   {}, -1);
          continue;
        }
        dims.Add("vocab|" + std::to_string(entry), DiagId::kVocabUneven, loc,
                 {std::to_string(size), std::to_string(tp), std::to_string(chunk), std::to_string(last)}, {}, -1);
        continue;
      }
      if (attn_proj && param.name == "weight") continue;  // the head check above covers it
      if (mod.kind == ModuleKind::kExperts && pl.dim == 0) {
        if (size % tp == 0) continue;
        dims.Add("ep|" + std::to_string(entry), DiagId::kExpertsNotDivisible, loc,
                 {std::to_string(size), std::to_string(tp), Sizes(Working([&](int64_t t) { return size % t == 0; }))},
                 {}, -1);
        continue;
      }
      if (s->packed && mod.segments.size() != 1 && size % 2 == 0) {
        // Packed styles take block r of each half: each half must split.
        int64_t half = size / 2;
        if (half % tp == 0) continue;
        std::string where = where_fn();
        dims.Add("packed|" + std::to_string(entry) + "|" + std::to_string(half), DiagId::kDimNotDivisible, loc,
                 {"each packed half", where, std::to_string(half), std::to_string(tp),
                  Sizes(Working([&](int64_t t) { return half % t == 0; }))},
                 {}, -1);
        continue;
      }
      if (size % tp == 0) continue;
      std::string where = where_fn();
      std::string key = "dim|" + std::to_string(entry) + "|" + where + "|" + std::to_string(size);
      const RuntimeRelease& rel = a.opts.transformers;
      bool runs = a.opts.dialect == Dialect::kHfV5 && rel.uneven_splits;
      if (a.opts.dialect == Dialect::kHfV5 && !rel.uneven_fails_in.empty() && !rel.uneven_runs_from.empty())
        release_notes.insert({"this plan's uneven split", rel.uneven_runs_from, "crashes", rel.uneven_fails_in});
      if (runs) {
        dims.Add(key, DiagId::kUnevenShard, loc,
                 {DimName(mod, param, pl.dim), where, std::to_string(size), std::to_string(tp),
                  RowsPerRank(size, tp), ImbalancePercent(size, tp), rel.version},
                 {}, -1);
        continue;
      }
      std::vector<std::string> args = {DimName(mod, param, pl.dim), where, std::to_string(size), std::to_string(tp),
                                       Sizes(Working([&](int64_t t) { return size % t == 0; }))};
      if (a.opts.dialect == Dialect::kHfV5 && !rel.uneven_reason.empty()) {
        args.insert(args.begin() + 4, rel.uneven_reason);
        dims.Add(key, DiagId::kDimNotDivisibleRelease, loc, std::move(args), {}, -1);
      } else {
        dims.Add(key, DiagId::kDimNotDivisible, loc, std::move(args), {}, -1);
      }
    }
  }
  dims.Flush(diags, a.model.num_layers);
  // One note per kind of release-dependent verdict, naming the releases on each side.
  for (const auto& [what, from, failure, in] : release_notes)
    diags.Report(DiagId::kReleaseDependent, {}, {what, from, failure, in});
  return diags.errors() == before;
}

}  // namespace tpc
