#ifndef TPC_IR_PROGRAM_H_
#define TPC_IR_PROGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/placement.h"

namespace tpc {

/// The version of program.json that this compiler writes (schemas/program.schema.json).
inline constexpr int kProgramVersion = 1;

/// A row range of a source tensor along the sharded dim: what one rank reads.
struct Slice {
  std::string segment;  ///< fused segment name (q, k, v, gate, up), empty for a plain chunk
  int64_t start = 0;
  int64_t length = 0;
};

/// One parameter of the checkpoint as the program places it.
struct ProgramParam {
  std::string name;    ///< module name + "." + parameter: model.layers.0.self_attn.q_proj.weight
  std::string source;  ///< checkpoint tensor it is read from (differs for a tied lm_head)
  std::string module;
  int layer = -1;
  std::vector<int64_t> global_shape;
  Placement placement;
  int replicas = 1;  ///< ranks holding the same shard (KV heads replicated over tp/kv ranks)
  std::vector<std::vector<Slice>> ranks;  ///< per rank, the ranges along placement.dim; empty if replicated
  std::string adapter;  ///< "lora_A", "lora_B" for LoRA adapters, else empty

  /// The shape rank `r` holds.
  std::vector<int64_t> LocalShape(int r) const;
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
  bool local_slice = false;         ///< a replicated input is sliced locally (R -> S, no traffic)
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
