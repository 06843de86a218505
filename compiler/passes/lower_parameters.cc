// lower-parameters: for every parameter of the checkpoint, where it lives on each rank. A sharded
// tensor is split with torch.chunk's rule (uneven last ranks); a packed style splits each fused
// segment separately, so every rank holds its slice of gate and of up; with --kv-replication a KV
// projection with fewer heads than ranks gives each rank one whole head, shared by tp/kv ranks
// (vLLM). LoRA adapters follow NeMo's translate_to_lora placements (automodel.md §3).
#include <algorithm>

#include "passes/lowering.h"

namespace tpc {
namespace {

using Ranks = std::vector<std::vector<Slice>>;

Ranks SplitRows(int64_t n, int tp, const std::vector<Segment>* segments) {
  Ranks ranks(tp);
  for (int r = 0; r < tp; ++r) {
    if (!segments) {
      ranks[r].push_back(ChunkOf(n, tp, r));
      continue;
    }
    int64_t offset = 0;
    for (const Segment& seg : *segments) {
      Slice s = ChunkOf(seg.rows, tp, r, offset);
      s.segment = seg.name;
      ranks[r].push_back(s);
      offset += seg.rows;
    }
  }
  return ranks;
}

class ParamLowerer {
 public:
  ParamLowerer(const Lowering& l, Program& p) : l_(l), p_(p), tp_(l.a.opts.tp) {}

  void Run() {
    for (size_t m = 0; m < l_.mods.size(); ++m) {
      const Module& mod = l_.mods[m];
      if (mod.kind == ModuleKind::kAttention) HeadCounts(static_cast<int>(m));
      if (mod.is_virtual) continue;
      for (size_t i = 0; i < mod.params.size(); ++i) Lower(static_cast<int>(m), static_cast<int>(i));
      if (l_.HasLora(static_cast<int>(m))) AddLora(static_cast<int>(m));
    }
  }

 private:
  const Lowering& l_;
  Program& p_;
  int tp_;

  ProgramParam Base(const Module& mod, const std::string& local, std::vector<int64_t> shape) {
    ProgramParam pp;
    pp.name = mod.name + "." + local;
    pp.source = pp.name;
    pp.tree = pp.name;  // a config-only program names the module tree
    pp.dtype = SafetensorsDtypeOf(p_.dtype);
    pp.kind = EntryKind::kParam;
    pp.module = mod.name;
    pp.layer = mod.layer;
    pp.global_shape = std::move(shape);
    return pp;
  }

  void Lower(int m, int i) {
    const Module& mod = l_.mods[m];
    const Param& param = mod.params[i];
    ProgramParam pp = Base(mod, param.name, param.shape);
    if (mod.tied_to >= 0) pp.source = l_.mods[mod.tied_to].name + "." + param.name;
    pp.placement = l_.a.ParamPlacementOf(m, i);
    if (pp.placement.kind == Placement::kShard) {
      const StyleInfo* style = l_.a.EffectiveStyle(l_.a.param_entry[m][i]);
      int64_t n = param.shape[pp.placement.dim];
      std::vector<Segment> segments;
      if (style && style->packed) segments = PackedSegments(mod, n);
      if (!ReplicateKv(m, n, &pp)) pp.ranks = SplitRows(n, tp_, segments.empty() ? nullptr : &segments);
      if (mod.kind == ModuleKind::kEmbedding && pp.placement.dim == 0) VocabOffsets(m, style, &pp);
    }
    if (param.name == "bias") pp.bias = Bias(m, i);
    p_.params.push_back(std::move(pp));
  }

  // How the runtime masks a vocab shard: each rank answers the ids from where its rows start, except
  // under a release that offsets by rank x own rows (transformers 5.7's embedding_rowwise).
  void VocabOffsets(int m, const StyleInfo* style, ProgramParam* pp) const {
    const RuntimeRelease& rel = l_.a.opts.transformers;
    bool own_rows = l_.a.opts.dialect == Dialect::kHfV5 && rel.embedding_offset_own_rows && style &&
                    style->split == WeightSplit::kEmbedVocab && l_.mods[m].role == Role::kEmbed;
    for (int r = 0; r < tp_; ++r) {
      const std::vector<Slice>& mine = pp->ranks[static_cast<size_t>(r)];
      int64_t rows = 0;
      for (const Slice& s : mine) rows += s.length;
      pp->vocab_offsets.push_back(own_rows ? r * rows : mine.empty() ? 0 : mine.front().start);
    }
  }

  // A bias beside a weight split on its in features joins partial sums: once, unless the weight's
  // style adds it on every rank (no hooks); a bias whose own style divides it by tp counts once.
  BiasJoin Bias(int m, int i) const {
    const Module& mod = l_.mods[m];
    const StyleInfo* own = l_.a.EffectiveStyle(l_.a.param_entry[m][i]);
    if (own && own->divides_by_tp) return BiasJoin::kDivided;
    for (size_t w = 0; w < mod.params.size(); ++w) {
      if (mod.params[w].name != "weight" || l_.a.ParamPlacementOf(m, static_cast<int>(w)) != Placement{Placement::kShard, 1})
        continue;
      const StyleInfo* style = l_.a.EffectiveStyle(l_.a.param_entry[m][w]);
      return style && style->bias_per_rank ? BiasJoin::kEveryRank : BiasJoin::kOnce;
    }
    return BiasJoin::kNone;
  }

  // vLLM's KV-head replication: rank r holds head r / (tp / kv) whole.
  bool ReplicateKv(int m, int64_t n, ProgramParam* pp) {
    const Module& mod = l_.mods[m];
    if (!l_.a.opts.kv_replication || pp->placement.dim != 0) return false;
    if (mod.role != Role::kAttnK && mod.role != Role::kAttnV) return false;
    int att = l_.AttentionOf(m);
    int64_t kv = att >= 0 ? l_.mods[att].kv_heads : 0;
    if (kv <= 0 || kv >= tp_ || tp_ % kv != 0 || n % kv != 0) return false;
    int64_t head_rows = n / kv;
    int group = static_cast<int>(tp_ / kv);
    pp->replicas = group;
    pp->ranks.assign(tp_, {});
    for (int r = 0; r < tp_; ++r) pp->ranks[r].push_back({"", (r / group) * head_rows, head_rows});
    return true;
  }

  // lora_A [r, in] and lora_B [out, r] beside the base weight [out, in] (PEFT names).
  void AddLora(int m) {
    const Module& mod = l_.mods[m];
    // The weight was lowered just now, before any bias of the same module.
    auto it = std::find_if(p_.params.rbegin(), p_.params.rend(),
                           [&](const ProgramParam& pp) { return pp.name == mod.name + ".weight"; });
    if (it == p_.params.rend() || it->global_shape.size() != 2) return;
    const ProgramParam weight = *it;
    int64_t out = weight.global_shape[0], in = weight.global_shape[1], r = l_.opts.lora_rank;
    ProgramParam a = Base(mod, "lora_A.weight", {r, in});
    ProgramParam b = Base(mod, "lora_B.weight", {out, r});
    a.source = b.source = "";
    a.kind = b.kind = EntryKind::kLora;
    a.adapter = "lora_A";
    b.adapter = "lora_B";
    if (weight.placement.kind == Placement::kShard && weight.placement.dim == 0) {
      // Colwise: A shards the rank dim (its output is all-gathered), B the out dim like the base.
      a.placement = b.placement = {Placement::kShard, 0};
      a.ranks = SplitRows(r, tp_, nullptr);
      b.ranks = weight.ranks;
      b.replicas = weight.replicas;
    } else if (weight.placement.kind == Placement::kShard) {
      // Rowwise: A shards the in dim like the base, B the rank dim.
      a.placement = b.placement = {Placement::kShard, 1};
      a.ranks = weight.ranks;
      b.ranks = SplitRows(r, tp_, nullptr);
    }
    p_.params.push_back(std::move(a));
    p_.params.push_back(std::move(b));
  }

  // NeMo's _update_attention_head_counts_for_tp, as attribute rewrites on the attention module.
  void HeadCounts(int att) {
    if (tp_ <= 1 || !l_.a.head_sharded[att]) return;
    const Module& mod = l_.mods[att];
    std::string owner = mod.parent >= 0 ? l_.mods[mod.parent].name : mod.name;
    p_.attributes.push_back({owner, "num_heads", mod.heads / tp_, mod.heads});
    if (mod.kv_heads > 0) {
      int64_t kv = mod.kv_heads >= tp_ ? mod.kv_heads / tp_ : 1;  // below tp only with kv replication
      p_.attributes.push_back({owner, "num_key_value_heads", kv, mod.kv_heads});
    }
  }
};

}  // namespace

bool LowerParameters(const Lowering& l, Program& p, Diagnostics&) {
  ParamLowerer(l, p).Run();
  return true;
}

}  // namespace tpc
