// propagate-placements: walks the dataflow in forward order with one rule per module kind and
// checks that every module receives the activation layout its style assumes. Under the torch and
// hf-v4 dialects a plain tensor is re-wrapped with the declared layout without any check, so a
// mismatch there is silently wrong results rather than a crash (pytorch#119343, Automodel #652).
#include <map>

#include "passes/analysis.h"

namespace tpc {
namespace {

class Propagator {
 public:
  Propagator(Analysis& a, Diagnostics& diags) : a_(a), diags_(diags), mods_(a.model.modules()) {}

  void Run() {
    std::vector<int> order;
    a_.output.assign(mods_.size(), Activation{});
    a_.head_sharded.assign(mods_.size(), 0);
    if (!a_.model.ForwardOrder(&order)) return;  // templates are checked acyclic in tests
    users_.assign(mods_.size(), {});
    for (size_t c = 0; c < mods_.size(); ++c) {
      const StyleInfo* s = a_.EffectiveStyle(a_.module_entry[c]);
      any_block_reduce_ |= s && s->reduces && mods_[c].kind == ModuleKind::kContainer;
    }
    for (int m : order)
      for (int in : mods_[m].inputs) users_[in].push_back(m);
    for (int m : order) {
      Activation out = Visit(m);
      out.producer = m;
      a_.output[m] = ApplyBlockReduce(m, out);
    }
    agg_.Flush(diags_, a_.model.num_layers);
  }

 private:
  Analysis& a_;
  Diagnostics& diags_;
  const std::vector<Module>& mods_;
  std::vector<std::vector<int>> users_;
  LayerAggregator agg_;
  bool any_block_reduce_ = false;

  std::string Who(int m) const { return m < 0 ? "the model input" : a_.Describe(m); }
  std::string Generic(int m) const { return m < 0 ? "input" : GenericName(mods_[m].name); }

  // The plan entry that decided a module's output: its own, or for virtual ops and unstyled norms
  // the nearest one upstream (act_mul -> up_proj).
  int Responsible(int m) const {
    for (int depth = 0; m >= 0 && depth < 4; ++depth) {
      int e = a_.EntryFor(m);
      if (e >= 0) return e;
      const Module& mod = mods_[m];
      if (!mod.is_virtual && mod.kind != ModuleKind::kNorm) return -1;
      int next = -1;
      for (int in : mod.inputs)
        if (a_.output[in].layout != Layout::kReplicate) {
          next = in;
          break;
        }
      m = next;
    }
    return -1;
  }

  // Where a problem between `consumer` and `producer` is shown: the consumer's plan entry if it has
  // one, else the producer's; the other side becomes a note.
  void Place(int consumer, int producer, SourceLoc* loc, std::vector<Note>* notes) const {
    int ce = consumer >= 0 ? a_.EntryFor(consumer) : -1;
    int pe = producer >= 0 ? Responsible(producer) : -1;
    if (ce >= 0) {
      *loc = a_.EntryLoc(ce);
      if (pe >= 0 && pe != ce)
        notes->push_back({a_.plan.entries[pe].key_loc, "'" + a_.plan.entries[pe].key + "' sets that layout here"});
    } else if (pe >= 0) {
      *loc = a_.EntryLoc(pe);
      if (consumer >= 0 && !mods_[consumer].is_virtual)
        notes->push_back({SourceLoc{}, "'" + GenericName(mods_[consumer].name) + "' has no plan entry, so it stays replicated"});
    } else {
      *loc = {a_.plan.file, 0, 0, 0};
    }
  }

  void Mismatch(int consumer, const Activation& got, Layout want, const std::string& why) {
    SourceLoc loc;
    std::vector<Note> notes;
    Place(consumer, got.producer, &loc, &notes);
    std::string msg = Who(consumer) + " expects " + Describe(want) + " but " + Who(got.producer) +
                      " hands it " + Describe(got.layout) + why;
    std::string key = "mismatch|" + Generic(consumer) + "|" + Generic(got.producer) + "|" + msg;
    agg_.Add(key, DiagId::kLayoutMismatch, loc, {msg}, notes, mods_[consumer].layer);
  }

  void Unreduced(int consumer, const Activation& got, const std::string& before) {
    SourceLoc loc;
    std::vector<Note> notes;
    Place(got.producer, consumer, &loc, &notes);
    std::string key = "partial|" + Generic(got.producer) + "|" + before;
    agg_.Add(key, DiagId::kUnreducedPartial, loc, {Generic(got.producer), before}, notes, mods_[consumer].layer);
  }

  Activation Input(int m, size_t i) const {
    const Module& mod = mods_[m];
    if (i >= mod.inputs.size()) return {Layout::kReplicate, true, -1};
    return a_.output[mod.inputs[i]];
  }

  std::string Why(const Behaviour& b, const Activation& got, int m) const {
    if (!b.styled)
      return "; '" + GenericName(mods_[m].name) + "' has no plan entry and applies its full weight to a local shard";
    if (b.rewraps && got.local) return "; the plain tensor is re-wrapped with the declared layout without a check, so results are silently wrong";
    if (b.rewraps) return "; the declared input layout equals the desired one, so nothing redistributes it (Automodel #652)";
    return "; the local shapes no longer line up";
  }

  Activation Weighted(int m) {
    Behaviour b = BehaviourOf(a_, m);
    Activation in = Input(m, 0);
    if (b.passthrough) return in;
    if (in.layout == Layout::kPartial) Unreduced(m, in, "'" + GenericName(mods_[m].name) + "'");
    else if (in.layout != b.in) Mismatch(m, in, b.in, Why(b, in, m));
    Activation out{b.out, b.local_out, m};
    if (mods_[m].kind == ModuleKind::kRouter && out.layout != Layout::kReplicate) {
      Mismatch(m, out, Layout::kReplicate, "; top-k routing needs the global expert logits on every rank");
      out.layout = Layout::kReplicate;
    }
    return out;
  }

  Activation Norm(int m) {
    Behaviour b = BehaviourOf(a_, m);
    Activation in = Input(m, 0);
    if (b.styled && !b.passthrough) return Weighted(m);
    if (in.layout == Layout::kPartial) Unreduced(m, in, "'" + GenericName(mods_[m].name) + "'");
    else if (in.layout == Layout::kShardLast && !mods_[m].per_head) {
      Mismatch(m, in, Layout::kReplicate, "; each rank would normalise only its own slice of the hidden dim");
      return {Layout::kReplicate, true, m};  // one root cause, not one error per consumer
    }
    return {in.layout, in.local, m};
  }

  // Attention, the act(gate)*up product: every operand must be laid out alike.
  Activation Join(int m) {
    const Module& mod = mods_[m];
    Activation first = Input(m, 0);
    for (size_t i = 0; i < mod.inputs.size(); ++i) {
      Activation in = Input(m, i);
      if (in.layout == Layout::kPartial) {
        Unreduced(m, in, "'" + GenericName(mod.name) + "'");
        return {Layout::kReplicate, true, m};
      }
      if (i == 0 || in.layout == first.layout) continue;
      if (mod.kind == ModuleKind::kAttention) {
        SourceLoc loc;
        std::vector<Note> notes;
        Place(in.producer, first.producer, &loc, &notes);
        std::string key = "attn|" + Generic(m) + "|" + Generic(first.producer) + "|" + Generic(in.producer);
        agg_.Add(key, DiagId::kAttentionMixed, loc,
                 {GenericName(mod.name), Describe(first.layout), Generic(first.producer), Describe(in.layout),
                  Generic(in.producer)},
                 notes, mod.layer);
      } else {
        Mismatch(m, in, first.layout, "; '" + Generic(first.producer) + "' gives the other operand " +
                                          Describe(first.layout) + ", and an elementwise product needs both alike");
      }
      return {first.layout, true, m};
    }
    if (mod.kind == ModuleKind::kAttention) a_.head_sharded[m] = first.layout == Layout::kShardLast;
    return {first.layout, first.local, m};
  }

  Activation Add(int m) {
    const Module& mod = mods_[m];
    // Partial sums add up to partial sums (routed + shared experts before the block's all-reduce);
    // a partial term next to a replicated one is the bug: it would be reduced tp times or never.
    bool all_partial = !mod.inputs.empty();
    for (size_t i = 0; i < mod.inputs.size(); ++i) all_partial &= Input(m, i).layout == Layout::kPartial;
    if (all_partial) return {Layout::kPartial, true, m};
    Layout out = Layout::kReplicate;
    for (size_t i = 0; i < mod.inputs.size(); ++i) {
      Activation in = Input(m, i);
      if (in.layout == Layout::kPartial)
        Unreduced(m, in, std::string(mod.name.find("residual") != std::string::npos ? "the residual add '" : "the add '") +
                             GenericName(mod.name) + "'");
      else if (in.layout == Layout::kShardLast)
        Mismatch(m, in, Layout::kReplicate, "; the residual stream is replicated, so the sum mixes a slice with the whole");
      else if (i == 0) out = in.layout;
    }
    return {out, true, m};
  }

  Activation Experts(int m) {
    const Module& mod = mods_[m];
    Activation in = Input(m, 0);
    if (in.layout != Layout::kReplicate) Mismatch(m, in, Layout::kReplicate, "; experts take the full hidden states");
    WeightSplit gate_up = WeightSplit::kNone, down = WeightSplit::kNone;
    for (size_t p = 0; p < mod.params.size(); ++p) {
      const StyleInfo* s = a_.EffectiveStyle(a_.param_entry[m][p]);
      WeightSplit w = s ? s->split : WeightSplit::kNone;
      if (mod.params[p].role == "gate_up") gate_up = w;
      if (mod.params[p].role == "down") down = w;
    }
    Layout out = Layout::kReplicate;
    bool tp_pair = gate_up == WeightSplit::kOut && down == WeightSplit::kIn;
    bool ep_pair = gate_up == WeightSplit::kExperts && down == WeightSplit::kExperts;
    if (tp_pair || ep_pair) {
      out = Layout::kPartial;
    } else if (gate_up != WeightSplit::kNone || down != WeightSplit::kNone) {
      Activation self{Layout::kReplicate, true, m};
      Mismatch(m, self, Layout::kReplicate,
               "; its gate_up and down parameters must be split as a pair (gate_up on out features and down on "
               "in features, or both on experts)");
    }
    const StyleInfo* s = a_.EffectiveStyle(a_.module_entry[m]);
    if (s && s->reduces) return Reduce(m, m, {out, true, m});
    return {out, true, m};
  }

  // A reducing style (gather, moe_tp_experts) all-reduces the block's output once.
  Activation Reduce(int block, int exit, Activation out) {
    if (out.layout == Layout::kPartial) return {Layout::kReplicate, true, exit};
    SourceLoc loc = a_.EntryLoc(a_.module_entry[block]);
    std::string what = a_.Describe(block) + " all-reduces the output of '" + GenericName(mods_[exit].name) +
                       "', which is " + Describe(out.layout) +
                       (out.layout == Layout::kReplicate ? " already: the result comes out tp times too large"
                                                         : ": summing slices does not rebuild the tensor");
    agg_.Add("reduce|" + GenericName(mods_[block].name), DiagId::kLayoutMismatch, loc, {what}, {}, mods_[exit].layer);
    return {Layout::kReplicate, true, exit};
  }

  // The output of a container's last op leaves the container: a reducing style on it applies here.
  Activation ApplyBlockReduce(int m, Activation out) {
    if (!any_block_reduce_) return out;
    for (int c = mods_[m].parent; c >= 0; c = mods_[c].parent) {
      if (mods_[c].kind != ModuleKind::kContainer) continue;
      const StyleInfo* s = a_.EffectiveStyle(a_.module_entry[c]);
      if (!s || !s->reduces) continue;
      bool leaves = users_[m].empty();
      for (int u : users_[m]) leaves |= !Inside(u, c);
      if (leaves) return Reduce(c, m, out);
    }
    return out;
  }

  bool Inside(int m, int container) const {
    for (int p = mods_[m].parent; p >= 0; p = mods_[p].parent)
      if (p == container) return true;
    return false;
  }

  Activation Visit(int m) {
    switch (mods_[m].kind) {
      case ModuleKind::kLinear:
      case ModuleKind::kEmbedding:
      case ModuleKind::kRouter:
      case ModuleKind::kMixer: return Weighted(m);
      case ModuleKind::kNorm: return Norm(m);
      case ModuleKind::kAttention:
      case ModuleKind::kMul: return Join(m);
      case ModuleKind::kAdd: return Add(m);
      case ModuleKind::kExperts: return Experts(m);
      case ModuleKind::kContainer: break;
    }
    return {};
  }
};

}  // namespace

bool PropagatePlacements(Analysis& a, Diagnostics& diags) {
  if (a.opts.tp > 1) {
    int before = diags.errors();
    Propagator(a, diags).Run();
    return diags.errors() == before;
  }
  // At tp 1 every tensor is whole on the one rank, so no layout disagreement changes a value (and
  // NeMo does not apply a plan at all). What tp > 1 would find is worth one warning.
  Diagnostics at_tp(diags.sources());
  Propagator(a, at_tp).Run();
  for (const Diagnostic& d : at_tp.all()) {
    if (d.severity != Severity::kError) continue;
    Diagnostic& w = diags.Report(DiagId::kLayoutsAtTp1, d.loc, {std::to_string(at_tp.errors()), d.message});
    w.layers = d.layers;  // the first error ends the message, so its layers end it too
    for (const Note& n : d.notes) diags.AddNote(w, n.loc, n.message);
    break;
  }
  return true;
}

}  // namespace tpc
