#include "runtime/verify/reference_forward.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>

#include "frontend/arch_template.h"
#include "frontend/bind_checkpoint.h"
#include "frontend/checkpoint_loader.h"
#include "frontend/model_loader.h"
#include "runtime/verify/checkpoint_tensors.h"
#include "runtime/verify/verify_ops.h"
#include "support/diagnostics.h"
#include "support/source_manager.h"

namespace tpc::verify {
namespace {

std::string FirstError(const Diagnostics& diags, const std::string& fallback) {
  for (const Diagnostic& d : diags.all())
    if (d.severity == Severity::kError || d.severity == Severity::kFatal)
      return (d.loc.file >= 0 ? diags.sources().path(d.loc.file) + ": " : std::string()) + d.message;
  return fallback;
}

// The model types whose architecture files describe their numerics: "gemma2, llama, mistral".
std::string CoveredTypes(const ArchRegistry& registry) {
  SourceManager sources;
  Diagnostics diags(sources);
  std::vector<std::string> out;
  for (const std::string& type : registry.ModelTypes()) {
    const ArchTemplate* t = registry.Find(type, diags);
    if (!t || !t->forward.present) continue;
    const std::vector<std::string>& only = t->forward.model_types;
    if (only.empty() || std::find(only.begin(), only.end(), type) != only.end()) out.push_back(type);
  }
  std::string joined;
  for (const std::string& t : out) joined += (joined.empty() ? "" : ", ") + t;
  return joined;
}

// An attribute the op cannot do without; its absence is a problem ForwardSpec recorded.
double Need(const ModuleForward& a, const std::string& name, const Module& m) {
  auto it = a.num.find(name);
  if (it == a.num.end()) throw std::invalid_argument("'" + m.name + "' has no '" + name + "' in its forward attributes");
  return it->second;
}
std::string Str(const ModuleForward& a, const std::string& name, const std::string& fallback) {
  auto it = a.str.find(name);
  return it == a.str.end() ? fallback : it->second;
}

// Per layer, the module a later layer or the post modules read: the layer's output.
std::vector<int> LayerOutputs(const ModelGraph& g) {
  std::vector<int> out(g.num_layers, -1);
  for (const Module& m : g.modules())
    for (int in : m.inputs) {
      int l = g.at(in).layer;
      if (l >= 0 && l != m.layer) out[l] = in;
    }
  return out;
}

}  // namespace

bool LoadReferenceModel(const std::string& dir, at::ScalarType dtype, ReferenceModel* out, std::string* err) {
  SourceManager sources;
  Diagnostics diags(sources);
  ArchRegistry registry;
  if (!registry.Load("", diags)) return *err = FirstError(diags, "cannot load the architecture files"), false;
  std::optional<ModelGraph> g = LoadModel(dir, registry, diags);
  if (!g || diags.has_fatal()) return *err = FirstError(diags, "cannot load " + dir), false;
  std::optional<Checkpoint> ckpt = LoadCheckpoint(dir, diags);
  if (!ckpt || diags.has_fatal() || ckpt->files.empty())
    return *err = FirstError(diags, dir + " holds no safetensors checkpoint"), false;
  g->checkpoint = std::make_shared<const CheckpointBinding>(BindCheckpoint(*g, std::move(*ckpt)));
  return MakeReferenceModel(std::move(*g), registry, dir, dtype, out, err);
}

bool MakeReferenceModel(ModelGraph graph, const ArchRegistry& registry, const std::string& dir, at::ScalarType dtype,
                        ReferenceModel* out, std::string* err) {
  if (!graph.checkpoint || graph.checkpoint->checkpoint.files.empty())
    return *err = dir + " holds no safetensors checkpoint", false;
  SourceManager sources;
  Diagnostics diags(sources);
  std::optional<ForwardSpec> spec = LoadForwardSpec(graph, registry, dir, diags);
  if (!spec) return *err = FirstError(diags, "cannot evaluate the forward attributes"), false;
  if (!spec->covered)
    return *err = "model type '" + graph.model_type + "' has no reference forward (plans/arch/" + graph.family +
                  ".yaml describes its numerics for " + CoveredTypes(registry) + ")", false;
  try {
    if (!ReadParameters(graph, dtype, &out->params, err)) return false;
  } catch (const c10::Error& e) {
    return *err = e.what_without_backtrace(), false;
  }
  out->layer_out = LayerOutputs(graph);
  out->graph = std::move(graph);
  out->forward = std::move(*spec);
  return true;
}

at::Tensor EvalModule(const ModuleCall& c) {
  const Module& m = *c.module;
  const ModuleForward& a = *c.attrs;
  auto param = [&](size_t i) { return i < c.params.size() ? c.params[i] : at::Tensor(); };
  switch (m.kind) {
    case ModuleKind::kEmbedding:
      return Embedding(c.inputs.at(0), param(0), a.Num("scale", 1));
    case ModuleKind::kNorm: {
      NormAttrs n{Str(a, "type", "rms"), Need(a, "eps", m), a.Num("offset", 0)};
      // Several inputs come through a dropped add (gpt_neox's parallel residual): the data says which.
      size_t input = c.inputs.size() == 1 ? 0 : static_cast<size_t>(Need(a, "input", m));
      return Norm(c.inputs.at(input), param(0), param(1), n);
    }
    case ModuleKind::kLinear: {
      at::Tensor out = Linear(c.inputs.at(0), param(0), param(1), a.Num("softcap", 0));
      if (auto act = a.str.find("act"); act != a.str.end()) out = Activation(act->second, out);
      return out;
    }
    case ModuleKind::kAdd: {
      at::Tensor sum = c.inputs.at(0);
      for (size_t i = 1; i < c.inputs.size(); ++i) sum = sum + c.inputs[i];
      return sum;
    }
    case ModuleKind::kMul:
      return GatedMul(c.inputs.at(0), c.inputs.size() > 1 ? c.inputs[1] : at::Tensor(), Str(a, "act", "silu"));
    case ModuleKind::kAttention: {
      std::string rope = Str(a, "rope_type", "default");
      if (rope != "default" && rope != "linear")
        throw std::invalid_argument("'" + m.name + "': rope type '" + rope + "' is not computed yet (default and linear are)");
      AttentionAttrs at{c.heads, c.kv_heads, Need(a, "rope_theta", m), a.Num("rotary_fraction", 1),
                        rope == "linear" ? Need(a, "rope_factor", m) : 1.0, a.Num("scale", 0), a.Num("softcap", 0),
                        static_cast<int64_t>(a.Num("window", 0))};
      at::Tensor q, k, v;
      if (c.inputs.size() == 3) {
        q = c.inputs[0], k = c.inputs[1], v = c.inputs[2];
      } else {
        bool per_head = c.producer && c.producer->fused == FusedLayout::kPerHead;
        SplitQkv(c.inputs.at(0), per_head, c.heads, c.kv_heads, &q, &k, &v);
      }
      return Attention(q, k, v, c.positions, at);
    }
    case ModuleKind::kRouter:
      return Router(c.inputs.at(0), param(0), static_cast<int64_t>(Need(a, "top_k", m)), a.Num("norm_topk", 0) != 0);
    case ModuleKind::kExperts: {
      if (!c.routing.defined()) throw std::invalid_argument("'" + m.name + "' has no router beside it");
      return Experts(c.inputs.at(0), c.routing, param(0), param(1), c.first_expert, Str(a, "act", "silu"));
    }
    default:
      throw std::invalid_argument("'" + m.name + "' is a " + KindName(m.kind) + ", which verify does not compute");
  }
}

std::vector<int> ForwardOrder(const ModelGraph& g) {
  Dataflow flow = g.Flow();
  std::vector<int> order;
  std::vector<bool> placed(g.modules().size(), false);
  for (int id : flow.order) {
    int router = RouterOf(g, id);
    if (router >= 0 && !placed[router]) {
      order.push_back(router);
      placed[router] = true;
    }
    if (!placed[id]) order.push_back(id);
    placed[id] = true;
  }
  return order;
}

int RouterOf(const ModelGraph& g, int experts) {
  const Module& m = g.at(experts);
  if (m.kind != ModuleKind::kExperts) return -1;
  for (size_t i = 0; i < g.modules().size(); ++i)
    if (g.modules()[i].kind == ModuleKind::kRouter && g.modules()[i].parent == m.parent) return static_cast<int>(i);
  return -1;
}

bool RunReferenceForward(const ReferenceModel& model, const at::Tensor& ids, ForwardOutput* out, std::string* err) {
  const ModelGraph& g = model.graph;
  std::vector<int> order = ForwardOrder(g);
  if (order.empty()) return *err = "the model's dataflow has a cycle", false;
  at::Tensor positions = at::arange(ids.size(1), at::TensorOptions().dtype(at::kLong));
  std::vector<at::Tensor>& values = out->values;
  values.assign(g.modules().size(), at::Tensor());
  try {
    for (int id : order) {
      const Module& m = g.at(id);
      ModuleCall c;
      c.module = &m;
      c.attrs = &model.forward.modules[id];
      c.params = model.params[id];
      c.positions = positions;
      c.heads = m.heads;
      c.kv_heads = m.kv_heads;
      if (m.kind == ModuleKind::kEmbedding) c.inputs.push_back(ids);
      for (int in : m.inputs) c.inputs.push_back(values[in]);
      if (m.kind == ModuleKind::kAttention && m.inputs.size() == 1) c.producer = &g.at(m.inputs[0]);
      if (int router = RouterOf(g, id); router >= 0) c.routing = values[router];
      values[id] = EvalModule(c);
    }
  } catch (const std::exception& e) {
    const c10::Error* ce = dynamic_cast<const c10::Error*>(&e);
    *err = ce ? ce->what_without_backtrace() : e.what();
    return false;
  }
  out->hidden.clear();
  int embed = -1, final_norm = -1, head = -1;
  for (int id : order) {
    const Module& m = g.at(id);
    if (m.kind == ModuleKind::kEmbedding && embed < 0) embed = id;
    if (m.role == Role::kLmHead) head = id;
  }
  if (embed < 0 || head < 0) return *err = "the model has no embedding or no lm_head", false;
  final_norm = g.at(head).inputs.at(0);
  out->hidden.push_back(values[embed]);
  for (int l = 0; l + 1 < g.num_layers; ++l) out->hidden.push_back(values[model.layer_out[l]]);
  out->hidden.push_back(values[final_norm]);  // transformers reports the last one normed
  out->logits = values[head];
  return true;
}

}  // namespace tpc::verify
