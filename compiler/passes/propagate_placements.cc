// propagate-placements: walks the dataflow in forward order, applies each module's layout rule
// (passes/layout_rules.cc) to the layouts the plan declares, and reports every conflict, placed on
// the plan entries responsible. Under the torch and hf-v4 dialects a plain tensor is re-wrapped with
// the declared layout without any check, so a mismatch there is silently wrong results rather than a
// crash (pytorch#119343, Automodel #652).
#include "passes/layout_rules.h"

namespace tpc {
namespace {

class Propagator {
 public:
  Propagator(const Resolved& a, Diagnostics& diags) : a_(a), diags_(diags), mods_(a.model.modules()) {}

  // Walks the dataflow; returns the layouts it found.
  Layouts Run() {
    out_.output.assign(mods_.size(), Activation{});
    out_.head_sharded.assign(mods_.size(), 0);
    for (int m : a_.flow.order) {
      std::vector<Activation> in;
      for (int producer : mods_[m].inputs) in.push_back(out_.output[producer]);
      LayoutStep step = ApplyRule(a_, m, in);
      out_.head_sharded[m] = step.head_sharded;
      Activation out = step.declared;
      int block = ReducingBlockLeft(a_, m);
      if (block >= 0) {
        ReducesOnce(block, out, &step.conflicts);
        out = {Layout::kReplicate, true, m};
      }
      for (const Conflict& c : step.conflicts) Report(m, c);
      out_.output[m] = out;
    }
    agg_.Flush(diags_, a_.model.num_layers);
    return std::move(out_);
  }

 private:
  const Resolved& a_;
  Diagnostics& diags_;
  const std::vector<Module>& mods_;
  LayerAggregator agg_;
  Layouts out_;

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
        if (out_.output[in].layout != Layout::kReplicate) {
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

  // Adds one diagnostic for a conflict of module `m`'s rule; repeats over the layers merge.
  void Report(int m, const Conflict& c) {
    SourceLoc loc;
    std::vector<Note> notes;
    const Activation& got = c.got;
    switch (c.kind) {
      case Conflict::kMismatch: {
        Place(m, got.producer, &loc, &notes);
        std::vector<std::string> args = {Who(m), Describe(c.want), Who(got.producer), Describe(got.layout), c.detail};
        std::string key = "mismatch|" + Generic(m) + "|" + Generic(got.producer);
        for (const std::string& arg : args) key += "|" + arg;
        agg_.Add(key, DiagId::kLayoutMismatch, loc, std::move(args), notes, mods_[m].layer);
        return;
      }
      case Conflict::kUnreduced:
        Place(got.producer, m, &loc, &notes);
        agg_.Add("partial|" + Generic(got.producer) + "|" + c.detail, DiagId::kUnreducedPartial, loc,
                 {Generic(got.producer), c.detail}, notes, mods_[m].layer);
        return;
      case Conflict::kAttention: {
        const Activation& first = c.first;
        Place(got.producer, first.producer, &loc, &notes);
        std::string key = "attn|" + Generic(m) + "|" + Generic(first.producer) + "|" + Generic(got.producer);
        agg_.Add(key, DiagId::kAttentionMixed, loc,
                 {GenericName(mods_[m].name), Describe(first.layout), Generic(first.producer), Describe(got.layout),
                  Generic(got.producer)},
                 notes, mods_[m].layer);
        return;
      }
      case Conflict::kReduce: {
        bool replicated = got.layout == Layout::kReplicate;
        int exit = got.producer;
        agg_.Add("reduce|" + GenericName(mods_[c.block].name), DiagId::kReduceMismatch,
                 a_.EntryLoc(a_.module_entry[c.block]),
                 {a_.Describe(c.block), GenericName(mods_[exit].name), Describe(got.layout) + (replicated ? " already" : ""),
                  replicated ? "the result comes out tp times too large" : "summing slices does not rebuild the tensor"},
                 {}, mods_[exit].layer);
        return;
      }
    }
  }
};

}  // namespace

Layouts PropagatePlacements(const Resolved& a, Diagnostics& diags) {
  if (a.opts.tp > 1) return Propagator(a, diags).Run();
  // At tp 1 every tensor is whole on the one rank, so no layout disagreement changes a value (and
  // NeMo does not apply a plan at all). What tp > 1 would find is worth one warning.
  Diagnostics at_tp(diags.sources());
  Layouts layouts = Propagator(a, at_tp).Run();
  for (const Diagnostic& d : at_tp.all()) {
    if (d.severity != Severity::kError) continue;
    Diagnostic& w = diags.Report(DiagId::kLayoutsAtTp1, d.loc, {std::to_string(at_tp.errors()), d.message});
    w.layers = d.layers;  // the first error ends the message, so its layers end it too
    for (const Note& n : d.notes) diags.AddNote(w, n.loc, n.message);
    break;
  }
  return layouts;
}

}  // namespace tpc
