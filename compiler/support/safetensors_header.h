#ifndef TPC_SUPPORT_SAFETENSORS_HEADER_H_
#define TPC_SUPPORT_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace tpc {

/// One tensor of a safetensors header; offsets are relative to the data after the header.
struct SafetensorsTensor {
  std::string name;
  std::string dtype;  ///< "BF16", "F8_E4M3", ... as the file spells it
  std::vector<uint64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// A validated safetensors header: tensors in data order (by offset).
struct SafetensorsHeader {
  uint64_t header_bytes = 0;  ///< N, the JSON header's length
  uint64_t file_bytes = 0;    ///< 8 + N + the tensor data
  std::string header_sha256;  ///< lowercase hex SHA-256 of the first 8 + N bytes (length and header)
  std::vector<SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;  ///< `__metadata__`
};

/// Bits per element of a safetensors dtype ("F4": 4, "BF16": 16), or 0 for a name the format lacks.
int SafetensorsDtypeBits(const std::string& dtype);

/// Reads and validates the header of `path` as the reference implementation does, reading only the
/// 8-byte length and the header, never the tensor data. Every violation is a fatal diagnostic naming
/// the file, the tensor and the numbers; returns false on the first.
bool ReadSafetensorsHeader(const std::string& path, SafetensorsHeader* out, Diagnostics& diags);

/// The same checks on a whole file held in memory (`path` only names it in diagnostics).
bool CheckSafetensorsBytes(const std::string& path, const std::string& bytes, SafetensorsHeader* out,
                           Diagnostics& diags);

/// model.safetensors.index.json: each tensor name and the shard file (beside the index) holding it.
struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;
  int file = -1;  ///< the index's id in the SourceManager, whose text is the whole file
};

/// Reads `path`'s `weight_map` and checks that every shard it names exists as a regular file in the
/// index's directory (missing-safetensors-shard names the first tensor mapped to a missing one).
bool ReadSafetensorsIndex(const std::string& path, SafetensorsIndex* out, Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_SUPPORT_SAFETENSORS_HEADER_H_
