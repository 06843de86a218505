// The `forward` section of architecture files: numeric semantics evaluated per module against a
// config (alternatives, layer types, per-module overrides), for tpc verify's reference forward.
#include <doctest/doctest.h>

#include "frontend/arch_template.h"
#include "frontend/forward_spec.h"
#include "frontend/model_loader.h"

namespace tpc {
namespace {

const char* kTemplate =
    "family: tiny\n"
    "model_types: [tiny]\n"
    "defaults: {head_dim: hidden_size // num_attention_heads}\n"
    "pre:\n"
    "  - {name: \"{base}.embed_tokens\", kind: embedding, role: embed, weight: [vocab_size, hidden_size]}\n"
    "layers:\n"
    "  path: \"{base}.layers\"\n"
    "  count: num_hidden_layers\n"
    "  in: \"{base}.embed_tokens\"\n"
    "  out: attn\n"
    "  modules:\n"
    "    - {name: norm, kind: norm, role: norm, weight: [hidden_size], in: [residual]}\n"
    "    - {name: attn, kind: attention, heads: num_attention_heads, kv_heads: num_attention_heads, in: [norm, norm, norm]}\n"
    "post:\n"
    "  - {name: lm_head, kind: linear, role: lm_head, weight: [vocab_size, hidden_size], in: [layers]}\n"
    "forward:\n"
    "  embedding: {scale: sqrt(hidden_size)}\n"
    "  norm: {type: rms, eps: [rms_norm_eps, 0.000001]}\n"
    "  attention:\n"
    "    rope_theta: [rope_parameters.rope_theta, rope_theta]\n"
    "    scale: 1 / sqrt(head_dim)\n"
    "    window: [\"layer_type.sliding_attention * sliding_window\", 0]\n"
    "    rope_type: {config: [\"rope_parameters.{layer_type}.rope_type\"], default: default}\n"
    "  modules:\n"
    "    lm_head: {softcap: [final_logit_softcapping, 0]}\n";

struct Loaded {
  ModelGraph g;
  ForwardSpec spec;
  const ModuleForward& At(const std::string& name) const { return spec.modules[g.Find(name)]; }
};

Loaded Load(const std::string& config, const std::string& forward_extra = "") {
  SourceManager sources;
  Diagnostics diags(sources);
  ArchRegistry registry;
  REQUIRE(registry.Add("tiny.yaml", kTemplate + forward_extra, diags));
  std::optional<ModelGraph> g = ParseModel("config.json", config, registry, diags);
  REQUIRE(g);
  Loaded out{std::move(*g), {}};
  out.spec = EvalForwardSpec(out.g, *registry.Find("tiny", diags), YAML::Load(config));
  return out;
}

TEST_SUITE("forward-spec") {
  TEST_CASE("kind attributes take the first alternative whose fields are set, per layer") {
    Loaded m = Load(R"({"model_type": "tiny", "vocab_size": 8, "hidden_size": 16, "num_attention_heads": 4,
      "num_hidden_layers": 2, "rope_parameters": {"rope_theta": 500}, "sliding_window": 3,
      "layer_types": ["sliding_attention", "full_attention"], "final_logit_softcapping": 30})");
    CHECK(m.spec.problems.empty());
    CHECK(m.spec.covered);
    CHECK(m.At("model.embed_tokens").num.at("scale") == 4);
    CHECK(m.At("model.layers.0.norm").str.at("type") == "rms");
    CHECK(m.At("model.layers.0.norm").num.at("eps") == 0.000001);
    CHECK(m.At("model.layers.0.attn").num.at("rope_theta") == 500);
    CHECK(m.At("model.layers.0.attn").num.at("scale") == 0.5);  // head_dim 4, a template default
    CHECK(m.At("model.layers.0.attn").num.at("window") == 3);
    CHECK(m.At("model.layers.1.attn").num.at("window") == 0);
    CHECK(m.At("lm_head").num.at("softcap") == 30);
    CHECK(m.At("model.layers.0.attn").str.at("rope_type") == "default");
  }

  TEST_CASE("a string attribute reads the config field of the layer's type") {
    Loaded m = Load(R"({"model_type": "tiny", "vocab_size": 8, "hidden_size": 16, "num_attention_heads": 4,
      "num_hidden_layers": 2, "rope_theta": 10000, "rms_norm_eps": 0.001,
      "layer_types": ["sliding_attention", "full_attention"],
      "rope_parameters": {"full_attention": {"rope_type": "linear"}, "sliding_attention": {"rope_type": "default"}}})");
    CHECK(m.At("model.layers.0.attn").str.at("rope_type") == "default");
    CHECK(m.At("model.layers.1.attn").str.at("rope_type") == "linear");
    CHECK(m.At("model.layers.0.attn").num.at("rope_theta") == 10000);
    CHECK(m.At("model.layers.1.norm").num.at("eps") == 0.001);
    CHECK(m.At("lm_head").num.at("softcap") == 0);
  }

  TEST_CASE("an attribute no alternative can give is a problem naming the module, not a load failure") {
    Loaded m = Load(R"({"model_type": "tiny", "vocab_size": 8, "hidden_size": 16, "num_attention_heads": 4,
      "num_hidden_layers": 1, "rope_theta": null})");
    REQUIRE(m.spec.problems.size() == 1);
    CHECK(m.spec.problems[0] ==
          "rope_theta of 'model.layers.0.attn': none of rope_parameters.rope_theta, rope_theta can be evaluated");
    CHECK(m.At("model.layers.0.attn").num.count("rope_theta") == 0);
  }

  TEST_CASE("a model type left out of forward.model_types is not covered and gets no attributes") {
    const char* config = R"({"model_type": "tiny", "vocab_size": 8, "hidden_size": 16, "num_attention_heads": 4,
      "num_hidden_layers": 1, "rope_theta": 1})";
    Loaded other = Load(config, "  model_types: [llama]\n");
    CHECK_FALSE(other.spec.covered);
    CHECK(other.At("model.layers.0.norm").num.empty());
    CHECK(Load(config, "  model_types: [llama, tiny]\n").spec.covered);
  }

  TEST_CASE("an unknown forward field is a bad-arch-template at its place") {
    SourceManager sources;
    Diagnostics diags(sources);
    ArchRegistry registry;
    std::string text = std::string(kTemplate) + "  mixer: {eps: 1}\n";
    CHECK_FALSE(registry.Add("tiny.yaml", text, diags));
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].message ==
          "architecture template: unknown forward field 'mixer' (expected a module kind, 'modules' or 'model_types')");
    CHECK(diags.all()[0].loc.line == 26);
  }

  TEST_CASE("a misspelt forward attribute is an error with a suggestion, not a silent default") {
    SourceManager sources;
    Diagnostics diags(sources);
    ArchRegistry registry;
    std::string text = std::string(kTemplate) + "  add: {ofset: 1}\n";
    CHECK_FALSE(registry.Add("tiny.yaml", text, diags));
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].message == "architecture template: unknown forward attribute 'ofset'; did you mean 'offset'?");
  }
}

}  // namespace
}  // namespace tpc
