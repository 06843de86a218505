// check-quantization: what the config's quantization_config means for the plan. FP8 block
// quantisation (quant_method fp8, weight_block_size [rows, cols], as DeepSeek-V3 and Qwen3-FP8
// ship) stores one scale per block, so a shard must hold whole blocks: a boundary inside a block
// is an error naming the tp sizes that work (vLLM refuses these at load time). Any other method
// (mxfp4, awq, gptq, bitsandbytes, per-tensor fp8) packs or scales tensors in ways tpc does not
// model: with a checkpoint that is an error, from a config alone a warning (the model is checked
// as transformers builds it unquantised), and `tpc compile` refuses it either way.
#include "ir/program.h"
#include "passes/analysis.h"
#include "support/strings.h"

namespace tpc {
namespace {

bool IsFp8(const std::string& dtype) { return dtype == "F8_E4M3" || dtype == "F8_E5M2"; }

// True when parameter `p` of module `m` is stored as FP8: as the checkpoint says, or, from a config
// alone, every linear projection and expert weight inside the decoder layers (routers and norms,
// embeddings and lm_head stay in bf16 in the FP8 checkpoints).
bool Fp8Quantized(const ModelGraph& model, int m, int p) {
  const Module& mod = model.at(m);
  if (model.checkpoint) {
    const CheckpointBinding& b = *model.checkpoint;
    for (const StoredPiece& piece : b.pieces[m][p])
      if (IsFp8(b.checkpoint.tensors[piece.tensor].dtype)) return true;
    return false;
  }
  if (mod.layer < 0) return false;
  if (mod.kind == ModuleKind::kExperts) return mod.params[p].role == Role::kGateUp || mod.params[p].role == Role::kDown;
  return mod.kind == ModuleKind::kLinear && mod.params[p].name == "weight" && mod.role != Role::kRouter &&
         mod.role != Role::kSharedExpertGate;
}

// The first row at which a tp-way split of `segments` cuts a block of `block` rows, or -1.
int64_t FirstSplitBlock(const std::vector<Segment>& segments, int tp, int64_t block) {
  int64_t offset = 0;
  for (const Segment& s : segments) {
    for (int r = 1; r < tp; ++r) {
      int64_t at = ChunkRange(s.rows, tp, r).begin;
      if (at < s.rows && at % block != 0) return offset + at;
    }
    offset += s.rows;
  }
  return -1;
}

}  // namespace

bool CheckQuantization(const Analysis& a, Diagnostics& diags) {
  const Quantization& q = a.model.quant;
  if (q.method.empty()) return true;
  int before = diags.errors();
  if (q.method != "fp8" || q.weight_block.size() != 2) {
    bool fatal_here = a.model.checkpoint != nullptr;
    std::string why = q.method == "fp8" ? "only block-quantised FP8 (weight_block_size) is placed so far"
                                        : "tpc places bf16, fp16, fp32 and block-quantised FP8 weights only";
    why += fatal_here ? "; the stored tensors cannot be sharded as the plan says"
                      : "; this check treats the model as transformers builds it unquantised, and `tpc compile` refuses it";
    diags.Report(fatal_here ? DiagId::kUnsupportedQuantization : DiagId::kUnsupportedQuantizationWarning, q.loc,
                 {q.method, why});
    return diags.errors() == before;
  }
  if (a.opts.tp <= 1) return true;
  LayerAggregator agg;
  const std::vector<Module>& mods = a.model.modules();
  for (size_t m = 0; m < mods.size(); ++m) {
    const Module& mod = mods[m];
    if (mod.is_virtual) continue;
    for (size_t p = 0; p < mod.params.size(); ++p) {
      const Param& param = mod.params[p];
      Placement pl = a.ParamPlacementOf(static_cast<int>(m), static_cast<int>(p));
      if (pl.kind != Placement::kShard || !Fp8Quantized(a.model, static_cast<int>(m), static_cast<int>(p))) continue;
      // Blocks tile the last two dims, [rows, cols]; a 3-D expert tensor's dim 0 is the expert.
      int rank = static_cast<int>(param.shape.size());
      int k = pl.dim - (rank - 2);
      if (k < 0 || k > 1) continue;
      int64_t n = param.shape[pl.dim];
      int entry = a.param_entry[m][p];
      const StyleInfo* style = entry >= 0 ? a.EffectiveStyle(entry) : nullptr;
      std::vector<Segment> segments = style && style->packed ? PackedSegments(mod, n) : std::vector<Segment>{{"", n}};
      int64_t block = q.weight_block[k];
      int64_t row = FirstSplitBlock(segments, a.opts.tp, block);
      if (row < 0) continue;
      std::vector<int64_t> work;
      for (int t = 1; t <= 64 && t <= n; ++t)
        if (FirstSplitBlock(segments, t, block) < 0) work.push_back(t);
      std::string name = GenericName(mod.name + "." + param.name);
      agg.Add("fp8 " + name, DiagId::kFp8BlockSplit, entry >= 0 ? a.EntryLoc(entry) : SourceLoc{a.model.config_file, 0, 0, 0},
              {"tp " + std::to_string(a.opts.tp), name, "dim " + std::to_string(pl.dim) + " of",
               "[" + JoinInts(param.shape) + "]", (k == 0 ? "row " : "column ") + std::to_string(row),
               std::to_string(block) + (k == 0 ? " rows" : " columns"), JoinInts(work)},
              {Note{q.block_loc, "weight_block_size is set here"}}, mod.layer);
    }
  }
  agg.Flush(diags, a.model.num_layers);
  return diags.errors() == before;
}

}  // namespace tpc
