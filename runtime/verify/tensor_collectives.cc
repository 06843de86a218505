// Tensor collectives over a byte Communicator: each rank sends its shape and bytes to all, then
// computes the result from every rank's tensor in rank order.
#include "runtime/verify/tensor_collectives.h"

#include <ATen/WrapDimUtils.h>

#include <cstring>

#include "ir/program.h"
#include "support/strings.h"

namespace tpc {
namespace {

// [ndim][shape...] as int64, then the contiguous elements.
Bytes Encode(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  std::vector<int64_t> head = {c.dim()};
  for (int64_t s : c.sizes()) head.push_back(s);
  size_t head_bytes = head.size() * sizeof(int64_t);
  size_t data_bytes = static_cast<size_t>(c.numel()) * c.element_size();
  Bytes out(head_bytes + data_bytes);
  std::memcpy(out.data(), head.data(), head_bytes);
  if (data_bytes) std::memcpy(out.data() + head_bytes, c.data_ptr(), data_bytes);
  return out;
}

bool Decode(const Bytes& b, at::ScalarType dtype, int peer, at::Tensor* out, std::string* error) {
  int64_t ndim = -1;
  if (b.size() >= sizeof(int64_t)) std::memcpy(&ndim, b.data(), sizeof(int64_t));
  if (ndim < 0 || ndim > 16 || b.size() < static_cast<size_t>(ndim + 1) * sizeof(int64_t))
    return *error = "rank " + std::to_string(peer) + " sent a malformed tensor", false;
  std::vector<int64_t> shape(static_cast<size_t>(ndim));
  std::memcpy(shape.data(), b.data() + sizeof(int64_t), shape.size() * sizeof(int64_t));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  size_t head_bytes = (shape.size() + 1) * sizeof(int64_t);
  size_t data_bytes = static_cast<size_t>(t.numel()) * t.element_size();
  if (b.size() != head_bytes + data_bytes)
    return *error = "rank " + std::to_string(peer) + " sent " + std::to_string(b.size() - head_bytes) +
                    " bytes for a tensor of " + std::to_string(data_bytes), false;
  if (data_bytes) std::memcpy(t.data_ptr(), b.data() + head_bytes, data_bytes);
  *out = std::move(t);
  return true;
}


}  // namespace

at::Tensor TensorChunk(const at::Tensor& t, int64_t dim, int64_t n, int64_t r) {
  RowRange rows = ChunkRange(t.size(dim), n, r);
  return t.narrow(dim, rows.begin, rows.size());
}

bool TensorCollectives::Exchange(const at::Tensor& t, const char* kind, std::vector<at::Tensor>* all,
                                 std::string* error) {
  performed_.push_back({kind, t.sizes().vec()});
  std::vector<Bytes> parts;
  if (!comm_.AllGather(Encode(t), &parts, error)) return false;
  all->assign(parts.size(), at::Tensor());
  for (size_t r = 0; r < parts.size(); ++r)
    if (!Decode(parts[r], t.scalar_type(), static_cast<int>(r), &(*all)[r], error)) return false;
  return true;
}

bool TensorCollectives::AllReduceSum(const at::Tensor& t, at::Tensor* out, std::string* error) {
  std::vector<at::Tensor> all;
  if (!Exchange(t, "all_reduce", &all, error)) return false;
  at::Tensor sum = all[0].clone();
  for (size_t r = 1; r < all.size(); ++r) {
    if (!all[r].sizes().equals(sum.sizes()))
      return *error = "all_reduce: rank " + std::to_string(r) + " holds " + ShapeText(all[r].sizes().vec()) +
                      ", rank 0 " + ShapeText(sum.sizes().vec()), false;
    sum.add_(all[r]);
  }
  *out = std::move(sum);
  return true;
}

bool TensorCollectives::AllGather(const at::Tensor& t, int64_t dim, at::Tensor* out, std::string* error) {
  std::vector<at::Tensor> all;
  if (!Exchange(t, "all_gather", &all, error)) return false;
  dim = at::maybe_wrap_dim(dim, t.dim());
  for (size_t r = 0; r < all.size(); ++r) {
    bool same = all[r].dim() == t.dim();
    for (int64_t d = 0; same && d < t.dim(); ++d) same = d == dim || all[r].size(d) == t.size(d);
    if (!same)
      return *error = "all_gather along dim " + std::to_string(dim) + ": rank " + std::to_string(r) + " holds " +
                      ShapeText(all[r].sizes().vec()) + ", this rank " + ShapeText(t.sizes().vec()), false;
  }
  *out = at::cat(all, dim);
  return true;
}

bool TensorCollectives::ReduceScatter(const at::Tensor& t, int64_t dim, at::Tensor* out, std::string* error) {
  at::Tensor sum;
  if (!AllReduceSum(t, &sum, error)) return false;
  performed_.back().kind = "reduce_scatter";
  *out = TensorChunk(sum, dim, world_size(), rank()).contiguous();
  return true;
}

bool TensorCollectives::AllToAll(const at::Tensor& t, int64_t gather_dim, int64_t split_dim, at::Tensor* out,
                                 std::string* error) {
  at::Tensor whole;
  if (!AllGather(t, gather_dim, &whole, error)) return false;
  performed_.back().kind = "all_to_all";
  *out = TensorChunk(whole, split_dim, world_size(), rank()).contiguous();
  return true;
}

}  // namespace tpc
