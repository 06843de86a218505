#ifndef TPC_IR_PROGRAM_H_
#define TPC_IR_PROGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/placement.h"

namespace tpc {

/// The version of program.json that this compiler writes (schemas/program.schema.json).
inline constexpr int kProgramVersion = 2;

/// A row range of a source tensor along the sharded dim: what one rank reads.
struct Slice {
  std::string segment;  ///< fused segment name (q, k, v, gate, up), empty for a plain chunk
  int64_t start = 0;
  int64_t length = 0;
};

/// What a program entry is.
enum class EntryKind {
  kParam,  ///< a parameter of the module tree (or one stored piece of one)
  kScale,  ///< an FP8 block scale (weight_scale_inv) of another entry: sliced in whole blocks
  kExtra,  ///< a stored tensor the model does not use or tpc does not model: replicated
  kLora,   ///< a new LoRA adapter (no stored tensor)
};

/// How a bias joins the partial sums of a linear whose weight is split on its in features, where
/// the program says (other biases are each rank's own columns, or whole on every rank).
enum class BiasJoin {
  kNone,       ///< not such a bias
  kOnce,       ///< added once: after the reduction (transformers 5), or by DTensor's Partial rule
  kEveryRank,  ///< each rank adds it whole to its partial sum: the reduction counts it tp times
  kDivided,    ///< each rank adds it divided by tp (hf-v4 `local`): the reduction counts it once
};

/// One tensor as the program places it. With a checkpoint, one entry per stored tensor (by its
/// stored name and file) plus the entries that read another's tensor (a tied lm_head); without,
/// one per module-tree parameter. A rank's local tensor is its slices of `source`, concatenated
/// in order along placement.dim; a rank outside `owners` holds nothing.
struct ProgramParam {
  std::string name;    ///< stored name, or the module-tree name in a config-only program
  std::string file;    ///< checkpoint file holding `source`, relative to the checkpoint; "" when none
  std::string source;  ///< tensor it is read from (differs for a tied lm_head); "" for a LoRA adapter
  std::string dtype;   ///< safetensors dtype name of the stored tensor: BF16, F8_E4M3
  EntryKind kind = EntryKind::kParam;
  std::string tree;    ///< module-tree parameter it is (part of): model.layers.0.mlp.experts.gate_up_proj
  int expert = -1;     ///< per-expert stored tensor: its index along the tree parameter's dim 0
  std::string scales;  ///< kScale: the entry whose block scales it holds
  std::vector<int64_t> block;  ///< kScale: the quantisation block [rows, cols]
  std::string what;    ///< kExtra: what it is ("vision tower"), "unknown" when no template says
  std::string module;
  int layer = -1;
  std::vector<int64_t> global_shape;
  Placement placement;
  int replicas = 1;  ///< ranks holding the same shard (KV heads replicated over tp/kv ranks)
  std::vector<std::vector<Slice>> ranks;  ///< per rank, the ranges along placement.dim; empty if replicated
  std::vector<int> owners;  ///< the ranks holding it (expert parallelism: whole or nothing); empty: all
  std::string adapter;  ///< "lora_A", "lora_B" for LoRA adapters, else empty
  BiasJoin bias = BiasJoin::kNone;
  /// A vocab-sharded embedding: per rank, the token id its first row answers. The runtime masks
  /// ids outside [offset, offset + rows); transformers 5.7 offsets by rank x own rows, which is
  /// not where the rows start on a shorter last rank.
  std::vector<int64_t> vocab_offsets;

  /// The shape rank `r` holds (an owner's shape when `r` owns nothing, see HeldBy).
  std::vector<int64_t> LocalShape(int r) const;
  /// True when rank `r` holds any of it.
  bool HeldBy(int r) const;
};

/// How a program names its tensors.
enum class Naming {
  kModuleTree,  ///< config-only: transformers' module-tree names, no files
  kCheckpoint,  ///< one entry per stored tensor of the checkpoint, with its file
};

/// One input file of a compile, hashed so a consumer can tell the program matches its inputs.
struct InputFile {
  std::string path;    ///< as given (a bundled plan: its name, "hf/llama.yaml")
  std::string sha256;  ///< lowercase hex of the whole file (a checkpoint shard: of its 8 + N header bytes)
  int64_t bytes = 0;   ///< the file's size
};

/// What a program was compiled from.
struct ProgramInputs {
  std::string tpc_version;
  InputFile config;
  InputFile plan;        ///< path empty when no plan file (the seed's automatic choice)
  bool bundled_plan = false;
  std::string checkpoint_dir;  ///< empty in a config-only program
  InputFile index;             ///< model.safetensors.index.json; path empty for a single file
  std::vector<InputFile> shards;  ///< every .safetensors file read, header hashed
};

enum class CollectiveKind { kAllReduce, kAllGather, kReduceScatter, kAllToAll };

/// A redistribution that moves data between ranks, in forward order.
struct Collective {
  CollectiveKind kind;
  std::string after;   ///< module whose output it redistributes
  std::string before;  ///< first module that consumes the result
  int layer = -1;
  Layout from = Layout::kReplicate;
  Layout to = Layout::kReplicate;
  int64_t elements_per_token = 0;  ///< of the full (unsharded) activation
  int64_t bytes_per_token = 0;     ///< elements × activation dtype size
  double send_bytes_per_token = 0; ///< what one rank sends per token with a ring algorithm
  int steps = 0;                   ///< ring steps, each paying the per-hop latency
  /// A Shard(-1) side that does not split evenly over tp: the elements per token once every rank's
  /// torch.chunk piece is padded to the largest (ceil(n / tp) x tp), as DTensor's uneven all-gather
  /// and reduce-scatter pad them; 0 when the split is even.
  int64_t padded_elements_per_token = 0;
};

/// A module attribute the runtime rewrites on each rank (NeMo's head-count update).
struct Attribute {
  std::string module;
  std::string name;  ///< num_heads, num_key_value_heads
  int64_t value = 0;
  int64_t global = 0;
};

/// One dataflow edge with the layout it carries: for `tpc explain` and `--dot`.
struct FlowEdge {
  int from = -1;  ///< module id, -1 for the model input
  int to = -1;
  Layout layout = Layout::kReplicate;  ///< as the consumer receives it
  int collective = -1;                 ///< index into collectives when one runs on this edge
};

/// What one module does on each rank: for `tpc explain` and `--dot`.
struct ModuleStep {
  int module = -1;
  Layout in = Layout::kReplicate;
  Layout out = Layout::kReplicate;  ///< after its own output redistribution
  std::vector<int> collectives;     ///< indices into collectives that run right after it
  bool local_slice = false;         ///< a replicated input or output is sliced locally (R -> S, no traffic)
  bool output_sliced = false;       ///< its own replicated result is sliced to `out` before any consumer
};

/// The link model of the α-β estimate.
struct LinkModel {
  double gbps = 450;           ///< per-direction bandwidth in GB/s (NVLink4: 450)
  double launch_us = 6.6;      ///< fixed cost of one collective (DTensor's cost model)
  double hop_us = 0.6;         ///< latency of one ring step within a node (DTensor's cost model)
  int64_t tokens = 4096;       ///< tokens per forward pass that share each collective's latency
};

struct ProgramSummary {
  std::vector<int64_t> param_bytes_per_rank;
  int64_t param_bytes_total = 0;          ///< the unsharded model
  int64_t traffic_bytes_per_token = 0;    ///< sum of bytes_per_token over all collectives
  int64_t layer_traffic_bytes_per_token = 0;  ///< the same for one decoder layer (layer 0)
  double send_bytes_per_token = 0;        ///< per rank, with ring factors
  double comm_us_per_token = 0;           ///< α-β estimate per token
};

/// The compiled sharding program: what each rank holds and which collectives the forward pass needs.
struct Program {
  Naming naming = Naming::kModuleTree;
  ProgramInputs inputs;
  std::string model_type;
  std::string dtype;
  int tp = 1;
  bool sequence_parallel = false;
  bool lora = false;
  int lora_rank = 0;
  bool kv_replication = false;
  std::string dialect;
  LinkModel link;
  std::vector<ProgramParam> params;
  std::vector<Collective> collectives;
  std::vector<Attribute> attributes;
  std::vector<ModuleStep> steps;  ///< forward order, dataflow modules only
  std::vector<FlowEdge> edges;
  ProgramSummary summary;
};

const char* CollectiveName(CollectiveKind k);
/// "once", "every_rank", "divided" ("" for kNone).
const char* BiasJoinName(BiasJoin b);
/// "param", "scale", "extra", "lora".
const char* EntryKindName(EntryKind k);
/// "module-tree", "checkpoint".
const char* NamingName(Naming n);
/// The safetensors name of a torch dtype ("bfloat16" -> "BF16"), or "" when it has none.
std::string SafetensorsDtypeOf(const std::string& torch_dtype);
/// "replicate", "shard(0)", ... for a layout of a [batch, seq, hidden] activation.
std::string LayoutName(Layout l);
/// Bytes of one element of a torch dtype name ("bfloat16" -> 2), or 0 when unknown.
int DtypeBytes(const std::string& dtype);
/// The dtype names DtypeBytes knows, for messages: "bfloat16, float16, ... or float8_e5m2".
std::string DtypeNames();
/// Rows [begin, end) of a tensor.
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};
/// torch.chunk's split of `n` rows over `k` ranks: the rows rank r holds. Chunks are ceil(n / k)
/// rows, so the last ranks may hold fewer or none ("n 10, k 4": 3, 3, 3, 1). Empty for bad arguments.
RowRange ChunkRange(int64_t n, int64_t k, int64_t r);
/// ChunkRange as a Slice: rank r's (start, length), the start moved by `offset`.
Slice ChunkOf(int64_t n, int k, int r, int64_t offset = 0);

}  // namespace tpc

#endif  // TPC_IR_PROGRAM_H_
