#ifndef TPC_RUNTIME_VERIFY_SYNTHETIC_CHECKPOINT_H_
#define TPC_RUNTIME_VERIFY_SYNTHETIC_CHECKPOINT_H_

// `tpc verify --random-weights [--shrink]`: a checkpoint made up for a config alone, so that any
// real config or bundled plan can be verified without downloading weights.

#include <cstdint>
#include <string>

namespace tpc::verify {

/// Writes into the existing directory `dir` a config.json (the one at `model_path`, a config.json
/// or a directory holding one; scaled down for `tp` by ShrinkConfig when `shrink`) and a
/// model.safetensors holding every parameter of that model, in module-tree names, as F32 values of
/// RandomValue(seed, ...). `arch_dir` adds architecture files as the other commands do. False with
/// `err` naming the file and the problem.
bool WriteSyntheticCheckpoint(const std::string& model_path, const std::string& arch_dir, bool shrink, int tp,
                              uint64_t seed, const std::string& dir, std::string* summary, std::string* err);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_SYNTHETIC_CHECKPOINT_H_
