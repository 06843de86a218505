#ifndef TPC_RUNTIME_VERIFY_VERIFY_OPS_H_
#define TPC_RUNTIME_VERIFY_VERIFY_OPS_H_

// The numeric ops of tpc verify's forward, one per module kind. None reads a global shape: head
// counts come in as arguments and head_dim from the tensors, so a rank can run them on its shards.

#include <ATen/ATen.h>

#include <string>

namespace tpc::verify {

/// Throws std::invalid_argument for an activation it does not know.
at::Tensor Activation(const std::string& act, const at::Tensor& x);

/// weight[ids] * scale.
at::Tensor Embedding(const at::Tensor& ids, const at::Tensor& weight, double scale);

/// Norm settings: "rms" or "layer", epsilon, and an offset added to the weight (gemma's 1 + w).
struct NormAttrs {
  std::string type = "rms";
  double eps = 1e-6;
  double offset = 0;
};
/// Normalises the last dim, or each head_dim-wide group of it when `weight` is narrower (per-head
/// q/k norms); `bias` may be undefined.
at::Tensor Norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const NormAttrs& a);

/// x @ w^T + b, then tanh soft-capping at `softcap` when it is non-zero.
at::Tensor Linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, double softcap = 0);

/// act(gate) * up; with `up` undefined, gate holds [gate | up] along the last dim.
at::Tensor GatedMul(const at::Tensor& gate, const at::Tensor& up, const std::string& act);

/// Attention settings; head counts are the ones this rank holds.
struct AttentionAttrs {
  int64_t heads = 0;
  int64_t kv_heads = 0;
  double rope_theta = 10000;
  double rotary_fraction = 1;  ///< the leading part of head_dim that rotates
  double rope_factor = 1;      ///< linear rope scaling: frequencies divided by it
  double scale = 0;            ///< 0: 1 / sqrt(head_dim)
  double softcap = 0;          ///< 0: none
  int64_t window = 0;          ///< 0: none; else a key is seen when query - key < window
};
/// Causal self-attention of q [B, T, heads*hd], k and v [B, T, kv_heads*hd] at `positions` [T]:
/// rotary, scores, soft-capping, mask, softmax, weighted values; returns [B, T, heads*hd].
at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions,
                     const AttentionAttrs& a);

/// Splits a fused [Q | K | V] projection (concat) or a per-head interleaved one (gpt_neox's
/// [q_h | k_h | v_h] per head) into q, k, v.
void SplitQkv(const at::Tensor& qkv, bool per_head, int64_t heads, int64_t kv_heads, at::Tensor* q, at::Tensor* k,
              at::Tensor* v);

/// Router: softmax over the expert logits, top-k, optionally renormalised; returns dense routing
/// weights [tokens, experts] (zero where an expert was not chosen).
at::Tensor Router(const at::Tensor& x, const at::Tensor& weight, int64_t top_k, bool norm_topk);

/// Experts [first, first + E) of fused gate_up [E, 2I, H] and down [E, H, I], weighted by
/// `routing` [tokens, all experts]; returns x's shape.
at::Tensor Experts(const at::Tensor& x, const at::Tensor& routing, const at::Tensor& gate_up, const at::Tensor& down,
                   int64_t first, const std::string& act);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_VERIFY_OPS_H_
