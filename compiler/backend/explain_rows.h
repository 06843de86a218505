#ifndef TPC_BACKEND_EXPLAIN_ROWS_H_
#define TPC_BACKEND_EXPLAIN_ROWS_H_

#include <cstdint>
#include <string>

#include "ir/model_graph.h"
#include "ir/program.h"

namespace tpc {

// What `tpc explain` and `--dot` both show about a module and a collective.

/// The first decoder layer that has modules in the program, or -1.
int FirstLayer(const Program& p, const ModelGraph& model);
/// A module name relative to its decoder layer: "self_attn.q_proj" for model.layers.7.self_attn.q_proj.
std::string LayerRelativeName(const std::string& name);
/// "self_attn.q_proj\nweight shard(0) [2048, 16384]".
std::string ModuleLabel(const Program& p, const ModelGraph& model, const ModuleStep& s);
/// "all_reduce\n32 KiB/token".
std::string CollectiveLabel(const Collective& c);
/// The weight placement and rank-0 shape of a module: "shard(0) [2048, 16384]", or "" without params.
std::string WeightSummary(const Program& p, const std::string& module);

}  // namespace tpc

#endif  // TPC_BACKEND_EXPLAIN_ROWS_H_
