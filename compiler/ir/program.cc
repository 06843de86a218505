#include "ir/program.h"

#include <algorithm>

namespace tpc {

std::vector<int64_t> ProgramParam::LocalShape(int r) const {
  std::vector<int64_t> shape = global_shape;
  if (placement.kind != Placement::kShard || r < 0 || r >= static_cast<int>(ranks.size())) return shape;
  int64_t rows = 0;
  for (const Slice& s : ranks[r]) rows += s.length;
  shape[placement.dim] = rows;
  return shape;
}

const char* CollectiveName(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::kAllReduce: return "all_reduce";
    case CollectiveKind::kAllGather: return "all_gather";
    case CollectiveKind::kReduceScatter: return "reduce_scatter";
    case CollectiveKind::kAllToAll: return "all_to_all";
  }
  return "?";
}

std::string LayoutName(Layout l) {
  switch (l) {
    case Layout::kReplicate: return "replicate";
    case Layout::kShardLast: return "shard(-1)";
    case Layout::kShardSeq: return "shard(1)";
    case Layout::kPartial: return "partial";
  }
  return "?";
}

int DtypeBytes(const std::string& dtype) {
  static const std::pair<const char*, int> kSizes[] = {
      {"float32", 4}, {"float", 4},  {"float16", 2}, {"half", 2},          {"bfloat16", 2},
      {"float64", 8}, {"double", 8}, {"int8", 1},    {"float8_e4m3fn", 1}, {"float8_e5m2", 1},
  };
  for (const auto& [name, bytes] : kSizes)
    if (dtype == name) return bytes;
  return 0;
}

Slice ChunkOf(int64_t n, int k, int r, int64_t offset) {
  if (n <= 0 || k <= 0 || r < 0) return {"", offset, 0};
  int64_t full = n / k + (n % k != 0);  // ceil without n + k - 1, which could overflow
  // full * r only where it stays <= n: ranks past the end start at n.
  int64_t start = r > n / full ? n : std::min(n, full * r);
  int64_t length = std::min(full, n - start);
  int64_t at;
  if (__builtin_add_overflow(offset, start, &at)) at = INT64_MAX;
  return {"", at, length};
}

}  // namespace tpc
