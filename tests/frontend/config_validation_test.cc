// Config values the architecture templates read are checked against their use: sizes are positive
// integers within limits, conditions numbers or booleans, and every problem names the config
// file, the field's line and the value as written.
#include <doctest/doctest.h>

#include <chrono>
#include <climits>
#include <filesystem>

#include "backend/render_diagnostics.h"
#include "frontend/model_loader.h"
#include "passes/lowering.h"
#include "test_util.h"

namespace tpc {
namespace {

struct Loaded {
  std::optional<ModelGraph> model;
  std::string text;
  std::vector<std::string> codes;
  double seconds = 0;
};

Loaded Parse(const std::string& name, const std::string& text) {
  SourceManager sm;
  Diagnostics diags(sm);
  Loaded l;
  auto start = std::chrono::steady_clock::now();
  l.model = ParseModel(name, text, test::Registry(), diags);
  l.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  l.text = RenderText(diags, false);
  for (const Diagnostic& d : diags.all()) l.codes.push_back(d.code);
  return l;
}

// A llama config with one field per line; `field` gets `value` (JSON text) instead.
std::string Llama(const std::string& field, const std::string& value) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"hidden_size", "64"},       {"num_attention_heads", "8"}, {"num_key_value_heads", "2"},
      {"intermediate_size", "192"}, {"num_hidden_layers", "2"},   {"vocab_size", "1000"}};
  std::string text = "{\n  \"model_type\": \"llama\"";
  for (auto& [k, v] : fields) text += ",\n  \"" + k + "\": " + (k == field ? value : v);
  return text + "\n}\n";
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

TEST_SUITE("config validation") {
  TEST_CASE("a size field with a nonsense value is bad-config-field at its line, quoting the value") {
    struct Field {
      const char* name;
      const char* place;  // config.json:line:column of the value in Llama()
    };
    const Field fields[] = {
        {"hidden_size", "config.json:3:18"},       {"num_attention_heads", "config.json:4:26"},
        {"num_key_value_heads", "config.json:5:26"}, {"intermediate_size", "config.json:6:24"},
        {"num_hidden_layers", "config.json:7:24"},   {"vocab_size", "config.json:8:17"},
    };
    struct Bad {
      const char* json;
      const char* shown;
    };
    const Bad bad[] = {
        {"-4096", "-4096"},
        {"0", "0"},
        {"1.5", "1.5"},
        {"true", "true"},
        {"\"4096\"", "\"4096\" (a string)"},
        {"\"nan\"", "\"nan\" (a string)"},
        {"\"0x20\"", "\"0x20\" (a string)"},
        {"1e30", "1e30"},
        {"[1]", "[1] (a sequence)"},
        {"{\"a\": 1}", "{\"a\": 1} (a mapping)"},
    };
    for (const Field& f : fields)
      for (const Bad& b : bad) {
        CAPTURE(f.name);
        CAPTURE(b.json);
        Loaded l = Parse("config.json", Llama(f.name, b.json));
        CHECK_FALSE(l.model);
        CHECK(l.codes == std::vector<std::string>{"bad-config-field"});
        std::string range = std::string(b.json) == "1e30" ? " up to 1099511627776" : "";
        CHECK(FirstLine(l.text) == std::string(f.place) + ": error: config field '" + f.name +
                                       "' must be a positive integer" + range + ", got " + b.shown +
                                       " [bad-config-field]");
        CHECK(l.text.find("plans/arch") == std::string::npos);
      }
  }

  TEST_CASE("a null size field without a default is missing-config-field at its line") {
    for (const char* field : {"hidden_size", "num_attention_heads", "intermediate_size", "num_hidden_layers",
                              "vocab_size"}) {
      CAPTURE(field);
      Loaded l = Parse("config.json", Llama(field, "null"));
      CHECK_FALSE(l.model);
      CHECK(l.codes == std::vector<std::string>{"missing-config-field"});
      CHECK(l.text.rfind("config.json:", 0) == 0);
      CHECK(l.text.find("config field '" + std::string(field) + "' is missing or null") != std::string::npos);
    }
    CHECK(FirstLine(Parse("config.json", Llama("hidden_size", "null")).text) ==
          "config.json:3:18: error: config field 'hidden_size' is missing or null, and the 'llama' architecture needs "
          "it (for the shape of 'model.embed_tokens') [missing-config-field]");
    CHECK(FirstLine(Parse("config.json", Llama("num_hidden_layers", "null")).text) ==
          "config.json:7:24: error: config field 'num_hidden_layers' is missing or null, and the 'llama' "
          "architecture needs it (for the number of layers) [missing-config-field]");
  }

  TEST_CASE("a null field keeps the template default, as transformers does; a list there does not") {
    Loaded l = Parse("config.json", Llama("num_key_value_heads", "null"));
    REQUIRE(l.model);
    CHECK(l.text == "");
    CHECK(l.model->at(l.model->Find("model.layers.0.self_attn.attention")).kv_heads == 8);
    Loaded list = Parse("config.json", Llama("num_key_value_heads", "[2]"));
    CHECK_FALSE(list.model);
    CHECK(FirstLine(list.text) == "config.json:5:26: error: config field 'num_key_value_heads' must be a positive "
                                  "integer, got [2] (a sequence) [bad-config-field]");
  }

  TEST_CASE("an implausible layer count is refused at once and blamed on the config") {
    Loaded l = Parse("config.json", Llama("num_hidden_layers", "1e6"));
    CHECK_FALSE(l.model);
    CHECK(l.seconds < 5.0);  // a hang guard: the old loader ran for a minute
    CHECK(FirstLine(l.text) ==
          "config.json:7:24: error: config field 'num_hidden_layers' must be a positive integer up to 10000 for the "
          "number of layers, got 1e6 [bad-config-field]");
    Loaded big = Parse("config.json", Llama("num_hidden_layers", "2000000"));
    CHECK(big.text.find("plans/arch") == std::string::npos);
    CHECK(big.codes == std::vector<std::string>{"bad-config-field"});
  }

  TEST_CASE("a computed size that is not a positive integer names the fields it read") {
    Loaded l = Parse("config.json", Llama("num_attention_heads", "128"));  // head_dim = 64 // 128 = 0
    CHECK_FALSE(l.model);
    CHECK(FirstLine(l.text) ==
          "config.json:3:18: error: config field 'hidden_size' (64) and 'num_attention_heads' (128) give head_dim = "
          "hidden_size // num_attention_heads = 0 for the shape of 'model.layers.0.self_attn.q_proj', and every size "
          "must be a positive integer up to 1099511627776 [bad-config-field]");
    // Each field within bounds, their product not: 2^30 heads x head_dim 2^20.
    Loaded wide = Parse("config.json", R"({"model_type": "llama", "hidden_size": 64,
      "num_attention_heads": 1073741824, "head_dim": 1048576, "intermediate_size": 128,
      "num_hidden_layers": 1, "vocab_size": 10})");
    CHECK_FALSE(wide.model);
    CHECK(FirstLine(wide.text) ==
          "config.json:2:30: error: config field 'num_attention_heads' (1073741824) and 'head_dim' (1048576) give "
          "num_attention_heads * head_dim = 1.12589990684262e+15 for the shape of 'model.layers.0.self_attn.q_proj', "
          "and every size must be a positive integer up to 1099511627776 [bad-config-field]");
  }

  TEST_CASE("a model past the element limit is refused before any byte count can overflow") {
    Loaded l = Parse("config.json", R"({"model_type": "llama", "hidden_size": 8192,
      "num_attention_heads": 64, "intermediate_size": 128, "num_hidden_layers": 1,
      "vocab_size": 1099511627776})");
    CHECK_FALSE(l.model);
    CHECK(l.codes == std::vector<std::string>{"model-too-large"});
    CHECK(l.text.find("more than 4503599627370496 elements at 'model.embed_tokens.weight'") != std::string::npos);
  }

  TEST_CASE("condition fields take booleans and numbers, not strings") {
    std::string config = Llama("vocab_size", "1000,\n  \"tie_word_embeddings\": \"yes\"");
    Loaded l = Parse("config.json", config);
    CHECK_FALSE(l.model);
    CHECK(FirstLine(l.text) == "config.json:9:26: error: config field 'tie_word_embeddings' must be a number or a "
                               "boolean, got \"yes\" (a string) [bad-config-field]");
    // A zero in a condition is fine (DeepSeek's first_k_dense_replace, Qwen's num_experts).
    CHECK(Parse("config.json", Llama("vocab_size", "1000,\n  \"attention_bias\": 0")).model);
  }

  TEST_CASE("a YAML alias bomb in block_configs is refused fast, naming block_configs") {
    std::string yaml =
        "model_type: nemotron-nas\nhidden_size: 64\nnum_attention_heads: 8\nnum_hidden_layers: 2\n"
        "vocab_size: 100\nb0: &a0 {no_op: false}\n";
    for (int i = 1; i <= 20; ++i)
      yaml += "b" + std::to_string(i) + ": &a" + std::to_string(i) + " {x: *a" + std::to_string(i - 1) + ", y: *a" +
              std::to_string(i - 1) + "}\n";
    yaml += "block_configs:\n  - {attention: *a20, ffn: {ffn_mult: 1}}\n  - {attention: *a20, ffn: {ffn_mult: 1}}\n";
    Loaded l = Parse("config.yaml", yaml);
    CHECK_FALSE(l.model);
    CHECK(l.seconds < 5.0);  // a hang guard: the old loader ran for a minute
    CHECK(FirstLine(l.text) ==
          "config.yaml:28:3: error: config field 'block_configs' has more than 10000 values in block_configs[0] (real "
          "entries have about 10); YAML aliases count once per use [bad-config-field]");
  }

  TEST_CASE("a key that is not a plain name is refused with its place, never an exception") {
    const std::string base = "model_type: llama\nhidden_size: 64\nnum_attention_heads: 8\nintermediate_size: 128\n"
                             "num_hidden_layers: 1\nvocab_size: 10\n";
    Loaded top = Parse("config.yaml", base + "? [a, b]\n: x\n");
    CHECK(FirstLine(top.text) == "config.yaml:7:3: error: a key in the config is a sequence, not a field name "
                                 "[bad-config-key]");
    Loaded nested = Parse("config.yaml",
                          "model_type: gemma3\ntext_config:\n  hidden_size: 64\n  ? {a: 1}\n  : 2\n");
    CHECK(FirstLine(nested.text) == "config.yaml:4:5: error: a key in text_config is a mapping, not a field name "
                                    "[bad-config-key]");
    Loaded block = Parse("config.yaml", "model_type: nemotron-nas\nhidden_size: 64\nnum_attention_heads: 8\n"
                                        "num_hidden_layers: 1\nvocab_size: 10\nblock_configs:\n"
                                        "  - attention: {? [1] : 2}\n");
    CHECK(FirstLine(block.text) == "config.yaml:7:19: error: a key in block_configs[0] is a sequence, not a field "
                                   "name [bad-config-key]");
  }

  TEST_CASE("every real config loads, and refuses its hidden_size written as a string") {
    int configs = 0;
    for (const auto& e : std::filesystem::directory_iterator(test::SourcePath("tests/data/configs"))) {
      std::string path = (e.path() / "config.json").string();
      CAPTURE(path);
      std::string text = test::ReadFile(path);
      Loaded good = Parse(path, text);
      CHECK(good.model);
      CHECK(good.text == "");
      size_t at = text.find("\"hidden_size\": ");
      REQUIRE(at != std::string::npos);
      at += 15;
      size_t end = text.find_first_of(",\n}", at);
      text.replace(at, end - at, "\"" + text.substr(at, end - at) + "\"");
      Loaded bad = Parse(path, text);
      CHECK_FALSE(bad.model);
      CHECK(bad.codes == std::vector<std::string>{"bad-config-field"});
      ++configs;
    }
    CHECK(configs >= 20);
  }

  TEST_CASE("tpc compile on a negative hidden_size exits 2 and writes nothing") {
    test::TempDir dir;
    test::WriteFile(dir / "config.json", Llama("hidden_size", "-4096"));
    test::TpcRun r = test::RunTpc("compile --model " + (dir / "config.json") + " --plan plans/hf/llama.yaml --tp 2 "
                                  "--no-color -o " + (dir / "program.json"), true);
    CHECK(r.code == 2);
    CHECK(r.out.find("config.json:3:18: error: config field 'hidden_size' must be a positive integer, got -4096 "
                     "[bad-config-field]") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "program.json"));
  }
}

TEST_SUITE("size arithmetic") {
  TEST_CASE("torch.chunk's split stays exact near the top of int64") {
    Slice first = ChunkOf(INT64_MAX, 2, 0);
    Slice last = ChunkOf(INT64_MAX, 2, 1);
    CHECK(first.start == 0);
    CHECK(first.length == 4611686018427387904);
    CHECK(last.start == 4611686018427387904);
    CHECK(last.length == 4611686018427387903);
    Slice past = ChunkOf(5, 4, 3);  // chunks of 2: ranks 0-2 hold 2, 2, 1; rank 3 nothing
    CHECK(past.start == 5);
    CHECK(past.length == 0);
  }

  TEST_CASE("the cost model's byte counts saturate instead of wrapping negative") {
    Program p;
    p.tp = 2;
    p.dtype = "float32";
    Collective c{CollectiveKind::kAllReduce, "a", "b", 0, Layout::kPartial, Layout::kReplicate, INT64_MAX / 2, 0, 0, 0};
    p.collectives = {c, c};
    p.params.push_back({});
    p.params.back().name = "w";
    p.params.back().global_shape = {INT64_MAX / 4, 3};
    EstimateCosts(p);
    CHECK(p.collectives[0].bytes_per_token == INT64_MAX);
    CHECK(p.summary.traffic_bytes_per_token == INT64_MAX);
    CHECK(p.summary.param_bytes_total == INT64_MAX);
  }
}

}  // namespace
}  // namespace tpc
