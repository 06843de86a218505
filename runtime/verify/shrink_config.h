#ifndef TPC_RUNTIME_VERIFY_SHRINK_CONFIG_H_
#define TPC_RUNTIME_VERIFY_SHRINK_CONFIG_H_

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "frontend/arch_template.h"

namespace tpc::verify {

/// What ShrinkConfig changed, one line per field: "hidden_size: 4096 -> 32".
struct ShrinkReport {
  std::vector<std::string> changes;
};

/// Scales a real config.json down for `tpc verify --shrink` at tensor-parallel size `tp`, so that
/// it can run with random weights in seconds. Which fields are dimensions comes from the family's
/// architecture file: every config field its weight shapes read (directly or through a default).
///  - head counts (the fields `heads` / `kv_heads` read) stay as they are;
///  - every other dimension d > its target becomes the smallest value >= the target that is
///    congruent to d modulo lcm(tp, 8), so d % k is unchanged for every k dividing tp or 8;
///    targets: 8 for a per-head size (read beside a head count), 8 for an expert count, 64 for
///    the vocabulary (read by the embedding), 32 otherwise;
///  - a head_dim derived from hidden_size (absent from the config) stays derived: hidden_size
///    becomes num_attention_heads * h, h = 8 halved while the product exceeds 256 (down to 2);
///  - layers: 2, or enough for every layer kind (a `when` comparing `layer` with a field, the
///    distinct values of layer_types, sliding_window_pattern); per-layer arrays are cut to match;
///  - routing: num_experts_per_tok <= experts, n_group divides experts, topk_group <= n_group.
/// False with `err` set for a config without a known model_type.
bool ShrinkConfig(const nlohmann::json& config, int tp, const ArchRegistry& registry,
                  nlohmann::json* out, ShrinkReport* report, std::string* err);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_SHRINK_CONFIG_H_
