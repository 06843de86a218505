#ifndef TPC_RUNTIME_VERIFY_CHECKPOINT_TENSORS_H_
#define TPC_RUNTIME_VERIFY_CHECKPOINT_TENSORS_H_

// Reads a model's parameters from its checkpoint as the compiler bound them (per-expert tensors
// stacked, fused pieces concatenated, renamed prefixes followed), with pread on the safetensors
// files whose headers support/safetensors_header.h validated.

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/checkpoint.h"
#include "ir/model_graph.h"

namespace tpc::verify {

/// A checkpoint's safetensors files, open, for reading stored tensors by name (what the sharded
/// forward's LocalParams takes as its StoredSource).
class StoredTensors {
 public:
  StoredTensors();
  ~StoredTensors();
  /// Opens and validates every file of `checkpoint`; false with `err` on the first that fails.
  bool Open(const Checkpoint& checkpoint, std::string* err);
  /// The stored tensor `name` as stored (F32, F64, F16, BF16, I64, I32); false with `err` when it
  /// is absent, unreadable or of another dtype.
  bool Read(const std::string& name, at::Tensor* out, std::string* err) const;
  /// Read as a StoredSource (runtime/verify/local_weights.h): undefined when it cannot be read.
  std::function<at::Tensor(const std::string&)> AsSource() const {
    return [this](const std::string& name) {
      at::Tensor t;
      std::string err;
      return Read(name, &t, &err) ? t : at::Tensor();
    };
  }

 private:
  struct File;
  const Checkpoint* checkpoint_ = nullptr;
  std::vector<std::unique_ptr<File>> files_;
};

/// Every parameter of every module of `g` (whose `checkpoint` binding must be set), as `dtype`;
/// a tied module's empty parameter takes the tensor it is tied to. False with `err` on a binding
/// problem, an unreadable file or a dtype it cannot convert.
bool ReadParameters(const ModelGraph& g, at::ScalarType dtype, std::vector<std::vector<at::Tensor>>* out,
                    std::string* err);

/// Every tensor of one safetensors file, by name, as stored (F32, F64, F16, BF16, I64, I32).
bool ReadSafetensorsFile(const std::string& path, std::vector<std::pair<std::string, at::Tensor>>* out,
                         std::string* err);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_CHECKPOINT_TENSORS_H_
