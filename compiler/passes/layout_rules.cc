// The layout rules: one function per module kind says which layouts a module takes, computes in and
// hands on (DTensor/Shardy style op sharding rules, kept apart from the walks that apply them).
// propagate-placements applies them to the layouts the plan declares and reports their conflicts;
// insert-redistributions applies them to the layouts the runtime really has (--sp included) and
// lowers every difference between what arrives and what a module needs to a collective.
#include "passes/layout_rules.h"

namespace tpc {
namespace {

using namespace layouts;  // R, S, Q, P

Conflict Mismatch(const Activation& got, Layout want, std::string why) {
  return {Conflict::kMismatch, got, want, std::move(why), {}, -1};
}

Conflict Unreduced(const Activation& got, std::string consumer) {
  return {Conflict::kUnreduced, got, R, std::move(consumer), {}, -1};
}

Activation First(const std::vector<Activation>& in) { return in.empty() ? Activation{R, true, -1} : in[0]; }

Layout FirstNeed(const LayoutStep& s) { return s.need.empty() ? R : s.need[0]; }

std::string Quoted(const Module& mod) { return "'" + GenericName(mod.name) + "'"; }

// Why a module's input disagreeing with its style's declared layout goes wrong.
std::string Why(const Behaviour& b, const Activation& got, const Module& mod) {
  if (!b.styled) return "'" + GenericName(mod.name) + "' has no plan entry and applies its full weight to a local shard";
  if (b.rewraps && got.local) return "the plain tensor is re-wrapped with the declared layout without a check, so results are silently wrong";
  if (b.rewraps) return "the declared input layout equals the desired one, so nothing redistributes it (Automodel #652)";
  return "the local shapes no longer line up";
}

// Whether DTensor's own op rules compute a row-split linear right on what arrives although the
// style declares something else: a replicated DTensor is sliced locally for the weight's columns
// (no traffic, the same partial sums). A plain tensor is re-wrapped unchecked instead.
bool DTensorSlices(const Behaviour& b, const Activation& x) {
  return b.rewraps && !x.local && x.layout == R && b.in == S && b.split == WeightSplit::kIn;
}

// A style's contract as the plan declares it: input `b.in` (never a partial sum), output `b.out`.
void Declared(const Module& mod, const Behaviour& b, const Activation& x, LayoutStep& s) {
  if (x.layout == P) s.conflicts.push_back(Unreduced(x, Quoted(mod)));
  else if (x.layout != b.in && !DTensorSlices(b, x)) s.conflicts.push_back(Mismatch(x, b.in, Why(b, x, mod)));
  s.declared = {b.out, b.local_out, -1};
}

// Linear, embedding, router, mixer: a weight applied to the input. An active style computes in
// Replicate (Shard(last) for a rowwise linear) and hands on what it declares; anything else runs
// the maths on what arrives, sequence shards gathered first.
LayoutStep Weighted(const Resolved& a, int m, const Behaviour& b, const std::vector<Activation>& in) {
  const Module& mod = a.model.at(m);
  LayoutStep s;
  bool active = b.styled && !b.passthrough;
  bool rowwise = mod.kind == ModuleKind::kLinear && b.split == WeightSplit::kIn;
  for (const Activation& x : in) s.need.push_back(active ? (rowwise ? S : R) : x.layout == Q ? R : x.layout);
  switch (mod.kind) {
    case ModuleKind::kLinear:
      if (!active) s.raw = FirstNeed(s);
      else s.raw = b.split == WeightSplit::kOut ? S : b.split == WeightSplit::kIn ? P : R;
      break;
    case ModuleKind::kEmbedding: {
      Placement w = mod.params.empty() ? Placement{} : a.ParamPlacementOf(m, 0);
      // Vocab rows give masked partial sums; hidden columns a slice.
      s.raw = w.kind != Placement::kShard ? R : w.dim == 0 ? P : S;
      break;
    }
    default: s.raw = R; break;  // router logits, mixers: always whole
  }
  s.out = active ? b.out : s.raw;

  Activation x = First(in);
  if (b.passthrough) {
    s.declared = {x.layout, x.local, -1};
    return s;
  }
  Declared(mod, b, x, s);
  if (mod.kind == ModuleKind::kRouter && s.declared.layout != R) {
    s.conflicts.push_back(Mismatch({s.declared.layout, s.declared.local, m}, R,
                                   "top-k routing needs the global expert logits on every rank"));
    s.declared.layout = R;
  }
  return s;
}

// Norm: elementwise over the sequence, so it keeps what arrives; a sequence-parallel style computes
// on sequence shards and hands on what it declares. A hidden-dim norm cannot take a feature slice.
LayoutStep Norm(const Resolved& a, int m, const Behaviour& b, const std::vector<Activation>& in) {
  const Module& mod = a.model.at(m);
  LayoutStep s;
  bool active = b.styled && !b.passthrough;
  bool seq_style = active && b.in == Q;
  for (const Activation& x : in) s.need.push_back(seq_style ? Q : x.layout);
  s.raw = FirstNeed(s);
  s.out = seq_style ? b.out : s.raw;

  Activation x = First(in);
  if (active) {
    Declared(mod, b, x, s);
    return s;
  }
  s.declared = {x.layout, x.local, -1};
  if (x.layout == P) {
    s.conflicts.push_back(Unreduced(x, Quoted(mod)));
  } else if (x.layout == S && !mod.per_head) {
    s.conflicts.push_back(Mismatch(x, R, "each rank would normalise only its own slice of the hidden dim"));
    s.declared = {R, true, -1};  // one root cause, not one error per consumer
  }
  return s;
}

// Attention and the act(gate)*up product: every operand must be laid out alike. Attention needs
// whole sequences; on Shard(last) operands it runs on 1/tp of the heads. A one-operand product
// chunks a fused [gate | up] in two first: on a plain tensor that is the rank's own rows (right
// when they were packed, check-fused says when not), but DTensor's split rule cannot chunk a dim
// that is sharded, so a Shard(last) DTensor is all-gathered first and the product is replicated
// (NeMo's phi3 plan keeps gate_up_proj's output a DTensor).
LayoutStep Join(const Resolved& a, int m, const std::vector<Activation>& in) {
  const Module& mod = a.model.at(m);
  bool attention = mod.kind == ModuleKind::kAttention;
  LayoutStep s;
  if (!attention && in.size() == 1 && in[0].layout == S && !in[0].local) {
    s.need = {R};
    s.raw = s.out = R;
    s.declared = {R, false, -1};
    return s;
  }
  for (const Activation& x : in) s.need.push_back(attention && x.layout == Q ? R : x.layout);
  s.raw = s.out = FirstNeed(s);

  Activation first = First(in);
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].layout == P) {
      s.conflicts.push_back(Unreduced(in[i], Quoted(mod)));
      s.declared = {R, true, -1};
      return s;
    }
    if (i == 0 || in[i].layout == first.layout) continue;
    if (attention) {
      s.conflicts.push_back({Conflict::kAttention, in[i], first.layout, "", first, -1});
    } else {
      std::string other = first.producer < 0 ? "input" : GenericName(a.model.at(first.producer).name);
      s.conflicts.push_back(Mismatch(in[i], first.layout, "'" + other + "' gives the other operand " +
                                                              Describe(first.layout) +
                                                              ", and an elementwise product needs both alike"));
    }
    s.declared = {first.layout, true, -1};
    return s;
  }
  s.head_sharded = attention && first.layout == S;
  s.declared = {first.layout, first.local, -1};
  return s;
}

// Residual add. Partial sums add up to partial sums (routed + shared experts before the block's
// all-reduce); a partial term next to a replicated one is the bug: it would be reduced tp times or
// never. A sequence-sharded stream (--sp) takes its replicated terms as a local slice.
LayoutStep Add(const Resolved& a, int m, const std::vector<Activation>& in) {
  const Module& mod = a.model.at(m);
  LayoutStep s;
  bool any_seq = false;
  for (const Activation& x : in) any_seq |= x.layout == Q;
  for (const Activation& x : in) s.need.push_back(any_seq && x.layout == R ? Q : x.layout);
  bool all_partial = !s.need.empty();
  for (Layout x : s.need) all_partial &= x == P;
  s.raw = s.out = all_partial ? P : FirstNeed(s);

  bool declared_partial = !in.empty();
  for (const Activation& x : in) declared_partial &= x.layout == P;
  if (declared_partial) {
    s.declared = {P, true, -1};
    return s;
  }
  Layout out = R;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].layout == P) {
      bool residual = mod.name.find("residual") != std::string::npos;
      s.conflicts.push_back(Unreduced(in[i], (residual ? "the residual add '" : "the add '") + GenericName(mod.name) + "'"));
    } else if (in[i].layout == S) {
      s.conflicts.push_back(Mismatch(in[i], R, "the residual stream is replicated, so the sum mixes a slice with the whole"));
    } else if (i == 0) {
      out = in[i].layout;
    }
  }
  s.declared = {out, true, -1};
  return s;
}

// Fused experts take the full hidden states; gate_up split on out features with down on in
// features (tensor parallel), or both on experts (expert parallel), give partial sums, which a
// reducing style on the module all-reduces.
LayoutStep Experts(const Resolved& a, int m, const Behaviour& b, const std::vector<Activation>& in) {
  const Module& mod = a.model.at(m);
  LayoutStep s;
  s.need.assign(in.size(), R);
  s.raw = R;
  for (size_t i = 0; i < mod.params.size(); ++i)
    if (a.ParamPlacementOf(m, static_cast<int>(i)).kind == Placement::kShard) s.raw = P;
  s.out = b.reduces && s.raw == P ? R : s.raw;

  Activation x = First(in);
  if (x.layout != R) s.conflicts.push_back(Mismatch(x, R, "experts take the full hidden states"));
  WeightSplit gate_up = WeightSplit::kNone, down = WeightSplit::kNone;
  for (size_t p = 0; p < mod.params.size(); ++p) {
    const StyleInfo* style = a.EffectiveStyle(a.param_entry[m][p]);
    WeightSplit w = style ? style->split : WeightSplit::kNone;
    if (mod.params[p].role == Role::kGateUp) gate_up = w;
    if (mod.params[p].role == Role::kDown) down = w;
  }
  Layout out = R;
  bool tp_pair = gate_up == WeightSplit::kOut && down == WeightSplit::kIn;
  bool ep_pair = gate_up == WeightSplit::kExperts && down == WeightSplit::kExperts;
  if (tp_pair || ep_pair) {
    out = P;
  } else if (gate_up != WeightSplit::kNone || down != WeightSplit::kNone) {
    s.conflicts.push_back(Mismatch({R, true, m}, R,
                                   "its gate_up and down parameters must be split as a pair (gate_up on out "
                                   "features and down on in features, or both on experts)"));
  }
  s.declared = {out, true, -1};
  if (b.reduces) {
    ReducesOnce(m, {out, true, m}, &s.conflicts);
    s.declared = {R, true, -1};
  }
  return s;
}

// A container computes nothing: what arrives passes through.
LayoutStep Container(const std::vector<Activation>& in) {
  LayoutStep s;
  for (const Activation& x : in) s.need.push_back(x.layout);
  s.raw = s.out = FirstNeed(s);
  return s;
}

}  // namespace

LayoutStep ApplyRule(const Resolved& a, int m, const std::vector<Activation>& in) {
  Behaviour b = BehaviourOf(a, m);
  LayoutStep s;
  switch (a.model.at(m).kind) {
    case ModuleKind::kLinear:
    case ModuleKind::kEmbedding:
    case ModuleKind::kRouter:
    case ModuleKind::kMixer: s = Weighted(a, m, b, in); break;
    case ModuleKind::kNorm: s = Norm(a, m, b, in); break;
    case ModuleKind::kAttention:
    case ModuleKind::kMul: s = Join(a, m, in); break;
    case ModuleKind::kAdd: s = Add(a, m, in); break;
    case ModuleKind::kExperts: s = Experts(a, m, b, in); break;
    case ModuleKind::kContainer: s = Container(in); break;
  }
  s.declared.producer = m;
  return s;
}

int ReducingBlockLeft(const Resolved& a, int m) {
  const std::vector<Module>& mods = a.model.modules();
  const std::vector<int>& users = a.flow.users[m];
  for (int c = mods[m].parent; c >= 0; c = mods[c].parent) {
    if (mods[c].kind != ModuleKind::kContainer) continue;
    const StyleInfo* s = a.EffectiveStyle(a.module_entry[c]);
    if (!s || !s->reduces) continue;
    bool leaves = users.empty();
    for (int u : users) leaves |= !a.model.Inside(u, c);
    if (leaves) return c;
  }
  return -1;
}

bool ReducesOnce(int block, const Activation& got, std::vector<Conflict>* conflicts) {
  if (got.layout == P) return true;
  if (conflicts) conflicts->push_back({Conflict::kReduce, got, P, "", {}, block});
  return false;
}

}  // namespace tpc
