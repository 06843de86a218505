#include "runtime/verify/verify_ops.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace tpc::verify {

at::Tensor Activation(const std::string& act, const at::Tensor& x) {
  if (act == "silu" || act == "swish") return at::silu(x);
  if (act == "gelu") return at::gelu(x);
  // transformers' gelu_new and gelu_pytorch_tanh are both the tanh approximation.
  if (act == "gelu_pytorch_tanh" || act == "gelu_new" || act == "gelu_fast") return at::gelu(x, "tanh");
  if (act == "relu") return at::relu(x);
  throw std::invalid_argument("unsupported activation '" + act + "'");
}

at::Tensor Embedding(const at::Tensor& ids, const at::Tensor& weight, double scale) {
  at::Tensor out = at::embedding(weight, ids);
  return scale == 1 ? out : out * scale;
}

at::Tensor Norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const NormAttrs& a) {
  int64_t width = weight.size(0);
  // A per-head norm sees [..., heads * head_dim] and normalises each head.
  at::Tensor h = x.size(-1) == width ? x : x.unflatten(-1, {x.size(-1) / width, width});
  at::Tensor w = a.offset == 0 ? weight : weight + a.offset;
  at::Tensor out;
  if (a.type == "layer") {
    out = at::layer_norm(h, {width}, w, bias, a.eps);
  } else if (a.type == "rms") {
    out = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + a.eps) * w;
    if (bias.defined()) out = out + bias;
  } else {
    throw std::invalid_argument("unsupported norm type '" + a.type + "'");
  }
  return out.reshape(x.sizes());
}

at::Tensor Linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, double softcap) {
  at::Tensor out = at::linear(x, w, bias);
  if (softcap != 0) out = at::tanh(out / softcap) * softcap;
  return out;
}

at::Tensor GatedMul(const at::Tensor& gate, const at::Tensor& up, const std::string& act) {
  if (up.defined()) return Activation(act, gate) * up;
  std::vector<at::Tensor> halves = gate.chunk(2, -1);
  return Activation(act, halves[0]) * halves[1];
}

namespace {

// [B, T, n * hd] -> [B, n, T, hd]
// A head count of 0 or one that does not divide the width (a plan splitting inside a head) stops
// the rank with a message rather than dividing by zero.
at::Tensor Heads(const at::Tensor& x, int64_t n) {
  if (n <= 0 || x.size(-1) % n != 0)
    throw std::runtime_error("cannot split a width of " + std::to_string(x.size(-1)) + " into " + std::to_string(n) +
                             " heads");
  return x.unflatten(-1, {n, x.size(-1) / n}).transpose(1, 2);
}

// transformers' rotate_half rotary on the leading `rot` dims of [B, n, T, hd].
at::Tensor Rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t rot) {
  at::Tensor r = x.narrow(-1, 0, rot);
  std::vector<at::Tensor> halves = r.chunk(2, -1);
  at::Tensor rotated = at::cat({-halves[1], halves[0]}, -1);
  at::Tensor out = r * cos + rotated * sin;
  return rot == x.size(-1) ? out : at::cat({out, x.narrow(-1, rot, x.size(-1) - rot)}, -1);
}

}  // namespace

at::Tensor Attention(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                     const at::Tensor& positions, const AttentionAttrs& a) {
  at::Tensor q = Heads(q_in, a.heads), k = Heads(k_in, a.kv_heads), v = Heads(v_in, a.kv_heads);
  int64_t hd = q.size(-1), t = q.size(2);
  int64_t rot = static_cast<int64_t>(hd * a.rotary_fraction);  // transformers: int(head_dim * factor)
  if (rot > 0) {
    auto opts = q.options();
    at::Tensor inv_freq = 1.0 / at::pow(a.rope_theta, at::arange(0, rot, 2, opts.dtype(at::kLong)).to(opts) / rot);
    if (a.rope_factor != 1) inv_freq = inv_freq / a.rope_factor;
    at::Tensor freqs = positions.to(opts).unsqueeze(1) * inv_freq.unsqueeze(0);  // [T, rot/2]
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    at::Tensor cos = emb.cos(), sin = emb.sin();
    q = Rotate(q, cos, sin, rot);
    k = Rotate(k, cos, sin, rot);
  }
  if (a.kv_heads != a.heads) {
    if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0)
      throw std::runtime_error(std::to_string(a.heads) + " query heads do not share " + std::to_string(a.kv_heads) +
                               " key/value heads evenly");
    k = k.repeat_interleave(a.heads / a.kv_heads, 1);
    v = v.repeat_interleave(a.heads / a.kv_heads, 1);
  }
  double scale = a.scale != 0 ? a.scale : 1.0 / std::sqrt(static_cast<double>(hd));
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) * scale;
  if (a.softcap != 0) scores = at::tanh(scores / a.softcap) * a.softcap;
  at::Tensor qi = positions.unsqueeze(1), ki = positions.unsqueeze(0);
  at::Tensor visible = ki <= qi;
  if (a.window > 0) visible = visible & (qi - ki < a.window);
  scores = scores.masked_fill(visible.logical_not().view({1, 1, t, t}), -std::numeric_limits<double>::infinity());
  at::Tensor probs = at::softmax(scores, -1);
  return at::matmul(probs, v).transpose(1, 2).flatten(2);
}

void SplitQkv(const at::Tensor& qkv, bool per_head, int64_t heads, int64_t kv_heads, at::Tensor* q, at::Tensor* k,
              at::Tensor* v) {
  if (heads + 2 * kv_heads <= 0) throw std::runtime_error("no attention heads on this rank");
  int64_t hd = qkv.size(-1) / (heads + 2 * kv_heads);
  if (per_head) {
    std::vector<at::Tensor> parts = qkv.unflatten(-1, {heads, 3 * hd}).chunk(3, -1);
    *q = parts[0].flatten(-2);
    *k = parts[1].flatten(-2);
    *v = parts[2].flatten(-2);
    return;
  }
  *q = qkv.narrow(-1, 0, heads * hd);
  *k = qkv.narrow(-1, heads * hd, kv_heads * hd);
  *v = qkv.narrow(-1, (heads + kv_heads) * hd, kv_heads * hd);
}

at::Tensor Router(const at::Tensor& x, const at::Tensor& weight, int64_t top_k, bool norm_topk) {
  at::Tensor probs = at::softmax(at::linear(x.flatten(0, -2), weight), -1);
  auto [values, indices] = at::topk(probs, top_k, -1);
  if (norm_topk) values = values / values.sum(-1, /*keepdim=*/true);
  return at::zeros_like(probs).scatter(-1, indices, values);
}

at::Tensor Experts(const at::Tensor& x, const at::Tensor& routing, const at::Tensor& gate_up, const at::Tensor& down,
                   int64_t first, const std::string& act) {
  at::Tensor tokens = x.flatten(0, -2);
  at::Tensor out = at::zeros_like(tokens);
  for (int64_t e = 0; e < gate_up.size(0); ++e) {
    at::Tensor w = routing.select(1, first + e);
    at::Tensor chosen = w.nonzero().squeeze(1);
    if (chosen.numel() == 0) continue;
    at::Tensor h = GatedMul(at::linear(tokens.index_select(0, chosen), gate_up[e]), at::Tensor(), act);
    out.index_add_(0, chosen, at::linear(h, down[e]) * w.index_select(0, chosen).unsqueeze(1));
  }
  return out.view_as(x);
}

}  // namespace tpc::verify
