#ifndef TPC_SUPPORT_LIMITS_H_
#define TPC_SUPPORT_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace tpc::limits {

// Every bound tpc puts on its input, in one place. Each is far above any real model or plan (the
// largest real figure is given beside it) and far below what would exhaust memory, time or 64-bit
// arithmetic, so hostile input ends in a clear error instead of a hang, a crash or a wrong number.

/// Bytes tpc reads from one input file (config.json, plan, architecture template). Real ones are
/// under 1 MiB (Llama-3.1-405B's config: 1 KiB; the largest bundled plan: 4 KiB).
inline constexpr std::size_t kMaxInputBytes = 64u << 20;

/// Bytes of one safetensors header, the reference implementation's own bound (MAX_HEADER_SIZE);
/// real ones are under 2 MB (Llama-3.1-405B's largest shard: about 40 KB).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// .safetensors files in one checkpoint, each opened for its header (DeepSeek-V3: 163 shards;
/// Llama-3.1-405B: 191).
inline constexpr std::size_t kMaxCheckpointFiles = 65'536;

/// Tensors in one checkpoint, all files together (DeepSeek-V3: about 91,000 with its FP8 scales).
inline constexpr std::size_t kMaxCheckpointTensors = 4'000'000;

/// Decoder layers a config may declare (Llama-3.1-405B: 126; DeepSeek-V3: 61).
inline constexpr int64_t kMaxLayers = 10'000;

/// Entries in one plan, duplicates included (real plans: under 40).
inline constexpr std::size_t kMaxPlanEntries = 100'000;

/// Nesting depth of an architecture-template expression (real ones: 3).
inline constexpr int kMaxExprDepth = 64;

/// Scalars flattened from one layer's `block_configs` entry (Nemotron-NAS: about 10). Bounds the
/// work a YAML alias bomb can cause, since aliases share nodes that flattening would expand.
inline constexpr std::size_t kMaxBlockConfigScalars = 10'000;

/// Nodes flattened from all of `block_configs` together (Llama-3.1-Nemotron-Ultra-253B: 162 layers
/// of about 10). Layers x kMaxBlockConfigScalars alone would allow 10^8.
inline constexpr std::size_t kMaxBlockConfigNodes = 1'000'000;

/// Characters of a config value quoted in a message (real values: under 20); longer ones are cut.
inline constexpr std::size_t kMaxQuotedValue = 60;

/// Largest value of one dimension, head count or other size read from a config (real vocabularies:
/// about 2^18).
inline constexpr int64_t kMaxDimension = int64_t{1} << 40;

/// Elements in the whole model, every parameter summed (DeepSeek-V3: 6.7e11, about 2^39.3). At 8
/// bytes per element this keeps every byte count tpc computes below 2^55, inside int64.
inline constexpr int64_t kMaxModelElements = int64_t{1} << 52;

/// Characters a did-you-mean suggestion compares; longer words get no suggestion (edit distance
/// is quadratic in length).
inline constexpr std::size_t kMaxSuggestLength = 256;

/// Characters of a source line quoted under a diagnostic; a longer line is cut to a window around
/// the caret.
inline constexpr std::size_t kMaxQuotedLine = 160;

/// Tensor-parallel ranks: the largest --tp and the largest tp a program.json may declare (real
/// runs: 8 to 72, one GB200 NVL72 domain).
inline constexpr int kMaxTp = 1 << 20;

/// LoRA rank of --lora-rank and of a program.json (real adapters: 8 to 256).
inline constexpr int kMaxLoraRank = 1 << 16;

/// Tokens per forward pass of the link model, --tokens and a program.json (real: about 2^12 to 2^20).
inline constexpr int64_t kMaxTokens = int64_t{1} << 40;

/// Symlinks followed to find the file an output replaces (Linux follows at most 40 in one path).
inline constexpr int kMaxSymlinkHops = 40;

/// Link bandwidth in GB/s --link-gbps takes (NVLink5: 900).
inline constexpr double kMaxLinkGbps = 1e6;

/// tpc-run load's --timeout in seconds: a rank waits at most this long for another (torch's default
/// for Gloo is 1800 s; a week bounds it so the milliseconds never overflow).
inline constexpr int kMaxLoadTimeoutSeconds = 7 * 24 * 3600;

/// Bytes of checkpoint tpc-run load reads at once to cut one tensor's runs (a 70B model's largest
/// tensor is about 2 GB; strided runs of one window are copied out of one read).
inline constexpr uint64_t kLoadWindowBytes = uint64_t{64} << 20;

/// Strided runs (shard_dim > 0) of at most this many bytes go to the GPU with their enclosing rows
/// and are cut there; longer ones are read one by one (a tp-8 down_proj row of Llama 8B: 3.5 KiB).
inline constexpr uint64_t kLoadCutMaxRunBytes = uint64_t{64} << 10;

/// Threads that read one pinned window of --device cuda, and the least each reads: one thread copies
/// about 5-10 GB/s out of the page cache, pinned host-to-device copies run at about 50 GB/s (PCIe 5).
inline constexpr unsigned kLoadReadThreads = 8;
inline constexpr uint64_t kLoadReadPartBytes = uint64_t{4} << 20;

/// Runs per row of one cut (a fused qkv has 3 slices per row; 64 leaves room for fused experts).
inline constexpr size_t kLoadMaxCutsPerRow = 64;

/// Bytes of checkpoint each tpc-run shard thread maps at once (mapped memory stays under threads x
/// this; a Llama-70B shard of 8 GB is 128 windows, so a mapping's cost is spread over 64 MiB).
inline constexpr uint64_t kShardWindowBytes = uint64_t{64} << 20;

}  // namespace tpc::limits

#endif  // TPC_SUPPORT_LIMITS_H_
