#ifndef TPC_IR_MODEL_GRAPH_H_
#define TPC_IR_MODEL_GRAPH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/checkpoint.h"
#include "support/source_manager.h"

namespace tpc {

/// What a module computes; decides which placement rule applies to it.
enum class ModuleKind {
  kContainer,  ///< a parent in the module tree with no computation of its own
  kLinear,
  kEmbedding,
  kNorm,
  kAttention,  ///< scaled-dot-product attention over q, k, v (virtual: no nn.Module)
  kAdd,        ///< residual add (virtual)
  kMul,        ///< act(gate) * up (virtual)
  kRouter,     ///< MoE router: needs global expert logits
  kExperts,    ///< fused MoE experts holding 3-D parameters [E, out, in]
  kMixer,      ///< a block tpc does not shard (mamba, linear attention): must stay replicated
};

/// What a module (or an experts parameter) is in its architecture; checks that care ask by role.
/// The names are the `role` enum of schemas/arch.schema.json.
enum class Role {
  kNone,
  kEmbed,             ///< embed
  kLmHead,            ///< lm_head
  kNorm,              ///< norm
  kAttnQ,             ///< attn_q
  kAttnK,             ///< attn_k
  kAttnV,             ///< attn_v
  kAttnKv,            ///< attn_kv: MLA's kv_b_proj
  kAttnQkv,           ///< attn_qkv: fused [Q | K | V]
  kAttnO,             ///< attn_o
  kAttnLinear,        ///< attn_linear: a linear standing in for attention (nemotron-nas)
  kMlaQA,             ///< mla_q_a: MLA's q down-projection
  kMlaKvA,            ///< mla_kv_a: MLA's kv down-projection
  kMlpGate,           ///< mlp_gate
  kMlpUp,             ///< mlp_up
  kMlpGateUp,         ///< mlp_gate_up: fused [gate | up]
  kMlpDown,           ///< mlp_down
  kMlpLinear,         ///< mlp_linear: a linear standing in for the MLP (nemotron-nas)
  kRouter,            ///< router
  kSharedExpertGate,  ///< shared_expert_gate
  kMixer,             ///< mixer
  kGateUp,            ///< gate_up: an experts parameter
  kDown,              ///< down: an experts parameter
};

/// The architecture file's name of a role ("attn_q"); "" for kNone.
const char* RoleName(Role r);
/// The role an architecture file names, or nullopt for a name that is none.
std::optional<Role> ParseRole(std::string_view name);
/// Every role name, in enum order (for did-you-mean and the schema test).
std::vector<std::string> RoleNames();
/// attn_q, attn_k, attn_v, attn_kv, attn_qkv, attn_o, attn_linear: the projections of an attention block.
bool IsAttentionRole(Role r);

/// How the rows of a fused projection are ordered.
enum class FusedLayout {
  kNone,
  kConcat,   ///< [Q | K | V] or [gate | up]: contiguous segments
  kPerHead,  ///< per-head interleaved (gpt_neox query_key_value): a contiguous chunk holds whole heads
};

/// One tensor of a module, e.g. `weight` [out, in].
struct Param {
  std::string name;  ///< local name: weight, bias, gate_up_proj
  std::vector<int64_t> shape;
  Role role = Role::kNone;  ///< for experts: gate_up, down
};

/// A row range of a fused parameter, e.g. the K rows of qkv_proj.
struct Segment {
  std::string name;
  int64_t rows = 0;
};

/// A module of the expanded model: a node of the module tree and, unless a container, of the dataflow.
struct Module {
  std::string name;  ///< fully qualified: model.layers.7.self_attn.q_proj
  ModuleKind kind = ModuleKind::kContainer;
  Role role = Role::kNone;  ///< attn_q, attn_o, mlp_down, embed, lm_head, ...
  int layer = -1;      ///< decoder layer index, -1 outside the layers
  bool is_virtual = false;  ///< exists only in the dataflow; plan keys never match it
  bool per_head = false;    ///< a norm over head_dim (qwen3 q_norm): fine on head-sharded input
  std::vector<Param> params;
  FusedLayout fused = FusedLayout::kNone;
  std::vector<Segment> segments;
  int64_t heads = 0;     ///< attention: query heads
  int64_t kv_heads = 0;  ///< attention: key/value heads
  std::vector<int> inputs;  ///< dataflow predecessors (module ids)
  int tied_to = -1;         ///< module whose weight this module's weight is
  int parent = -1;          ///< enclosing module in the tree (virtual ops too), -1 at the root
};

/// The dataflow in forward order, with each module's consumers.
struct Dataflow {
  std::vector<int> order;               ///< dataflow modules in forward order; empty on a cycle
  std::vector<std::vector<int>> users;  ///< per module: its dataflow successors, in forward order
};

/// The expanded model: module tree, parameters and dataflow, plus the config facts checks need.
class ModelGraph {
 public:
  /// Adds a module (and any missing parent containers); returns its id.
  int Add(Module m);
  /// Reserves room for `n` modules.
  void Reserve(size_t n) {
    modules_.reserve(n);
    by_name_.reserve(n);
  }
  /// Returns the id of a module by name, or -1.
  int Find(std::string_view name) const;
  /// Returns the dataflow modules in forward order (Boost.Graph topological sort); false on a cycle.
  bool ForwardOrder(std::vector<int>* order) const;
  /// The forward order and the users of every module (none on a cycle).
  Dataflow Flow() const;
  /// True when module `m` lies (at any depth) inside module `container`.
  bool Inside(int m, int container) const;

  std::vector<Module>& modules() { return modules_; }
  const std::vector<Module>& modules() const { return modules_; }
  const Module& at(int id) const { return modules_[id]; }

  std::string model_type;
  std::string family;       ///< the architecture template that expanded it
  std::string base_prefix;  ///< where base_model_tp_plan keys are rooted: model, gpt_neox, ...
  int num_layers = 0;
  std::string dtype;  ///< the config's torch_dtype (or dtype), empty when it names none
  std::string architecture;  ///< the config's architectures[0] (the model class), may be empty
  bool custom_code = false;  ///< the config has an auto_map: transformers loads it with trust_remote_code
  int config_file = -1;
  /// Where each config field was set, for notes ("'num_key_value_heads' set here").
  std::map<std::string, SourceLoc> field_locs;
  /// The numeric config fields' values, for notes that name the field behind a size.
  std::map<std::string, double> field_values;
  Quantization quant;        ///< the config's quantization_config
  StoredNames stored_names;  ///< how the family's checkpoints name parameters
  /// The checkpoint's tensors bound to the parameters, when --model is a directory with weights.
  std::shared_ptr<const CheckpointBinding> checkpoint;

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Module> modules_;
  std::unordered_map<std::string, int, NameHash, std::equal_to<>> by_name_;
};

const char* KindName(ModuleKind k);
/// The segments a packed style splits one at a time along a dim of `n` rows of module `m`: the
/// template's fused segments when they add up to `n`, else [gate | up] halves.
std::vector<Segment> PackedSegments(const Module& m, int64_t n);

}  // namespace tpc

#endif  // TPC_IR_MODEL_GRAPH_H_
