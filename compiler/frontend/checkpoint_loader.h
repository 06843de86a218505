#ifndef TPC_FRONTEND_CHECKPOINT_LOADER_H_
#define TPC_FRONTEND_CHECKPOINT_LOADER_H_

#include <optional>
#include <string>

#include "ir/checkpoint.h"
#include "support/diagnostics.h"

namespace tpc {

/// The index file of a sharded checkpoint, beside its shards.
inline constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";

/// True when `dir` is a directory holding model.safetensors.index.json or any *.safetensors file.
bool HasWeights(const std::string& dir);

/// Reads the checkpoint in `dir` from its safetensors headers alone, never the tensor data. With an
/// index, every shard it names is read once and the index must agree with the headers (each tensor
/// in exactly one file, the one the index maps it to); without one, model.safetensors or the only
/// *.safetensors file is the checkpoint, and several files are an error. A directory without
/// weights gives a checkpoint with no files. Nullopt after a fatal diagnostic.
std::optional<Checkpoint> LoadCheckpoint(const std::string& dir, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_FRONTEND_CHECKPOINT_LOADER_H_
