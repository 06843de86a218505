#include "runtime/verify/random_weights.h"

#include <cmath>
#include <sstream>

namespace tpc::verify {

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

RandomParam Init(const Module& m, const Param& p) {
  RandomParam r{m.name + "." + p.name, p.shape, 0, 0};
  if (m.kind == ModuleKind::kNorm && p.name == "weight") {
    r.center = 1, r.scale = 0.1;
  } else if (m.kind == ModuleKind::kEmbedding && p.name == "weight") {
    r.scale = 1;
  } else if (p.shape.size() >= 2 && p.shape.back() > 0) {
    r.scale = 1 / std::sqrt(static_cast<double>(p.shape.back()));
  } else {
    r.scale = 0.1;
  }
  return r;
}

uint64_t Key(uint64_t seed, const RandomParam& p) { return Mix64(seed ^ Fnv1a64(p.name)); }

float ValueAt(uint64_t key, const RandomParam& p, uint64_t index) {
  uint64_t bits = Mix64(key + (index + 1) * kGolden);
  double u = static_cast<double>(bits >> 40) * (1.0 / 16777216.0);
  return static_cast<float>(p.center + p.scale * (2 * u - 1));
}

}  // namespace

uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float RandomValue(uint64_t seed, const RandomParam& p, uint64_t index) {
  return ValueAt(Key(seed, p), p, index);
}

std::vector<RandomParam> RandomParams(const ModelGraph& g) {
  std::vector<RandomParam> out;
  for (const Module& m : g.modules()) {
    for (const Param& p : m.params) {
      // A tied module's weight is its owner's tensor, generated once under the owner's name.
      if (m.tied_to >= 0 && p.name == "weight") continue;
      out.push_back(Init(m, p));
    }
  }
  return out;
}

bool FillBox(uint64_t seed, const RandomParam& p, const Box& box, std::vector<float>* out,
             std::string* err) {
  size_t rank = p.shape.size();
  if (box.start.size() != rank || box.length.size() != rank) {
    *err = "box of rank " + std::to_string(box.start.size()) + " for '" + p.name + "' of rank " +
           std::to_string(rank);
    return false;
  }
  int64_t count = 1;
  for (size_t d = 0; d < rank; ++d) {
    int64_t s = box.start[d], n = box.length[d];
    if (s < 0 || n < 0 || s > p.shape[d] || n > p.shape[d] - s) {
      std::ostringstream msg;
      msg << "box [" << s << ", " << s + n << ") of dimension " << d << " of '" << p.name
          << "' is outside its size " << p.shape[d];
      *err = msg.str();
      return false;
    }
    count *= n;
  }
  out->assign(static_cast<size_t>(count), 0.0f);
  if (count == 0) return true;
  // Row-major strides of the global tensor; walk the box with an odometer over its indices.
  std::vector<uint64_t> stride(rank, 1);
  for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * static_cast<uint64_t>(p.shape[d]);
  std::vector<int64_t> at(rank, 0);
  uint64_t key = Key(seed, p);
  for (int64_t i = 0; i < count; ++i) {
    uint64_t index = 0;
    for (size_t d = 0; d < rank; ++d) index += static_cast<uint64_t>(box.start[d] + at[d]) * stride[d];
    (*out)[static_cast<size_t>(i)] = ValueAt(key, p, index);
    for (size_t d = rank; d-- > 0;) {
      if (++at[d] < box.length[d]) break;
      at[d] = 0;
    }
  }
  return true;
}

}  // namespace tpc::verify
