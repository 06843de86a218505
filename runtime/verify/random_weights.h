#ifndef TPC_RUNTIME_VERIFY_RANDOM_WEIGHTS_H_
#define TPC_RUNTIME_VERIFY_RANDOM_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/model_graph.h"

namespace tpc::verify {

// Deterministic weights for `tpc verify --random-weights`: element i of parameter `name` is a
// function of (seed, name, i) only, so every machine gets the same bytes and a rank can fill just
// its slice. Definition (tests restate it):
//   mix(z)   = splitmix64's finalizer: z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
//              z *= 0x94D049BB133111EB; z ^= z >> 31
//   key      = mix(seed ^ fnv1a64(name))
//   bits(i)  = mix(key + (i + 1) * 0x9E3779B97F4A7C15)   (the i-th splitmix64 output from key)
//   u(i)     = (bits(i) >> 40) * 2^-24                     (24 bits, in [0, 1))
//   value(i) = float(center + scale * (2 * u(i) - 1))      (double arithmetic, then rounded)

/// How a parameter is initialised: value = center + scale * U(-1, 1).
struct RandomParam {
  std::string name;            ///< module-tree name: model.layers.0.self_attn.q_proj.weight
  std::vector<int64_t> shape;  ///< global shape
  double center = 0;
  double scale = 0;
};

/// 64-bit FNV-1a of `s`.
uint64_t Fnv1a64(std::string_view s);
/// splitmix64's output function.
uint64_t Mix64(uint64_t z);
/// Element `index` (row-major in the global tensor) of parameter `p`.
float RandomValue(uint64_t seed, const RandomParam& p, uint64_t index);

/// Every parameter of `g` once (a tied weight is listed under its owner only), in module order:
/// norm weights 1 +- 0.1, other 1-D parameters (biases) +- 0.1, embeddings +- 1, matrices and
/// experts +- 1/sqrt(fan_in) with fan_in the last dimension.
std::vector<RandomParam> RandomParams(const ModelGraph& g);

/// One box of a tensor: [start[d], start[d] + length[d]) in each dimension.
struct Box {
  std::vector<int64_t> start, length;
};

/// Fills `out` (row-major over the box, resized to its element count) with the values of `p`
/// inside `box`. False with `err` set when the box does not fit the shape.
bool FillBox(uint64_t seed, const RandomParam& p, const Box& box, std::vector<float>* out,
             std::string* err);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_RANDOM_WEIGHTS_H_
