#include "ir/styles.h"

#include <array>
#include <iterator>

#include "support/strings.h"

namespace tpc {
namespace {

using namespace layouts;  // R, S, Q, P
constexpr bool kLocal = true;
constexpr bool kDTensor = false;

// Shorthands for rows: name, target, split, in, out, local_out, rewraps_input, packed, reduces,
// passthrough, skipped.
constexpr StyleInfo Row(std::string_view name, Target t, WeightSplit w, Layout in, Layout out,
                        bool local, bool rewrap) {
  return {name, t, w, in, out, local, rewrap, false, false, false, nullptr};
}
constexpr StyleInfo Packed(StyleInfo s) { return s.packed = true, s; }
constexpr StyleInfo Pass(std::string_view name, Target t) {
  return {name, t, WeightSplit::kNone, R, R, kLocal, false, false, false, true, nullptr};
}
constexpr StyleInfo Reduce(std::string_view name) {
  return {name, Target::kBlock, WeightSplit::kNone, P, R, kLocal, false, false, true, false, nullptr};
}
// Modifiers for the columns after `skipped`.
constexpr StyleInfo Shorthand(StyleInfo s, std::string_view base) { return s.shorthand_for = base, s; }
constexpr StyleInfo Lora(StyleInfo s, std::string_view lora) { return s.lora = lora, s; }
constexpr StyleInfo LoraClass(StyleInfo s) { return s.lora_class = true, s; }
constexpr StyleInfo Subclass(StyleInfo s, const char* what, LoraCost cost) {
  return s.subclass = what, s.lora_cost = cost, s;
}
constexpr StyleInfo FromHf(StyleInfo s) { return s.from_hf = true, s; }
constexpr StyleInfo LmHeadSharded(StyleInfo s) { return s.hf_lm_head_sharded = true, s; }
constexpr StyleInfo VocabMask(StyleInfo s) { return s.vocab_mask = true, s; }
constexpr StyleInfo GatherHint(StyleInfo s) { return s.gather_hint = true, s; }
constexpr StyleInfo BiasPerRank(StyleInfo s) { return s.bias_per_rank = true, s; }
constexpr StyleInfo DividesByTp(StyleInfo s) { return s.divides_by_tp = true, s; }
constexpr StyleInfo AddedIn(StyleInfo s, const char* v) { return s.added_in = v, s; }
constexpr StyleInfo RemovedIn(StyleInfo s, const char* v) { return s.removed_in = v, s; }
constexpr StyleInfo Skip(std::string_view name, const char* why) {
  return {name, Target::kAny, WeightSplit::kNone, R, R, kLocal, false, false, false, true, why};
}

using T = Target;
using W = WeightSplit;

// torch parallelize_module as NeMo AutoModel drives it (automodel.md §0.1, §1.2, §1.3).
// get_hf_tp_shard_plan translates the exact-type strings of an HF plan (FromHf) and rejects other
// styles but the skipped ones. translate_to_lora (automodel.md §3) turns an exact type into its LoRA
// class (Lora; a _rep shorthand into its base's) and keeps a subclass, at the Subclass cost.
constexpr StyleInfo kTorch[] = {
    FromHf(Lora(Row("colwise", T::kLinearLike, W::kOut, R, S, kLocal, true), "colwise_lora")),
    FromHf(Lora(Row("rowwise", T::kLinearLike, W::kIn, S, R, kLocal, true), "rowwise_lora")),
    // On lm_head the HF translation keeps the logits vocab-sharded: colwise with a Shard(-1) DTensor output.
    GatherHint(LmHeadSharded(
        FromHf(Shorthand(Row("colwise_rep", T::kLinearLike, W::kOut, R, R, kLocal, true), "colwise")))),
    FromHf(Shorthand(Row("rowwise_rep", T::kLinearLike, W::kIn, R, R, kLocal, true), "rowwise")),
    // A plain input is assumed to be sequence-sharded already; the output stays a Shard(1) DTensor.
    FromHf(Lora(Row("sequence_parallel", T::kAny, W::kNone, Q, Q, kDTensor, true), "sequence_parallel_lora")),
    // NeMo's custom styles (automodel.md §2.3). VocabParallelEmbedding is RowwiseParallel on an
    // embedding: vocab rows, masked partial sums reduced to output_layouts (all-reduce, or
    // reduce-scatter for Shard(1)). SequenceParallelAllGatherActivation is a SequenceParallel norm
    // whose sequence-sharded output is all-gathered to Replicate.
    VocabMask(Subclass(Row("vocab_parallel_embedding", T::kEmbedding, W::kIn, R, R, kLocal, true),
                       "VocabParallelEmbedding subclasses RowwiseParallel", LoraCost::kRegrad)),
    Subclass(Row("sequence_parallel_all_gather", T::kAny, W::kNone, Q, R, kDTensor, true),
             "SequenceParallelAllGatherActivation subclasses SequenceParallel", LoraCost::kRegrad),
    // RotaryEmbedParallel wraps the (x, position_ids) inputs of a rotary module; the module is outside
    // the hidden-state dataflow, so for tpc it only has to match.
    Subclass(Pass("rotary_embed_parallel", T::kAny), "RotaryEmbedParallel subclasses SequenceParallel",
             LoraCost::kNothing),
    // NeMo RL's Qwen3QKNorm: a SequenceParallel that accepts the head-sharded q/k (Shard(2) DTensor)
    // and hands it on unchanged; per-head norms need no communication.
    Subclass(Row("qwen3_qk_norm", T::kAny, W::kNone, S, S, kDTensor, true),
             "NeMo RL's Qwen3QKNorm subclasses SequenceParallel", LoraCost::kRegrad),
    // Gemma4's own styles: a masked local embedding with a synchronous all-reduce, and an nn.Linear
    // row split whose partial sums are all-reduced before the bias (automodel.md §2.16).
    VocabMask(Subclass(Row("gemma4_vocab_parallel_embedding", T::kEmbedding, W::kIn, R, R, kLocal, false),
                       "_Gemma4VocabParallelEmbedding is Gemma4's own style", LoraCost::kOwnCode)),
    Subclass(Row("gemma4_rowwise", T::kLinearLike, W::kIn, S, R, kLocal, false),
             "_Gemma4RowwiseParallel is Gemma4's own style", LoraCost::kUnplaced),
    // translate_to_lora's classes (automodel.md §3): the activations of their bases; what differs is
    // where lora_A/lora_B live (passes/lower_parameters.cc) and that requires_grad survives.
    LoraClass(Row("colwise_lora", T::kLinearLike, W::kOut, R, S, kLocal, true)),
    LoraClass(Row("rowwise_lora", T::kLinearLike, W::kIn, S, R, kLocal, true)),
    LoraClass(Row("sequence_parallel_lora", T::kAny, W::kNone, Q, Q, kDTensor, true)),
    Skip("replicated_with_grad_allreduce", "translate_to_torch_parallel_style returns None and the key is dropped"),
    Skip("local_colwise", "HF MoE styles are skipped before translation, so the module stays replicated"),
    Skip("local_rowwise", "HF MoE styles are skipped before translation, so the module stays replicated"),
    Skip("gather", "HF MoE styles are skipped before translation, so the module stays replicated"),
    Skip("ep_router", "styles starting with 'ep_' are skipped, so the module stays replicated"),
};

// transformers 4.51-4.57: DTensor styles plus the local_* family (hf_tp.md §1.3).
constexpr StyleInfo kHfV4[] = {
    Row("colwise", T::kLinearLike, W::kOut, R, S, kLocal, true),
    Row("rowwise", T::kLinearLike, W::kIn, S, R, kLocal, true),
    GatherHint(Row("colwise_rep", T::kLinearLike, W::kOut, R, R, kLocal, true)),
    Row("rowwise_rep", T::kLinearLike, W::kIn, R, R, kLocal, true),
    // local_* styles install no hooks: the maths stays local and a parent `gather` must reduce.
    Row("local_colwise", T::kLinearLike, W::kOut, R, S, kLocal, false),
    BiasPerRank(Row("local_rowwise", T::kLinearLike, W::kIn, S, P, kLocal, false)),
    BiasPerRank(Packed(Row("local_packed_rowwise", T::kLinearLike, W::kIn, S, P, kLocal, false))),
    DividesByTp(Pass("local", T::kAny)),
    Reduce("gather"),
    Row("sequence_parallel", T::kAny, W::kNone, R, R, kLocal, true),
    Pass("replicate", T::kAny),
    Row("grouped_gemm", T::kExpertParam, W::kExperts, R, P, kLocal, false),
    Pass("ep_router", T::kAny),
};

// transformers >= 5.1: plain local tensors and custom autograd collectives (hf_tp.md §1.2). The
// rows marked AddedIn / RemovedIn are the differences between 5.7.0's ParallelInterface and
// 5.24.0's ALL_PARALLEL_STYLES (distributed/tensor_parallel.py and expert_parallel.py), read from
// the installed packages.
constexpr StyleInfo kHfV5[] = {
    Row("embedding_rowwise", T::kEmbedding, W::kEmbedVocab, R, R, kLocal, false),
    GatherHint(Row("colwise_gather_output", T::kLinearLike, W::kOut, R, R, kLocal, false)),
    Row("colwise", T::kLinearLike, W::kOut, R, S, kLocal, false),
    Row("rowwise", T::kLinearLike, W::kIn, S, R, kLocal, false),
    Row("rowwise_split_input", T::kLinearLike, W::kIn, R, R, kLocal, false),
    Packed(Row("packed_colwise", T::kLinearLike, W::kOut, R, S, kLocal, false)),
    Packed(Row("packed_rowwise", T::kLinearLike, W::kIn, S, R, kLocal, false)),
    // All-gather before and reduce-scatter after, both on the last dim (code reading, hf_tp.md §1.2).
    Row("sequence_parallel", T::kAny, W::kNone, S, S, kLocal, false),
    Row("grouped_gemm", T::kExpertParam, W::kExperts, R, P, kLocal, false),
    // 5.24 refuses it: "The `ep_router` style was removed" (mixin.py, _resolve_parallel_plans).
    RemovedIn(Pass("ep_router", T::kAny), "5.24.0"),
    Reduce("moe_tp_experts"),
    Row("embedding_colwise", T::kEmbedding, W::kEmbedHidden, R, R, kLocal, false),
    Pass("moe_identity_expert", T::kAny),
    Pass("replicated_with_grad_allreduce", T::kAny),
    Row("mla_kv_a_proj", T::kLinearLike, W::kNone, R, R, kLocal, false),
    // 5.24 registers the v4 names again, with the layouts of their 5.1 renames:
    // ColwiseParallel(input Replicate, output Replicate) and RowwiseParallel(Replicate, Replicate).
    AddedIn(GatherHint(Row("colwise_rep", T::kLinearLike, W::kOut, R, R, kLocal, false)), "5.24.0"),
    AddedIn(Row("rowwise_rep", T::kLinearLike, W::kIn, R, R, kLocal, false), "5.24.0"),
    // AllReduceParallel: no parameter of its own; the module's output, partial when plain, is
    // all-reduced to Replicate (inkling's shared_experts block).
    AddedIn(Reduce("all_reduce"), "5.24.0"),
    // LocalParamsParallel: runs the module's forward with its parameters as local tensors and no
    // hook on the activations; its parameters are sharded by their own entries (attention sinks).
    AddedIn(Pass("local_params", T::kAny), "5.24.0"),
    // The TensorParallelLayer base itself: nothing sharded, no hooks (a per-tensor quant scale).
    AddedIn(Pass("replicate", T::kAny), "5.24.0"),
    // EpDispatchExpertsParallel on the experts module: whole experts per rank (grouped_gemm on its
    // parameters), dispatched and summed by the EP implementation, so the block's output is whole.
    AddedIn(Reduce("ep_dispatch_experts"), "5.24.0"),
};

// transformers 5.1 renamed the v4 vocabulary (hf_tp.md §1.1); vLLM's _normalize_tp_style agrees.
constexpr std::pair<std::string_view, std::string_view> kV5Renames[] = {
    {"colwise_rep", "colwise_gather_output"}, {"rowwise_rep", "rowwise_split_input"},
    {"local_colwise", "colwise"},             {"local_rowwise", "rowwise"},
    {"local_packed_rowwise", "packed_rowwise"},
};

template <size_t N>
const StyleInfo* Lookup(const StyleInfo (&table)[N], std::string_view name) {
  for (const StyleInfo& s : table)
    if (s.name == name) return &s;
  return nullptr;
}

template <size_t N>
std::string_view GatherHintOf(const StyleInfo (&table)[N]) {
  for (const StyleInfo& s : table)
    if (s.gather_hint) return s.name;
  return {};
}

template <size_t N>
void Names(const StyleInfo (&table)[N], std::vector<std::string>* out) {
  for (const StyleInfo& s : table) out->emplace_back(s.name);
}

}  // namespace

const char* DialectName(Dialect d) {
  switch (d) {
    case Dialect::kTorch: return "torch";
    case Dialect::kHfV4: return "hf-v4";
    case Dialect::kHfV5: return "hf-v5";
  }
  return "?";
}

std::optional<Dialect> ParseDialect(std::string_view s) {
  if (s == "torch") return Dialect::kTorch;
  if (s == "hf-v4") return Dialect::kHfV4;
  if (s == "hf-v5") return Dialect::kHfV5;
  return std::nullopt;
}

const StyleInfo* FindStyle(Dialect dialect, std::string_view name) {
  switch (dialect) {
    case Dialect::kTorch:
      if (name.substr(0, 3) == "ep_") return Lookup(kTorch, "ep_router");
      return Lookup(kTorch, name);
    case Dialect::kHfV4: return Lookup(kHfV4, name);
    case Dialect::kHfV5: return Lookup(kHfV5, name);
  }
  return nullptr;
}

std::vector<std::string> StyleNames(Dialect dialect) {
  std::vector<std::string> out;
  switch (dialect) {
    case Dialect::kTorch: Names(kTorch, &out); break;
    case Dialect::kHfV4: Names(kHfV4, &out); break;
    case Dialect::kHfV5: Names(kHfV5, &out); break;
  }
  return out;
}

std::string_view GatherStyle(Dialect dialect) {
  switch (dialect) {
    case Dialect::kTorch: return GatherHintOf(kTorch);
    case Dialect::kHfV4: return GatherHintOf(kHfV4);
    case Dialect::kHfV5: return GatherHintOf(kHfV5);
  }
  return {};
}

std::vector<std::string> DialectsKnowing(std::string_view name, Dialect d) {
  std::vector<std::string> out;
  for (Dialect other : {Dialect::kTorch, Dialect::kHfV4, Dialect::kHfV5})
    if (other != d && FindStyle(other, name)) out.emplace_back(DialectName(other));
  return out;
}

std::string RenameHint(std::string_view style, Dialect d) {
  for (auto [old_name, new_name] : kV5Renames) {
    if (d == Dialect::kHfV5 && style == old_name)
      return "; transformers 5.1 renamed it '" + std::string(new_name) + "'";
    if (d != Dialect::kHfV5 && style == new_name && !FindStyle(d, style))
      return "; before transformers 5.1 it was '" + std::string(old_name) + "'";
  }
  return "";
}

std::string UnknownStyleHint(std::string_view style, Dialect d, bool switchable) {
  if (std::string renamed = RenameHint(style, d); !renamed.empty()) return renamed;
  std::string hint = DidYouMean(style, StyleNames(d));
  if (!hint.empty()) return "; did you mean '" + hint + "'?";
  std::vector<std::string> others = DialectsKnowing(style, d);
  if (!others.empty()) return "; it is a style of " + Join(others, " and ") + (switchable ? " (--dialect)" : "");
  return "; known styles: " + Join(StyleNames(d), ", ");
}

namespace {

// "5.24.0" -> {5, 24, 0}; missing parts are 0.
std::array<int, 3> VersionParts(const std::string& v) {
  std::array<int, 3> out{0, 0, 0};
  size_t i = 0;
  for (int& part : out) {
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') part = part * 10 + (v[i++] - '0');
    if (i < v.size() && v[i] == '.') ++i;
  }
  return out;
}

}  // namespace

bool StyleInRelease(const StyleInfo& s, const std::string& version, std::string* why) {
  std::array<int, 3> v = VersionParts(version);
  if (s.added_in && v < VersionParts(s.added_in)) {
    if (why) *why = std::string("the first release tpc knows with it is ") + s.added_in;
    return false;
  }
  if (s.removed_in && v >= VersionParts(s.removed_in)) {
    if (why) *why = std::string("transformers ") + s.removed_in + " no longer has it";
    return false;
  }
  return true;
}

Placement ParamPlacement(const StyleInfo* style, Dialect dialect, const Module& m, const Param& p) {
  if (!style || style->skipped || style->split == WeightSplit::kNone) return {};
  int rank = static_cast<int>(p.shape.size());
  if (rank == 0) return {};
  WeightSplit w = style->split;
  if (m.kind == ModuleKind::kEmbedding && dialect != Dialect::kHfV5) {
    // torch's ColwiseParallel shards an embedding on dim 1, RowwiseParallel on dim 0 (vocab).
    if (w == WeightSplit::kOut) w = WeightSplit::kEmbedHidden;
    if (w == WeightSplit::kIn) w = WeightSplit::kEmbedVocab;
  }
  bool is_bias = rank == 1 || (m.kind == ModuleKind::kExperts && p.name.find("bias") != std::string::npos);
  switch (w) {
    case WeightSplit::kNone: return {};
    case WeightSplit::kOut: return {Placement::kShard, is_bias ? rank - 1 : rank - 2};
    case WeightSplit::kIn:
      // A rowwise bias is replicated and added once after the reduce.
      if (is_bias) return {};
      return {Placement::kShard, rank - 1};
    case WeightSplit::kEmbedVocab: return {Placement::kShard, 0};
    case WeightSplit::kEmbedHidden: return {Placement::kShard, rank == 1 ? 0 : 1};
    case WeightSplit::kExperts: return {Placement::kShard, 0};
  }
  return {};
}

}  // namespace tpc
