#ifndef TPC_FRONTEND_BIND_CHECKPOINT_H_
#define TPC_FRONTEND_BIND_CHECKPOINT_H_

#include "ir/checkpoint.h"
#include "ir/model_graph.h"

namespace tpc {

/// The cross-check of a checkpoint against the model its config.json describes: binds every
/// parameter to the stored tensors holding it, by the family's stored-name rules (the `checkpoint`
/// section of plans/arch/<family>.yaml), pairs FP8 block scales with their weights and keeps the
/// rest as extras, so that every stored tensor is accounted for exactly once. What disagrees
/// (a missing tensor, a shape config.json does not imply, a dtype that cannot be a weight) is
/// recorded in `problems` for check-checkpoint to report; nothing here fails.
CheckpointBinding BindCheckpoint(const ModelGraph& model, Checkpoint checkpoint);

}  // namespace tpc

#endif  // TPC_FRONTEND_BIND_CHECKPOINT_H_
