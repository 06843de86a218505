// OUT/manifest.json of `tpc-run shard` (schemas/manifest.schema.json): which program made the rank
// files, each file's size and SHA-256, and how every tensor is placed, so that a trainer can rebuild
// DTensors with DTensor.from_local.
#ifndef TPC_RUNTIME_MANIFEST_H_
#define TPC_RUNTIME_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/program.h"

namespace tpc {

/// One rank file as the manifest records it.
struct ManifestRank {
  int rank = 0;
  std::string file;  ///< relative to the manifest: "rank0.safetensors"
  uint64_t bytes = 0;
  std::string sha256;
};

/// The part of a manifest a rerun compares.
struct Manifest {
  std::string program_sha256;
  int tp = 0;
  std::vector<ManifestRank> ranks;  ///< ascending by rank
};

/// The file name of rank `r`'s shard: "rank3.safetensors".
std::string RankFileName(int r);

/// Reads a manifest written by tpc-run; false (and nothing reused) when it is missing or unreadable,
/// or not a tpc-shards manifest of version 1.
bool ReadManifest(const std::string& path, Manifest* out);

/// The manifest's JSON for `program`, with `m`'s hash, tp and ranks, and every stored tensor's
/// placement and per-rank local shape (null where a rank holds none).
std::string ManifestJson(const Program& program, const Manifest& m);

}  // namespace tpc

#endif  // TPC_RUNTIME_MANIFEST_H_
