#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "backend/render_diagnostics.h"
#include "frontend/model_loader.h"
#include "test_util.h"

namespace tpc {
namespace {

struct Loaded {
  std::optional<ModelGraph> model;
  std::string text;
};

Loaded FromText(const std::string& text) {
  SourceManager sm;
  Diagnostics diags(sm);
  Loaded l;
  l.model = ParseModel("config.json", text, test::Registry(), diags);
  l.text = RenderText(diags, false);
  return l;
}

Loaded FromPath(const std::string& path) {
  SourceManager sm;
  Diagnostics diags(sm);
  Loaded l;
  l.model = LoadModel(path, test::Registry(), diags);
  l.text = RenderText(diags, false);
  return l;
}

int CountParams(const ModelGraph& g) {
  int n = 0;
  for (const Module& m : g.modules()) n += static_cast<int>(m.params.size());
  return n;
}

TEST_SUITE("model loader") {
  TEST_CASE("a checkpoint directory expands into the real module tree") {
    Loaded l = FromPath(test::SourcePath("tests/data/configs/meta-llama__Llama-3.1-8B"));
    REQUIRE(l.model);
    const ModelGraph& g = *l.model;
    CHECK(g.num_layers == 32);
    // 32 layers x (2 norms + 7 linears) + embed_tokens + norm + lm_head: the 291 tensors of the checkpoint.
    CHECK(CountParams(g) == 291);
    int q = g.Find("model.layers.31.self_attn.q_proj");
    int k = g.Find("model.layers.31.self_attn.k_proj");
    REQUIRE(q >= 0);
    REQUIRE(k >= 0);
    CHECK(g.at(q).params[0].shape == std::vector<int64_t>{4096, 4096});
    CHECK(g.at(k).params[0].shape == std::vector<int64_t>{1024, 4096});  // 8 KV heads x head_dim 128
    CHECK(g.at(g.Find("model.layers.0.mlp.down_proj")).params[0].shape == std::vector<int64_t>{4096, 14336});
    CHECK(g.at(g.Find("lm_head")).tied_to == -1);
  }

  TEST_CASE("a qwen3_moe config saved by transformers (num_local_experts, no num_experts) loads") {
    // transformers 5.x writes num_local_experts; num_experts is only its attribute_map alias.
    const char* config = R"({"model_type": "qwen3_moe", "hidden_size": 64, "num_attention_heads": 8,
      "num_key_value_heads": 4, "head_dim": 8, "intermediate_size": 128, "moe_intermediate_size": 32,
      "num_local_experts": 16, "num_experts_per_tok": 2, "num_hidden_layers": 2, "vocab_size": 256})";
    SourceManager sm;
    Diagnostics diags(sm);
    std::optional<ModelGraph> g = ParseModel("config.json", config, test::Registry(), diags);
    REQUIRE_MESSAGE(g, RenderText(diags, false));
    int experts = g->Find("model.layers.1.mlp.experts");
    REQUIRE(experts >= 0);
    CHECK(g->at(experts).params[0].shape == std::vector<int64_t>{16, 64, 64});
  }

  TEST_CASE("tie_word_embeddings ties lm_head to the embedding") {
    Loaded l = FromPath(test::SourcePath("tests/data/configs/meta-llama__Llama-3.2-1B/config.json"));
    REQUIRE(l.model);
    CHECK(l.model->at(l.model->Find("lm_head")).tied_to == l.model->Find("model.embed_tokens"));
    // head_dim is given (64): q_proj is 32 x 64 rows.
    CHECK(l.model->at(l.model->Find("model.layers.0.self_attn.q_proj")).params[0].shape[0] == 2048);
  }

  TEST_CASE("every bundled template parses and every fixture config loads") {
    SourceManager sm;
    Diagnostics diags(sm);
    for (const std::string& type : test::Registry().ModelTypes()) {
      CAPTURE(type);
      CHECK(test::Registry().Find(type, diags) != nullptr);
    }
    CHECK(RenderText(diags, false) == "");
    int fixtures = 0;
    for (const auto& e : std::filesystem::directory_iterator(test::SourcePath("tests/data/configs"))) {
      CAPTURE(e.path().string());
      Loaded l = FromPath(e.path().string());
      CHECK(l.model);
      CHECK(l.text == "");
      ++fixtures;
    }
    CHECK(fixtures >= 25);
  }

  TEST_CASE("the issue's architectures are all supported") {
    std::vector<std::string> types = test::Registry().ModelTypes();
    for (const char* t : {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
                          "gemma3", "gemma3_text", "phi", "phi3", "olmo2", "smollm3", "gpt_neox", "baichuan",
                          "falcon_h1", "deepseek_v3", "gpt_oss", "granite", "starcoder2", "nemotron-nas"}) {
      CAPTURE(t);
      CHECK(std::find(types.begin(), types.end(), t) != types.end());
    }
  }

  TEST_CASE("DeciLM block_configs set per-layer shapes") {
    Loaded l = FromPath(test::SourcePath("tests/data/configs/synthetic__decilm-4layer"));
    REQUIRE(l.model);
    const ModelGraph& g = *l.model;
    // ffn_mult m gives round_up(2 * m * 8192 / 3, 256): 5.25 -> 28672, 2.625 -> 14336, 1.3125 -> 7168.
    CHECK(g.at(g.Find("model.layers.0.mlp.up_proj")).params[0].shape[0] == 28672);
    CHECK(g.at(g.Find("model.layers.1.mlp.up_proj")).params[0].shape[0] == 14336);
    CHECK(g.at(g.Find("model.layers.2.mlp.up_proj")).params[0].shape[0] == 7168);
    CHECK(g.Find("model.layers.3.mlp.up_proj") == -1);      // ffn no_op
    CHECK(g.Find("model.layers.2.self_attn.q_proj") == -1);  // attention no_op
    CHECK(g.at(g.Find("model.layers.1.self_attn.k_proj")).params[0].shape[0] == 4 * 128);  // 64 / 16 KV heads
  }

  TEST_CASE("a VLM config nests the text model under model.language_model") {
    Loaded l = FromPath(test::SourcePath("tests/data/configs/google__gemma-3-27b"));
    REQUIRE(l.model);
    CHECK(l.model->base_prefix == "model.language_model");
    int q = l.model->Find("model.language_model.layers.61.self_attn.q_proj");
    REQUIRE(q >= 0);
    CHECK(l.model->at(q).params[0].shape == std::vector<int64_t>{4096, 5376});  // 32 x 128 != hidden 5376
    CHECK(l.model->Find("lm_head") >= 0);
  }

  TEST_CASE("an unknown model_type names the supported ones") {
    Loaded l = FromText("{\"model_type\": \"lama\"}");
    CHECK_FALSE(l.model);
    CHECK(l.text.rfind("config.json:1:16: error: unknown model_type 'lama' (did you mean 'llama'?); supported: ", 0) == 0);
    CHECK(l.text.find("llama, mistral") != std::string::npos);
    CHECK(l.text.find("[unknown-model-type]\n{\"model_type\": \"lama\"}\n               ^~~~~~\n") != std::string::npos);
  }

  TEST_CASE("a missing field says which module needs it") {
    Loaded l = FromText(R"({"model_type": "llama", "hidden_size": 64, "vocab_size": 10, "num_hidden_layers": 2,
                            "intermediate_size": 128})");
    CHECK_FALSE(l.model);
    CHECK(l.text ==
          "config.json: error: config field 'num_attention_heads' is missing or null, and the 'llama' architecture "
          "needs it (for the shape of 'model.layers.0.self_attn.q_proj') [missing-config-field]\n");
  }

  TEST_CASE("a config without model_type is rejected") {
    Loaded l = FromText("{\"hidden_size\": 64}");
    CHECK_FALSE(l.model);
    CHECK(l.text.rfind("config.json: error: config has no 'model_type'; supported: ", 0) == 0);
  }

  TEST_CASE("a config that is not an object is rejected") {
    Loaded l = FromText("[1, 2]");
    CHECK_FALSE(l.model);
    CHECK(l.text == "config.json:1:1: error: a config.json must be a mapping, got a sequence [not-a-mapping]\n[1, 2]\n^\n");
  }

  TEST_CASE("tab-indented JSON loads") {
    Loaded l = FromText("{\n\t\"model_type\": \"llama\",\n\t\"hidden_size\": 64,\n\t\"num_attention_heads\": 8,\n"
                        "\t\"intermediate_size\": 128,\n\t\"num_hidden_layers\": 1,\n\t\"vocab_size\": 10\n}\n");
    REQUIRE(l.model);
    CHECK(l.model->num_layers == 1);
  }

  TEST_CASE("an unreadable path is a clear error") {
    Loaded l = FromPath("/nonexistent/config.json");
    CHECK_FALSE(l.model);
    CHECK(l.text == "/nonexistent/config.json: error: cannot read '/nonexistent/config.json': No such file or "
                    "directory [file-unreadable]\n");
  }
}

}  // namespace
}  // namespace tpc
