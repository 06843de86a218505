// What one rank of the sharded forward computes with: its module-tree parameters, assembled from
// its slices of each stored tensor exactly as the program places them (what `tpc-run shard`
// writes for it), the way a runtime's loader assembles them: equal parts concatenated along the
// first dim (w1 then w3), per-expert tensors stacked along a new dim 0 for the experts it owns.
#ifndef TPC_RUNTIME_VERIFY_LOCAL_WEIGHTS_H_
#define TPC_RUNTIME_VERIFY_LOCAL_WEIGHTS_H_

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/program.h"

namespace tpc {

/// One module-tree parameter as a rank holds it.
struct LocalParam {
  at::Tensor tensor;         ///< undefined when the rank holds none of it (an expert it does not own)
  std::vector<int> experts;  ///< per-expert parameters: the global expert of each index of dim 0
};

/// The whole stored tensor `name` (as the checkpoint holds it), or an undefined tensor when absent.
using StoredSource = std::function<at::Tensor(const std::string& name)>;

/// The entry's part on `rank`: its slices of `source` concatenated along the placement's dim, the
/// whole tensor when replicated, undefined when `rank` is not among its owners.
at::Tensor RankSlice(const ProgramParam& entry, int rank, const at::Tensor& source);

/// Rank `rank`'s module-tree parameters (entries of kind param; scales, extras and adapters are not
/// computed with), by tree name. False with `error` naming the tensor when a source is missing or
/// its shape differs from the program's global shape.
bool LocalParams(const Program& program, int rank, const StoredSource& stored,
                 std::map<std::string, LocalParam>* out, std::string* error);

}  // namespace tpc

#endif  // TPC_RUNTIME_VERIFY_LOCAL_WEIGHTS_H_
