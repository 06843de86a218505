// cost-model: what the program costs. Collective traffic uses ring algorithms (what NCCL runs within
// a node): with n ranks and B bytes of full activation per token, one rank sends
//   all-reduce      2(n-1)/n · B   in 2(n-1) steps
//   all-gather       (n-1)/n · B   in  (n-1) steps
//   reduce-scatter   (n-1)/n · B   in  (n-1) steps
//   all-to-all       (n-1)/n² · B  in  (n-1) steps (each rank holds B/n and keeps 1/n of it)
// The α-β time of one collective over T tokens is launch + steps·hop + T·send/bandwidth, with
// DTensor's constants for launch and hop (sota.md §1.3); per token it is that divided by T.
#include <algorithm>
#include <climits>

#include "passes/lowering.h"
#include "support/safetensors_header.h"

namespace tpc {
namespace {

// Byte counts saturate instead of overflowing: the loader's bounds (kMaxModelElements, and
// kMaxDimension per activation) keep real sums far below 2^63; saturation keeps any other
// program defined.
int64_t SatMul(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_mul_overflow(a, b, &r)) return r;
  return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}
// A saturated bit count stays saturated in bytes.
int64_t BitsToBytes(int64_t bits) { return bits == INT64_MAX ? INT64_MAX : bits / 8; }
int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return a < 0 ? INT64_MIN : INT64_MAX;
}
int Steps(int64_t steps) { return static_cast<int>(std::min<int64_t>(steps, INT_MAX)); }

}  // namespace

void EstimateCosts(Program& p) {
  const int n = p.tp;
  const int bytes = DtypeBytes(p.dtype);
  const double f = n > 1 ? (n - 1.0) / n : 0.0;
  ProgramSummary& s = p.summary;
  s = ProgramSummary{};
  int first_layer = -1;
  for (const Collective& c : p.collectives)
    if (c.layer >= 0 && (first_layer < 0 || c.layer < first_layer)) first_layer = c.layer;
  double latency_us = 0;
  for (Collective& c : p.collectives) {
    c.bytes_per_token = SatMul(c.elements_per_token, bytes);
    // What goes over the wire: the padded pieces of an uneven split.
    double b = static_cast<double>(c.padded_elements_per_token > 0 ? SatMul(c.padded_elements_per_token, bytes)
                                                                   : c.bytes_per_token);
    switch (c.kind) {
      case CollectiveKind::kAllReduce:
        c.send_bytes_per_token = 2 * f * b;
        c.steps = Steps(2 * (int64_t{n} - 1));
        break;
      case CollectiveKind::kAllGather:
      case CollectiveKind::kReduceScatter:
        c.send_bytes_per_token = f * b;
        c.steps = Steps(n - 1);
        break;
      case CollectiveKind::kAllToAll:
        c.send_bytes_per_token = f * b / n;
        c.steps = Steps(n - 1);
        break;
    }
    s.traffic_bytes_per_token = SatAdd(s.traffic_bytes_per_token, c.bytes_per_token);
    if (c.layer >= 0 && c.layer == first_layer)
      s.layer_traffic_bytes_per_token = SatAdd(s.layer_traffic_bytes_per_token, c.bytes_per_token);
    s.send_bytes_per_token += c.send_bytes_per_token;
    latency_us += p.link.launch_us + c.steps * p.link.hop_us;
  }
  double tokens = static_cast<double>(std::max<int64_t>(1, p.link.tokens));
  s.comm_us_per_token = latency_us / tokens + s.send_bytes_per_token / (p.link.gbps * 1e3);

  s.param_bytes_per_rank.assign(n, 0);
  for (const ProgramParam& param : p.params) {
    if (!param.source.empty() && param.source != param.name) continue;  // tied: stored once
    // An entry's own dtype (an FP8 weight, its F32 scales), else the program's; bits, for F4.
    int64_t bits = param.dtype.empty() ? 0 : SafetensorsDtypeBits(param.dtype);
    if (bits == 0) bits = 8 * static_cast<int64_t>(bytes);
    int64_t global = bits;
    for (int64_t d : param.global_shape) global = SatMul(global, d);
    s.param_bytes_total = SatAdd(s.param_bytes_total, BitsToBytes(global));
    for (int r = 0; r < n; ++r) {
      if (!param.HeldBy(r)) continue;
      int64_t local = bits;
      for (int64_t d : param.LocalShape(r)) local = SatMul(local, d);
      s.param_bytes_per_rank[r] = SatAdd(s.param_bytes_per_rank[r], BitsToBytes(local));
    }
  }
}

}  // namespace tpc
