#ifndef TPC_BACKEND_EMIT_PROGRAM_H_
#define TPC_BACKEND_EMIT_PROGRAM_H_

#include <string>

#include "ir/model_graph.h"
#include "ir/program.h"

namespace tpc {

/// Graphviz of one decoder block (layer 0): placements on edges, collectives as red nodes.
std::string EmitBlockDot(const Program& p, const ModelGraph& model);
/// A per-layer table of placements and collectives for a terminal (`tpc explain`).
std::string RenderExplain(const Program& p, const ModelGraph& model);

}  // namespace tpc

#endif  // TPC_BACKEND_EMIT_PROGRAM_H_
