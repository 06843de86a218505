// lower-stored: with a checkpoint, turns the module-tree parameters lower-parameters placed into
// one entry per stored tensor, by its stored name and file, with its own dtype. A tensor that is
// a piece of a parameter takes the parameter's placement restricted to its piece: a per-expert
// tensor under expert parallelism (the expert dim sharded) is held whole by the ranks owning its
// expert; one part of a concatenation (w1 of [w1 | w3]) keeps the slices that fall in its rows. An
// FP8 block scale takes its weight's slices in whole blocks. Stored tensors the model does not
// use are replicated. A tied lm_head that is not stored reads the embedding's tensor.
#include <algorithm>
#include <unordered_map>

#include "passes/lowering.h"

namespace tpc {
namespace {

using Ranks = std::vector<std::vector<Slice>>;

// The part of each rank's slices that falls in rows [offset, offset + rows), moved to start at 0.
Ranks Restrict(const Ranks& ranks, int64_t offset, int64_t rows) {
  Ranks out(ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r)
    for (const Slice& s : ranks[r]) {
      int64_t lo = std::max(s.start, offset), hi = std::min(s.start + s.length, offset + rows);
      if (hi > lo) out[r].push_back({s.segment, lo - offset, hi - lo});
    }
  return out;
}

// The ranks whose slices along the expert dim hold expert `e`.
std::vector<int> Owners(const Ranks& ranks, int64_t e) {
  std::vector<int> out;
  for (size_t r = 0; r < ranks.size(); ++r)
    for (const Slice& s : ranks[r])
      if (e >= s.start && e < s.start + s.length) {
        out.push_back(static_cast<int>(r));
        break;
      }
  return out;
}

class StoredLowerer {
 public:
  StoredLowerer(const Lowering& l, const CheckpointBinding& b)
      : l_(l), b_(b), ck_(b.checkpoint), scale_of_(b.checkpoint.tensors.size(), -1) {
    for (size_t i = 0; i < b.scales.size(); ++i) scale_of_[b.scales[i].weight] = static_cast<int>(i);
  }

  std::vector<ProgramParam> Run(const std::vector<ProgramParam>& tree) {
    std::unordered_map<std::string, size_t> by_name;
    std::unordered_map<std::string, std::vector<size_t>> adapters;  // by module
    for (size_t i = 0; i < tree.size(); ++i) {
      if (tree[i].adapter.empty()) by_name.emplace(tree[i].name, i);
      else adapters[tree[i].module].push_back(i);
    }
    const std::vector<Module>& mods = l_.mods;
    for (size_t m = 0; m < mods.size(); ++m) {
      if (mods[m].is_virtual) continue;
      for (size_t p = 0; p < mods[m].params.size(); ++p) {
        auto it = by_name.find(mods[m].name + "." + mods[m].params[p].name);
        if (it == by_name.end()) continue;
        Lower(static_cast<int>(m), static_cast<int>(p), tree[it->second]);
      }
      // The adapters of this module, right after its parameters as lower-parameters put them.
      if (auto it = adapters.find(mods[m].name); it != adapters.end())
        for (size_t i : it->second) out_.push_back(tree[i]);
    }
    for (const StoredPerHead& h : b_.per_head) out_.push_back(PerHead(h));
    for (const StoredExtra& e : b_.extras) {
      ProgramParam pp = FromTensor(e.tensor);
      pp.kind = EntryKind::kExtra;
      pp.what = e.what;
      out_.push_back(std::move(pp));
    }
    return std::move(out_);
  }

 private:
  const Lowering& l_;
  const CheckpointBinding& b_;
  const Checkpoint& ck_;
  std::vector<int> scale_of_;  ///< per stored tensor: the scale (into b_.scales) of its blocks, or -1
  std::vector<ProgramParam> out_;

  ProgramParam FromTensor(int t) const {
    const StoredTensor& st = ck_.tensors[t];
    ProgramParam pp;
    pp.name = pp.source = st.name;
    pp.file = ck_.files[st.file].name;
    pp.dtype = st.dtype;
    pp.global_shape = st.shape;
    return pp;
  }

  void Lower(int m, int p, const ProgramParam& whole) {
    const std::vector<StoredPiece>& pieces = b_.pieces[m][p];
    if (pieces.empty()) {  // a tied parameter the checkpoint does not store
      ProgramParam pp = whole;
      const Module& mod = l_.mods[m];
      const std::vector<StoredPiece>& tied = mod.tied_to >= 0 ? b_.pieces[mod.tied_to][p] : pieces;
      pp.file.clear();
      if (!tied.empty()) {  // `file` says where `source` is stored
        const StoredTensor& t = ck_.tensors[tied[0].tensor];
        pp.source = t.name;
        pp.dtype = t.dtype;
        pp.file = ck_.files[t.file].name;
      }
      pp.tree = whole.name;
      out_.push_back(std::move(pp));
      return;
    }
    bool concatenated = std::count_if(pieces.begin(), pieces.end(),
                                      [&](const StoredPiece& s) { return s.expert == pieces[0].expert; }) > 1;
    for (const StoredPiece& piece : pieces) {
      ProgramParam pp = FromTensor(piece.tensor);
      pp.tree = whole.name;
      pp.expert = piece.expert;
      pp.module = whole.module;
      pp.layer = whole.layer;
      pp.replicas = whole.replicas;
      pp.bias = whole.bias;
      if (!concatenated) pp.vocab_offsets = whole.vocab_offsets;
      Place(whole, piece, concatenated, &pp);
      out_.push_back(pp);
      if (scale_of_[piece.tensor] >= 0) out_.push_back(Scale(b_.scales[scale_of_[piece.tensor]], pp));
    }
  }

  // A tensor with one row per query head: split as the heads are, whole where attention is.
  ProgramParam PerHead(const StoredPerHead& h) const {
    ProgramParam pp = FromTensor(h.tensor);
    const Module& att = l_.mods[h.attention];
    pp.tree = pp.name;
    pp.module = att.parent >= 0 ? l_.mods[att.parent].name : att.name;
    pp.layer = att.layer;
    int tp = l_.a.opts.tp;
    if (tp > 1 && l_.a.head_sharded[h.attention]) {
      pp.placement = {Placement::kShard, 0};
      pp.ranks.assign(tp, {});
      for (int r = 0; r < tp; ++r) pp.ranks[r].push_back(ChunkOf(att.heads, tp, r));
    }
    return pp;
  }

  // The piece's placement, from the whole parameter's.
  void Place(const ProgramParam& whole, const StoredPiece& piece, bool concatenated, ProgramParam* pp) const {
    if (whole.placement.kind != Placement::kShard) return;
    int d = whole.placement.dim;
    if (piece.expert >= 0) {
      if (d == 0) {  // expert parallelism: the expert's tensors are whole on the ranks owning it
        pp->owners = Owners(whole.ranks, piece.expert);
        pp->replicas = 1;
        return;
      }
      --d;  // the stored tensor lacks the expert dim
    }
    pp->placement = {Placement::kShard, d};
    pp->ranks = d == 0 && concatenated ? Restrict(whole.ranks, piece.offset, pp->global_shape[0]) : whole.ranks;
  }

  // An FP8 block scale: the weight's slices in whole blocks along the same dim.
  ProgramParam Scale(const StoredScale& s, const ProgramParam& weight) const {
    ProgramParam pp = FromTensor(s.tensor);
    pp.kind = EntryKind::kScale;
    pp.scales = weight.name;
    pp.block = s.block;
    pp.tree = weight.tree;
    pp.expert = weight.expert;
    pp.module = weight.module;
    pp.layer = weight.layer;
    pp.owners = weight.owners;
    pp.replicas = weight.replicas;
    int rank = static_cast<int>(weight.global_shape.size());
    int k = weight.placement.dim - (rank - 2);
    if (weight.placement.kind != Placement::kShard || k < 0 || k > 1) return pp;
    int64_t block = s.block[k], n = pp.global_shape[weight.placement.dim];
    pp.placement = weight.placement;
    pp.ranks.resize(weight.ranks.size());
    for (size_t r = 0; r < weight.ranks.size(); ++r)
      for (const Slice& w : weight.ranks[r]) {
        int64_t begin = std::min(n, w.start / block), end = std::min(n, (w.start + w.length + block - 1) / block);
        pp.ranks[r].push_back({w.segment, begin, std::max<int64_t>(0, end - begin)});
      }
    return pp;
  }
};

}  // namespace

bool LowerStored(const Lowering& l, Program& p, Diagnostics&) {
  const CheckpointBinding* b = l.a.model.checkpoint.get();
  if (!b) return true;
  p.naming = Naming::kCheckpoint;
  p.params = StoredLowerer(l, *b).Run(p.params);
  return true;
}

}  // namespace tpc
