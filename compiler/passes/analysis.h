#ifndef TPC_PASSES_ANALYSIS_H_
#define TPC_PASSES_ANALYSIS_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/model_graph.h"
#include "ir/placement.h"
#include "ir/plan.h"
#include "ir/release.h"
#include "ir/styles.h"
#include "support/diagnostics.h"

namespace tpc {

/// What `tpc check` is asked about.
struct CheckOptions {
  int tp = 1;
  Dialect dialect = Dialect::kHfV5;
  bool kv_replication = false;  ///< replicate KV heads over tp/kv ranks when kv < tp (vLLM)
  bool sequence_parallel = false;  ///< SP was requested (a plan may ignore it)
  RuntimeRelease transformers;     ///< the transformers release whose behaviour the hf dialects model
};

/// A plan key's match: a module, or one parameter of it (param >= 0; hf-v5 parameter keys).
struct Match {
  int module = -1;
  int param = -1;
};

/// What is checked: the model, the plan and the options, plus the model's dataflow.
struct Subject {
  Subject(const ModelGraph& m, const Plan& p, CheckOptions o);

  const ModelGraph& model;
  const Plan& plan;
  CheckOptions opts;
  Dataflow flow;  ///< the model's forward order and users, computed once
};

/// What resolve-plan computes: where each plan entry applies.
struct Resolution {
  std::vector<std::string> full_keys;             ///< per entry: key from the root module
  std::vector<const StyleInfo*> entry_style;      ///< per entry; nullptr when the dialect lacks it
  std::vector<std::vector<Match>> matches;       ///< per entry
  std::vector<int> module_entry;                  ///< per module: entry whose hooks apply, or -1
  std::vector<std::vector<int>> param_entry;      ///< per module, per param: entry slicing it, or -1
};

/// What propagate-placements computes: the layouts the plan declares, module by module.
struct Layouts {
  std::vector<Activation> output;   ///< per module: its output activation
  std::vector<char> head_sharded;   ///< per module: attention running on 1/tp of the heads
};

/// A subject with its plan resolved: what check-styles and propagate-placements read.
struct Resolved : Subject, Resolution {
  Resolved(Subject s, Resolution r) : Subject(std::move(s)), Resolution(std::move(r)) {}

  /// The style in effect for an entry, or nullptr when unknown or dropped by the runtime.
  const StyleInfo* EffectiveStyle(int entry) const;
  /// The placement of parameter `param` of module `module`.
  Placement ParamPlacementOf(int module, int param) const;
  /// Where to point at for an entry: its style value.
  SourceLoc EntryLoc(int entry) const { return plan.entries[entry].style_loc; }
  /// The entry that shards `module` (hooks first, then its weight), or -1.
  int EntryFor(int module) const;
  /// A plan-facing description: "'model.layers.*.mlp.up_proj' (colwise)".
  std::string Describe(int module) const;
};

/// Everything the check passes found, as the later checks and the lowering passes read it.
struct Analysis : Resolved, Layouts {
  Analysis(Resolved r, Layouts l) : Resolved(std::move(r)), Layouts(std::move(l)) {}
};

/// What a module assumes about its input and produces, once plan entry and dialect are applied.
struct Behaviour {
  bool styled = false;   ///< a plan entry (or a parameter key) shapes it
  bool rewraps = false;  ///< DTensor style: plain inputs are wrapped unchecked
  bool passthrough = false;
  bool reduces = false;  ///< all-reduces the partial output of the block it is on
  WeightSplit split = WeightSplit::kNone;
  Layout in = Layout::kReplicate;   ///< the layout it declares for its input
  Layout out = Layout::kReplicate;  ///< the layout it hands on
  bool local_out = true;
};

/// The behaviour of module `m` under the analysed plan.
Behaviour BehaviourOf(const Resolved& a, int m);

/// A module name with every numeric path segment as '*': model.layers.*.mlp.up_proj.
std::string GenericName(const std::string& name);

/// Merges diagnostics that repeat in every layer into one, counting the layers.
class LayerAggregator {
 public:
  /// Records one occurrence; `key` identifies the problem independent of the layer.
  void Add(const std::string& key, DiagId id, SourceLoc loc, std::vector<std::string> args,
           std::vector<Note> notes, int layer);
  /// Reports every distinct problem once, with the layers it repeats in as its `layers`.
  void Flush(Diagnostics& diags, int num_layers);

 private:
  struct Item {
    DiagId id;
    SourceLoc loc;
    std::vector<std::string> args;
    std::vector<Note> notes;
    std::vector<int> layers;
  };
  std::vector<std::pair<std::string, Item>> items_;
  std::map<std::string, size_t> index_;
};

/// Formats layer indices compactly: "0-31" or "2, 5, 9".
std::string LayerList(const std::vector<int>& layers);

// The check passes, in the order CheckPasses() runs them. Each reports every problem it finds; a
// checker returns false when one was an error. The two producers compute what the checkers after
// them read, so a checker's parameter type says which producers must have run.
Resolution ResolvePlan(const Subject& s, Diagnostics& diags);
bool CheckCheckpoint(const Resolved& a, Diagnostics& diags);
bool CheckStyles(const Resolved& a, Diagnostics& diags);
Layouts PropagatePlacements(const Resolved& a, Diagnostics& diags);
bool CheckDivisibility(const Analysis& a, Diagnostics& diags);
bool CheckFused(const Analysis& a, Diagnostics& diags);
bool CheckTied(const Analysis& a, Diagnostics& diags);
bool CheckSeedDefects(const Analysis& a, Diagnostics& diags);
bool CheckQuantization(const Analysis& a, Diagnostics& diags);

/// A named pass of the check pipeline that computes a `Result` from an `In`.
template <typename In, typename Result>
struct Producer {
  const char* name;
  Result (*run)(const In&, Diagnostics&);
};

/// A named check pass that reads an `In` and reports.
template <typename In>
struct Checker {
  const char* name;
  bool (*run)(const In&, Diagnostics&);
};

/// The check pipeline, in the one order `tpc check` and `tpc compile` run it: resolve-plan,
/// check-checkpoint, check-styles, propagate-placements, check-divisibility, check-fused,
/// check-tied, check-seed-defects, check-quantization. It is the order of the diagnostics, so part of the output. A checker of a
/// `Resolved` cannot be put after propagate, nor one of an `Analysis` before it.
struct CheckPipeline {
  Producer<Subject, Resolution> resolve;
  std::vector<Checker<Resolved>> on_resolution;  ///< after resolve, before propagate
  Producer<Resolved, Layouts> propagate;
  std::vector<Checker<Analysis>> on_layouts;     ///< after propagate

  /// The pass names in the order they run.
  std::vector<std::string> Names() const;
};

/// The one check pipeline.
const CheckPipeline& CheckPasses();

/// Runs every check pass on a loaded model and plan; returns false when errors were reported.
bool RunCheck(const ModelGraph& model, const Plan& plan, const CheckOptions& opts, Diagnostics& diags);
/// The same, keeping the analysis for the compile passes that follow; nullopt when a pass reported
/// an error (with `keep_going`, only when one was fatal: tpc verify runs rejected plans).
std::optional<Analysis> RunChecks(const ModelGraph& model, const Plan& plan, const CheckOptions& opts,
                                  Diagnostics& diags, bool keep_going = false);

}  // namespace tpc

#endif  // TPC_PASSES_ANALYSIS_H_
