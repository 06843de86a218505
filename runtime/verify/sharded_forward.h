#ifndef TPC_RUNTIME_VERIFY_SHARDED_FORWARD_H_
#define TPC_RUNTIME_VERIFY_SHARDED_FORWARD_H_

// tpc verify's sharded forward: program.tp ranks (threads here) each run the reference's ops on
// their own parameter slices (exactly what the program places on them), with the local head counts
// of the program's attribute rewrites, and exchange activations only through the program's
// collectives, each where the program puts it and nowhere else. Layouts come from the program's
// schedule: what each module receives (its input edges) and hands on (its step's output layout).

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "ir/program.h"
#include "runtime/communicator.h"
#include "runtime/verify/local_weights.h"
#include "runtime/verify/reference_forward.h"
#include "runtime/verify/tensor_collectives.h"

namespace tpc::verify {

/// What one rank computed.
struct RankRun {
  std::vector<at::Tensor> values;  ///< per module id: its local output, in the layout of layouts[id]
  std::vector<PerformedCollective> performed;
  std::string error;  ///< why this rank stopped, "" when it finished
  int stopped_at = -1;  ///< the module id it stopped at, -1 when it finished
  int failure = -1;     ///< 0 for the first rank to fail (the cause), 1 for the next...; -1 when it finished
};

/// The sharded forward's result: every rank's values and the layout of each module's output.
struct ShardedRun {
  std::vector<RankRun> ranks;
  std::vector<Layout> layouts;  ///< per module id, as the program's schedule hands it on
  std::vector<bool> ran;        ///< per module id: every rank computed it
};

/// Runs `model` under `program` on program.tp in-process ranks for `ids` [B, T]. Parameters are the
/// program's slices of the stored tensors `stored` returns, as `dtype`. False with `err` when the
/// program cannot be run (LoRA, a module without a schedule step) or a rank failed: its error is
/// the message, naming the rank and the module. A rank that fails leaves the others at once; `out`
/// still holds what every rank computed before (`ran`), and the failing rank (`failure` 0).
bool RunShardedForward(const ReferenceModel& model, const Program& program, const StoredSource& stored,
                       at::ScalarType dtype, const at::Tensor& ids, ShardedRun* out, std::string* err);

/// Runs rank comm.rank() of `model` under `program`, exchanging activations over `comm` (of
/// program.tp ranks: the in-process threads of RunShardedForward, or --processes' Gloo ranks). False
/// with `err` (also in out->error) when the program cannot be run (out->values stays empty) or this
/// rank stopped (out->values holds a slot per module, undefined from out->stopped_at), naming the
/// rank and the module.
bool RunShardedRank(const ReferenceModel& model, const Program& program, const StoredSource& stored,
                    at::ScalarType dtype, const at::Tensor& ids, Communicator& comm, RankRun* out, std::string* err);

/// The layout of each module's output and whether it ran, as the program's schedule says: what
/// GlobalView needs besides the ranks' values.
void ShardedLayouts(const ReferenceModel& model, const Program& program, ShardedRun* out);

/// Module `m`'s output as one tensor, assembled from every rank's local one by its layout:
/// replicated: rank 0's; last-dim or sequence shards: concatenated in rank order; partial: summed.
/// `width` (the unsharded last dim, when known) tells replicated KV heads apart: when the ranks'
/// last-dim shards add up to k times it, each group of k consecutive ranks holds the same heads.
at::Tensor GlobalView(const ShardedRun& run, int m, int64_t width = 0);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_SHARDED_FORWARD_H_
