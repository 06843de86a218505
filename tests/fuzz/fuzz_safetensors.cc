// Fuzz target: a whole safetensors file held in memory, its header checked as a checkpoint's would be.
#include <algorithm>
#include <memory>
#include <string>

#include "frontend/bind_checkpoint.h"
#include "frontend/model_loader.h"
#include "frontend/plan_loader.h"
#include "fuzz/fuzz_pipeline.h"
#include "support/safetensors_header.h"

namespace {

// A tiny Mixtral (per-expert stored names), its own plan at tp 2: what a header is bound to and
// compiled for (the seed tests/fuzz/repro/safetensors/tiny_mixtral.safetensors matches it).
const char* kConfig = R"({"model_type": "mixtral", "hidden_size": 8, "num_attention_heads": 2,
  "num_key_value_heads": 2, "intermediate_size": 4, "num_local_experts": 2, "num_experts_per_tok": 1,
  "num_hidden_layers": 1, "vocab_size": 16, "tie_word_embeddings": true})";
const char* kPlan = "base_model_tp_plan:\n  layers.*.self_attn.q_proj: colwise\n  layers.*.self_attn.k_proj: colwise\n"
                    "  layers.*.self_attn.v_proj: colwise\n  layers.*.self_attn.o_proj: rowwise\n"
                    "  layers.*.mlp.experts.gate_up_proj: packed_colwise\n  layers.*.mlp.experts.down_proj: rowwise\n"
                    "  layers.*.mlp.experts: moe_tp_experts\n";

// Binds the header's tensors to the model and runs every check, the lowering and the renderers.
void BindAndCompile(const tpc::SafetensorsHeader& header) {
  using namespace tpc;
  SourceManager sm;
  Diagnostics diags(sm);
  ArchRegistry registry = fuzz::Registry();
  std::optional<ModelGraph> model = ParseModel("config.json", kConfig, registry, diags);
  std::optional<Plan> plan = ParsePlan("plan.yaml", kPlan, diags);
  if (!model || !plan) __builtin_trap();  // fixed inputs
  Checkpoint ck;
  ck.files.push_back({"model.safetensors", "model.safetensors", static_cast<int64_t>(header.file_bytes), ""});
  for (const SafetensorsTensor& t : header.tensors)
    ck.tensors.push_back({t.name, 0, t.dtype, std::vector<int64_t>(t.shape.begin(), t.shape.end())});
  std::sort(ck.tensors.begin(), ck.tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  CheckpointBinding b = BindCheckpoint(*model, std::move(ck));
  // Every stored tensor is exactly one piece, scale, per-head tensor or extra.
  std::vector<int> seen(b.checkpoint.tensors.size(), 0);
  for (const auto& mod : b.pieces)
    for (const auto& param : mod)
      for (const StoredPiece& p : param) ++seen[p.tensor];
  for (const StoredScale& s : b.scales) ++seen[s.tensor];
  for (const StoredPerHead& h : b.per_head) ++seen[h.tensor];
  for (const StoredExtra& e : b.extras) ++seen[e.tensor];
  if (std::any_of(seen.begin(), seen.end(), [](int n) { return n != 1; })) __builtin_trap();
  model->checkpoint = std::make_shared<const CheckpointBinding>(std::move(b));
  fuzz::RunPipeline(*model, *plan, diags);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tpc;
  SourceManager sm;
  Diagnostics diags(sm);
  SafetensorsHeader header;
  bool ok = CheckSafetensorsBytes("model.safetensors", std::string(reinterpret_cast<const char*>(data), size),
                                  &header, diags);
  if (ok == diags.has_fatal()) __builtin_trap();  // a rejected file has exactly its fatal diagnostic
  if (ok) {
    // The invariants a loader relies on: tensors tile the data in order, inside the file.
    uint64_t at = 0;
    for (const SafetensorsTensor& t : header.tensors) {
      if (t.begin != at || t.end < t.begin) __builtin_trap();
      at = t.end;
    }
    if (8 + header.header_bytes + at != header.file_bytes || header.file_bytes != size) __builtin_trap();
    BindAndCompile(header);
  }
  fuzz::RenderAll(diags);
  return 0;
}
