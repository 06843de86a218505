// The four redistributions of a compiled program, on ATen tensors, over any byte Communicator (the
// in-process one for `tpc verify`'s default ranks, Gloo for `--processes`). They exist to PROVE a
// plan, not to be fast: every rank receives every rank's whole tensor and reduces in rank order, so
// that all ranks compute bitwise the same sum, and the sharded forward can be compared exactly.
#ifndef TPC_RUNTIME_VERIFY_TENSOR_COLLECTIVES_H_
#define TPC_RUNTIME_VERIFY_TENSOR_COLLECTIVES_H_

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "runtime/communicator.h"

namespace tpc {

/// One collective as it was performed: what `tpc verify` compares with the program's list.
struct PerformedCollective {
  std::string kind;  ///< "all_reduce", "all_gather", "reduce_scatter", "all_to_all"
  std::vector<int64_t> shape;  ///< this rank's input shape
};

class TensorCollectives {
 public:
  explicit TensorCollectives(Communicator& comm) : comm_(comm) {}

  int rank() const { return comm_.rank(); }
  int world_size() const { return comm_.world_size(); }

  /// Sum of every rank's `t` (same shape and dtype on every rank), summed in rank order.
  bool AllReduceSum(const at::Tensor& t, at::Tensor* out, std::string* error);
  /// Every rank's `t` concatenated in rank order along `dim`; sizes along `dim` may differ (the
  /// uneven chunks of torch.chunk, and ranks holding none).
  bool AllGather(const at::Tensor& t, int64_t dim, at::Tensor* out, std::string* error);
  /// The sum of every rank's `t`, of which this rank keeps its torch.chunk along `dim`.
  bool ReduceScatter(const at::Tensor& t, int64_t dim, at::Tensor* out, std::string* error);
  /// `t` is this rank's chunk along `gather_dim`; the result is the whole along `gather_dim` and
  /// this rank's torch.chunk along `split_dim` (sequence-sharded to head-sharded and back).
  bool AllToAll(const at::Tensor& t, int64_t gather_dim, int64_t split_dim, at::Tensor* out, std::string* error);

  /// The collectives performed so far, in order.
  const std::vector<PerformedCollective>& performed() const { return performed_; }

 private:
  /// Every rank's tensor, in rank order, with its own shape; the dtype of `t` on all.
  bool Exchange(const at::Tensor& t, const char* kind, std::vector<at::Tensor>* all, std::string* error);

  Communicator& comm_;
  std::vector<PerformedCollective> performed_;
};

/// torch.chunk's piece `r` of `n` along `dim` (empty when that rank gets none).
at::Tensor TensorChunk(const at::Tensor& t, int64_t dim, int64_t n, int64_t r);

}  // namespace tpc

#endif  // TPC_RUNTIME_VERIFY_TENSOR_COLLECTIVES_H_
