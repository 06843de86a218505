#ifndef TPC_IR_STYLES_H_
#define TPC_IR_STYLES_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/model_graph.h"
#include "ir/placement.h"

namespace tpc {

/// Which runtime interprets the plan (DESIGN.md §3).
enum class Dialect {
  kTorch,  ///< torch parallelize_module (NeMo AutoModel, torchtitan): fnmatch per segment
  kHfV4,   ///< transformers 4.51-4.57: digit runs become '*', exact lookup
  kHfV5,   ///< transformers >= 5.1: numeric segments become '*', parameter then module lookup
};

const char* DialectName(Dialect d);
std::optional<Dialect> ParseDialect(std::string_view s);

/// Which tensor dim of a parameter a style splits.
enum class WeightSplit {
  kNone,
  kOut,      ///< dim -2: out features (colwise family)
  kIn,       ///< dim -1: in features (rowwise family)
  kEmbedVocab,   ///< dim 0 of an embedding
  kEmbedHidden,  ///< dim 1 of an embedding
  kExperts,  ///< dim 0 of a 3-D expert tensor (expert parallelism)
};

/// What kind of module a style may be put on.
enum class Target {
  kLinearLike,  ///< nn.Linear, or nn.Embedding where the dialect allows it
  kEmbedding,
  kAny,         ///< any module (sequence_parallel, replicated_with_grad_allreduce)
  kBlock,       ///< a parent block whose output it reduces (gather, moe_tp_experts)
  kExpertParam, ///< a 3-D expert parameter or experts module
};

/// What translate_to_lora costs a subclass style it leaves unconverted (automodel.md §3).
enum class LoraCost {
  kNone,      ///< not such a subclass
  kRegrad,    ///< plain torch partitioning: parameters re-registered with requires_grad=True
  kNothing,   ///< no parameters to lose anything
  kOwnCode,   ///< the style's own code distributes the weight
  kUnplaced,  ///< a linear whose adapters get no LoRA placement
};

/// The semantics of one style string in one dialect: a row of the style table. The columns after
/// `skipped` are facts about NeMo's and the runtimes' handling of the style, each asked by one pass.
struct StyleInfo {
  std::string_view name;
  Target target;
  WeightSplit split;
  Layout in;           ///< the input layout the style assumes
  Layout out;          ///< the output layout it produces
  bool local_out;      ///< hands the next module a plain tensor
  bool rewraps_input;  ///< DTensor style: a plain input is wrapped with `in` unchecked
  bool packed;         ///< interleaved halves of a fused [gate|up] (packed styles)
  bool reduces;        ///< all-reduces the partial output of the block it is on
  bool passthrough;    ///< leaves the activation as it is (no layout change)
  const char* skipped; ///< non-null: the dialect's runtime drops the key, and why
  /// A shorthand for this base style with other layouts (colwise_rep: colwise, output Replicate).
  std::string_view shorthand_for = {};
  std::string_view lora = {};  ///< translate_to_lora's class for this exact type (colwise_lora)
  bool lora_class = false;     ///< one of translate_to_lora's LoRA classes
  const char* subclass = nullptr;      ///< a subclass translate_to_lora keeps: "X subclasses Y"
  LoraCost lora_cost = LoraCost::kNone;  ///< what keeping it costs
  bool from_hf = false;  ///< NeMo's get_hf_tp_shard_plan translates this HF style (others it rejects)
  /// On lm_head that translation keeps the logits vocab-sharded: `shorthand_for` with a Shard(-1)
  /// DTensor output instead of the all-gather.
  bool hf_lm_head_sharded = false;
  bool vocab_mask = false;   ///< a vocab-parallel embedding whose id mask assumes the balanced split
  bool gather_hint = false;  ///< the colwise style with a gathered output, suggested for fused splits
  /// A row split with no hooks: each rank adds the whole bias to its own partial sum, so the
  /// enclosing reduction counts it tp times (hf-v4 local_rowwise inside a gather block).
  bool bias_per_rank = false;
  /// Replicates its parameters divided by tp (hf-v4 `local`, IsolatedParallel): a bias every rank
  /// adds before a sum then counts once.
  bool divides_by_tp = false;
  /// The style vocabulary by transformers release (hf-v5): the first release tpc knows that has the
  /// style, and the first that no longer has it; null: every release of the dialect.
  const char* added_in = nullptr;
  const char* removed_in = nullptr;
};

/// Returns the row for `name` in `dialect`, or nullptr when the dialect does not know it.
const StyleInfo* FindStyle(Dialect dialect, std::string_view name);
/// All style names of a dialect, for did-you-mean and error messages.
std::vector<std::string> StyleNames(Dialect dialect);
/// The dialects other than `d` that know `name` ("colwise_rep" is hf-v4 and torch, not hf-v5).
std::vector<std::string> DialectsKnowing(std::string_view name, Dialect d);

/// What to tell a user whose `style` `d` does not know: "; did you mean 'colwise'?", the
/// transformers 5.1 rename, the dialects that know it (and `--dialect`, when `switchable`), or the
/// known styles.
std::string UnknownStyleHint(std::string_view style, Dialect d, bool switchable = true);
/// The transformers 5.1 rename of `style` as UnknownStyleHint words it, or "".
std::string RenameHint(std::string_view style, Dialect d);

/// Whether transformers `version` ("5.7.0") has style `s` (its added_in / removed_in), and if not,
/// why, in `why`: "transformers 5.24.0 no longer has it".
bool StyleInRelease(const StyleInfo& s, const std::string& version, std::string* why = nullptr);

/// The style to suggest for gathering a colwise output in `dialect` (colwise_rep, colwise_gather_output).
std::string_view GatherStyle(Dialect dialect);

/// The placement `style` gives parameter `p` of module `m` (embedding styles differ per dialect).
Placement ParamPlacement(const StyleInfo* style, Dialect dialect, const Module& m, const Param& p);

}  // namespace tpc

#endif  // TPC_IR_STYLES_H_
