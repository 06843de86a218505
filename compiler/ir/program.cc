#include "ir/program.h"

#include <algorithm>
#include <iterator>

namespace tpc {

std::vector<int64_t> ProgramParam::LocalShape(int r) const {
  std::vector<int64_t> shape = global_shape;
  if (placement.kind != Placement::kShard || r < 0 || r >= static_cast<int>(ranks.size())) return shape;
  int64_t rows = 0;
  for (const Slice& s : ranks[r]) rows += s.length;
  shape[placement.dim] = rows;
  return shape;
}

bool ProgramParam::HeldBy(int r) const {
  return owners.empty() || std::find(owners.begin(), owners.end(), r) != owners.end();
}

const char* EntryKindName(EntryKind k) {
  switch (k) {
    case EntryKind::kParam: return "param";
    case EntryKind::kScale: return "scale";
    case EntryKind::kExtra: return "extra";
    case EntryKind::kLora: return "lora";
  }
  return "?";
}

const char* NamingName(Naming n) { return n == Naming::kCheckpoint ? "checkpoint" : "module-tree"; }

std::string SafetensorsDtypeOf(const std::string& torch_dtype) {
  static const std::pair<const char*, const char*> kNames[] = {
      {"bfloat16", "BF16"}, {"float16", "F16"}, {"half", "F16"},           {"float32", "F32"},
      {"float", "F32"},     {"float64", "F64"}, {"double", "F64"},         {"int8", "I8"},
      {"float8_e4m3fn", "F8_E4M3"},             {"float8_e5m2", "F8_E5M2"},
  };
  for (const auto& [torch, st] : kNames)
    if (torch_dtype == torch) return st;
  return "";
}

const char* BiasJoinName(BiasJoin b) {
  switch (b) {
    case BiasJoin::kNone: return "";
    case BiasJoin::kOnce: return "once";
    case BiasJoin::kEveryRank: return "every_rank";
    case BiasJoin::kDivided: return "divided";
  }
  return "";
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

namespace {

struct DtypeSize {
  const char* name;
  int bytes;
};
// The names messages list, in their order; then torch's aliases, accepted but not listed.
constexpr DtypeSize kDtypes[] = {
    {"bfloat16", 2}, {"float16", 2},       {"float32", 4},     {"float64", 8},
    {"int8", 1},     {"float8_e4m3fn", 1}, {"float8_e5m2", 1},
};
constexpr DtypeSize kDtypeAliases[] = {{"float", 4}, {"half", 2}, {"double", 8}};

}  // namespace

int DtypeBytes(const std::string& dtype) {
  for (const DtypeSize& d : kDtypes)
    if (dtype == d.name) return d.bytes;
  for (const DtypeSize& d : kDtypeAliases)
    if (dtype == d.name) return d.bytes;
  return 0;
}

std::string DtypeNames() {
  std::string out;
  const size_t n = std::size(kDtypes);
  for (size_t i = 0; i < n; ++i) out += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kDtypes[i].name;
  return out;
}

RowRange ChunkRange(int64_t n, int64_t k, int64_t r) {
  if (n <= 0 || k <= 0 || r < 0) return {};
  int64_t full = n / k + (n % k != 0);  // ceil without n + k - 1, which could overflow
  // full * r only where it stays <= n: ranks past the end start at n.
  int64_t begin = r > n / full ? n : std::min(n, full * r);
  return {begin, begin + std::min(full, n - begin)};
}

Slice ChunkOf(int64_t n, int k, int r, int64_t offset) {
  RowRange rows = ChunkRange(n, k, r);
  int64_t at;
  if (__builtin_add_overflow(offset, rows.begin, &at)) at = INT64_MAX;
  return {"", at, rows.size()};
}

}  // namespace tpc
