#ifndef TPC_RUNTIME_VERIFY_REFERENCE_FORWARD_H_
#define TPC_RUNTIME_VERIFY_REFERENCE_FORWARD_H_

// tpc verify's reference forward: an interpreter over the ModelGraph's dataflow, as the compiler's
// frontend expands it from plans/arch/<family>.yaml, evaluating each module with the op of its
// kind on its weights and its `forward` attributes. No family has code of its own.

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "frontend/forward_spec.h"
#include "ir/model_graph.h"

namespace tpc::verify {

/// A model ready to run: its graph, numeric attributes and weights (tied ones shared).
struct ReferenceModel {
  ModelGraph graph;
  ForwardSpec forward;
  std::vector<std::vector<at::Tensor>> params;  ///< per module, per Param of the module
  std::vector<int> layer_out;                   ///< per layer, the module producing its output
};

/// Loads config.json and the safetensors checkpoint of `dir` through the compiler's frontend and
/// reads every parameter as `dtype` (kFloat or kDouble). False with `err` set on any problem.
bool LoadReferenceModel(const std::string& dir, at::ScalarType dtype, ReferenceModel* out, std::string* err);

/// The same for a model already loaded from `dir` with its checkpoint bound (what `tpc verify`
/// compiled), whose numerics `registry` (the templates it was loaded with, --arch-dir included) gives.
bool MakeReferenceModel(ModelGraph graph, const ArchRegistry& registry, const std::string& dir, at::ScalarType dtype,
                        ReferenceModel* out, std::string* err);

/// What a forward computed: logits, and hidden states as transformers' output_hidden_states gives
/// them (the embedding output, each layer's output, the last one after the final norm).
struct ForwardOutput {
  at::Tensor logits;
  std::vector<at::Tensor> hidden;
  std::vector<at::Tensor> values;  ///< per module id: its output (undefined for modules not run)
};

/// The dataflow modules in the order the forward runs them: forward order, with each router moved
/// just before the experts beside it (same parent), which read its output though the dataflow feeds
/// them the router's input. Empty on a cycle.
std::vector<int> ForwardOrder(const ModelGraph& g);
/// The router beside experts module `experts`, or -1.
int RouterOf(const ModelGraph& g, int experts);

/// The inputs, weights and attributes of one module evaluation; head counts are this rank's.
struct ModuleCall {
  const Module* module = nullptr;
  const ModuleForward* attrs = nullptr;
  std::vector<at::Tensor> inputs;     ///< one per dataflow input
  std::vector<at::Tensor> params;     ///< one per Param
  const Module* producer = nullptr;   ///< attention: the fused projection feeding it, if any
  at::Tensor positions;               ///< token positions [T]
  at::Tensor routing;                 ///< experts: the router's output
  int64_t heads = 0, kv_heads = 0;    ///< attention
  int64_t first_expert = 0;           ///< experts: the global index of the first one held
};

/// Evaluates one module with the op of its kind; throws on what it cannot compute.
at::Tensor EvalModule(const ModuleCall& call);

/// Runs the whole model on `ids` [B, T] (int64). False with `err` set when a module cannot be
/// computed (a kind or attribute the reference does not support).
bool RunReferenceForward(const ReferenceModel& model, const at::Tensor& ids, ForwardOutput* out, std::string* err);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_REFERENCE_FORWARD_H_
