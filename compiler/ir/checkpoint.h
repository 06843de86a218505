#ifndef TPC_IR_CHECKPOINT_H_
#define TPC_IR_CHECKPOINT_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/source_manager.h"

namespace tpc {

/// A stored tensor of a checkpoint, as its file's header describes it.
struct StoredTensor {
  std::string name;
  int file = -1;      ///< index into Checkpoint::files
  std::string dtype;  ///< safetensors name: BF16, F8_E4M3
  std::vector<int64_t> shape;
};

/// One .safetensors file of a checkpoint.
struct CheckpointFile {
  std::string name;  ///< relative to the checkpoint directory: model-00001-of-00004.safetensors
  std::string path;  ///< as opened
  int64_t bytes = 0;
  std::string header_sha256;  ///< lowercase hex SHA-256 of its first 8 + N bytes (length and header)
};

/// A checkpoint directory's tensors, read from the headers only (never the tensor data).
struct Checkpoint {
  std::string dir;
  std::string index_path;  ///< model.safetensors.index.json; empty for a single-file checkpoint
  std::string index_sha256;
  int64_t index_bytes = 0;
  std::vector<CheckpointFile> files;
  std::vector<StoredTensor> tensors;  ///< sorted by name, names unique

  /// The index of the tensor named `name`, or -1.
  int Find(std::string_view name) const {
    auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                               [](const StoredTensor& t, std::string_view n) { return t.name < n; });
    return it != tensors.end() && it->name == name ? static_cast<int>(it - tensors.begin()) : -1;
  }
};

/// Where a stored tensor sits in the module tree: a piece of one parameter.
struct StoredPiece {
  int tensor = -1;     ///< into Checkpoint::tensors
  int expert = -1;     ///< a per-expert tensor: its index along the parameter's dim 0, which it lacks
  int64_t offset = 0;  ///< the first row it holds of the parameter's first dim after the expert dim
};

/// An FP8 block scale (`weight_scale_inv`) stored beside the weight it dequantises.
struct StoredScale {
  int tensor = -1;  ///< the scale
  int weight = -1;  ///< the tensor it scales
  std::vector<int64_t> block;  ///< quantisation block [rows, cols]
};

/// A stored tensor with one row per query head of an attention module (gpt-oss's sinks): it is
/// split as the heads are.
struct StoredPerHead {
  int tensor = -1;
  int attention = -1;  ///< the attention module whose heads it follows
};

/// A stored tensor the model does not use, or tpc does not model: replicated on every rank.
struct StoredExtra {
  int tensor = -1;
  std::string what;  ///< "vision tower"; "unknown" when no architecture file names it
};

/// Something the cross-check found wrong; check-checkpoint reports it.
struct BindingProblem {
  enum Kind {
    kMissing,     ///< no stored tensor for a parameter (stored: the name looked for)
    kShape,       ///< a stored tensor of another shape than config.json implies
    kDtype,       ///< a stored dtype that cannot hold the parameter (detail says why)
    kScaleShape,  ///< an FP8 scale whose shape does not match its weight's blocks
  };
  Kind kind = kMissing;
  int module = -1;
  int param = -1;      ///< -1 for a per-head tensor of attention module `module`
  std::string stored;  ///< the stored tensor's name
  std::string also;    ///< kMissing: the other name it may be stored under, "" when none
  std::vector<int64_t> expected, found;
  std::string detail;
};

/// A model's parameters bound to a checkpoint's stored tensors: the cross-check's result. Every
/// stored tensor is exactly one piece, scale or extra.
struct CheckpointBinding {
  Checkpoint checkpoint;
  std::vector<BindingProblem> problems;
  /// Per module, per parameter: the stored pieces that make it up, in order along the first dim
  /// after the expert dim; empty when nothing is stored for it (a tied lm_head).
  std::vector<std::vector<std::vector<StoredPiece>>> pieces;
  std::vector<StoredScale> scales;
  std::vector<StoredPerHead> per_head;
  std::vector<StoredExtra> extras;
};

/// How a family's checkpoints name what the module tree calls otherwise (the `checkpoint` section
/// of an architecture file). Names not covered are stored as the module tree names them.
struct StoredNames {
  /// A parameter stored under other names: one tensor, a concatenation of several along the
  /// first dim, or (per_expert) one tensor or concatenation per expert along dim 0.
  struct Rule {
    std::string tree;  ///< parameter name pattern, "{base}" expanded; "{layer}" stands for a layer index
    bool per_expert = false;
    std::vector<std::string> stored;  ///< stored name patterns; may use {layer} and {expert}
    SourceLoc loc;
  };
  /// A renamed prefix: tree names starting with `tree` are stored starting with `stored`.
  struct Prefix {
    std::string tree;
    std::string stored;
  };
  /// A stored tensor with one row per query head of the attention module `attention` (a module
  /// name relative to the layer), such as gpt-oss's self_attn.sinks; `stored` may use {layer}.
  struct PerHead {
    std::string stored;
    std::string attention;
  };
  /// Stored tensors outside the modelled text model, named for the report: vision_tower.* etc.
  struct Extra {
    std::string prefix;
    std::string what;
  };
  std::vector<Rule> rules;
  std::vector<Prefix> prefixes;
  std::vector<PerHead> per_head;
  std::vector<Extra> extras;
};

/// The config's quantization_config, as far as tpc reads it.
struct Quantization {
  std::string method;                 ///< quant_method; empty when the config has none
  std::vector<int64_t> weight_block;  ///< fp8 weight_block_size [rows, cols]; empty when none
  SourceLoc loc;                      ///< its quant_method (the quantization_config when none)
  SourceLoc block_loc;                ///< its weight_block_size
};

}  // namespace tpc

#endif  // TPC_IR_CHECKPOINT_H_
