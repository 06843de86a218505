// Verdicts by transformers release (plans/transformers_releases.yaml), each compared with what
// real transformers did: tests/data/tp_oracle/*.json are tools/tp_oracle.py's outcomes (random-
// weight twins, CPU, gloo), committed so that CI only reads them. The messages are written by hand.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace tpc {
namespace {

using nlohmann::json;

// A plan file for an oracle case's override: base-relative keys, lm_head gathered unless null.
std::string PlanYaml(const json& plan) {
  std::string text = "base_model_tp_plan:\n";
  for (const auto& [k, v] : plan.items())
    if (k != "lm_head") text += "  " + k + ": " + v.get<std::string>() + "\n";
  if (!plan.contains("lm_head") || !plan["lm_head"].is_null()) text += "tp_plan:\n  lm_head: colwise_gather_output\n";
  return text;
}

struct Case {
  test::TpcRun run;
};

// tpc check on an oracle case under `release`, in `dir`.
test::TpcRun CheckCase(const json& c, const std::string& release, const test::TempDir& dir) {
  test::WriteFile(dir / "config.json", c["config"].dump(1));
  std::string plan = "hf/" + c["config"]["model_type"].get<std::string>();
  if (c["plan"].is_object()) {
    test::WriteFile(dir / "plan.yaml", PlanYaml(c["plan"]));
    plan = dir / "plan.yaml";
  }
  return test::RunTpc("check --model " + dir / "config.json" + " --plan " + plan + " --tp " +
                          std::to_string(c["tp"].get<int>()) + " --transformers " + release + " --color never",
                      true);
}

json Fixture(const std::string& name) {
  return json::parse(test::ReadFile(test::SourcePath("tests/data/tp_oracle/" + name + ".json")));
}

TEST_SUITE("release verdicts") {
  TEST_CASE("every oracle outcome agrees with tpc's verdict under that release") {
    int compared = 0;
    for (const auto& e : std::filesystem::directory_iterator(test::SourcePath("tests/data/tp_oracle"))) {
      json c = json::parse(test::ReadFile(e.path().string()));
      if (!c["plan"].is_null() && !c["plan"].is_object()) continue;  // expert parallelism: below
      for (const auto& [version, outcome] : c["outcomes"].items()) {
        CAPTURE(c["case"].get<std::string>());
        CAPTURE(version);
        test::TempDir dir;
        test::TpcRun run = CheckCase(c, version, dir);
        bool runs = outcome["outcome"] == "ok";
        CHECK(run.code == (runs ? 0 : 1));
        if (run.code != (runs ? 0 : 1)) MESSAGE(run.out);
        ++compared;
      }
    }
    CHECK(compared >= 22);  // 11 cases under 5.7 and 5.24
  }

  TEST_CASE("Phi-3-mini at tp 3: an error under 5.7 saying why, a warning with the rows under 5.24") {
    json c = Fixture("phi3_mini_tp3");
    CHECK(c["outcomes"]["5.7.0"]["outcome"] == "crash");
    CHECK(c["outcomes"]["5.24.0"]["outcome"] == "ok");
    test::TempDir d57, d524;
    test::TpcRun old = CheckCase(c, "5.7", d57);
    CHECK(old.code == 1);
    CHECK(old.out.find("is not divisible by tp (3), and transformers 5.7 shards and gathers in equal chunks, so a rank "
                       "crashes and the others die in the collective") != std::string::npos);
    CHECK(old.out.find("note: this plan's uneven split works from transformers 5.24.0; crashes in 5.7.0 "
                       "[release-dependent]") != std::string::npos);
    CHECK(old.out.find("(phi3, 2 layers, tp 3, dialect hf-v5, transformers 5.7.0)") != std::string::npos);
    test::TpcRun now = CheckCase(c, "5.24", d524);
    CHECK(now.code == 0);
    // The twin keeps Phi-3-mini's residues mod 3: intermediate 65, gate_up 130 rows. torch.chunk takes
    // ceil(130 / 3) = 44 rows a rank: 44, 44, 42 (mean 43.33, 44 is 1.54% above); down_proj 22, 22, 21.
    CHECK(now.out.find("warning: out_features of 'model.layers.*.mlp.gate_up_proj' (130) is not divisible by tp (3): "
                       "ranks get 44, 44, 42 rows, the largest 1.54% above the mean; transformers 5.24.0 runs it "
                       "with torch.chunk's uneven shards and pads the collectives [uneven-shard]") != std::string::npos);
    CHECK(now.out.find("warning: in_features of 'model.layers.*.mlp.down_proj' (65) is not divisible by tp (3): "
                       "ranks get 22, 22, 21 rows, the largest 1.54% above the mean") != std::string::npos);
    CHECK(now.out.find("ok: 0 errors, 2 warnings (phi3, 2 layers, tp 3, dialect hf-v5, transformers 5.24.0)") !=
          std::string::npos);
    CHECK(now.out.find("note: this plan's uneven split works from transformers 5.24.0; crashes in 5.7.0") !=
          std::string::npos);
  }

  TEST_CASE("OLMo-2-7B at tp 3: an error under 5.7 saying why, a warning with the rows under 5.24") {
    json c = Fixture("olmo2_7b_tp3");
    CHECK(c["outcomes"]["5.7.0"]["outcome"] == "crash");
    CHECK(c["outcomes"]["5.24.0"]["outcome"] == "ok");
    test::TempDir d57, d524;
    test::TpcRun old = CheckCase(c, "5.7", d57);
    CHECK(old.code == 1);
    // --plan hf/olmo2 under 5.7 is 5.7's plan: q/k/v/o and the MLP, no embedding, no lm_head.
    CHECK(old.out.find("note: plan hf57/olmo2: what hf/olmo2 names for transformers 5.7.0 [plan-chosen]") !=
          std::string::npos);
    CHECK(old.out.find("plans/hf57/olmo2.yaml:17:30: error: out_features of 'model.layers.*.self_attn.q_proj' (256) is "
                       "not divisible by tp (3), and transformers 5.7 shards and gathers in equal chunks, so a rank "
                       "crashes and the others die in the collective; tp sizes that work: 1, 2, 4, 8, 16, 32, 64 "
                       "[dim-not-divisible]") != std::string::npos);
    CHECK(old.out.find("FAIL: 7 errors, 0 warnings (olmo2, 2 layers, tp 3, dialect hf-v5, transformers 5.7.0)") !=
          std::string::npos);
    test::TpcRun now = CheckCase(c, "5.24", d524);
    CHECK(now.code == 0);
    // hidden 256: 86, 86, 84 (86 is 0.78% above 85.33); intermediate 64: 22, 22, 20 (3.13% above 21.33).
    CHECK(now.out.find("warning: out_features of 'model.layers.*.self_attn.q_proj' (256) is not divisible by tp (3): "
                       "ranks get 86, 86, 84 rows, the largest 0.78% above the mean; transformers 5.24.0 runs it "
                       "with torch.chunk's uneven shards and pads the collectives [uneven-shard]") != std::string::npos);
    CHECK(now.out.find("warning: in_features of 'model.layers.*.mlp.down_proj' (64) is not divisible by tp (3): "
                       "ranks get 22, 22, 20 rows, the largest 3.13% above the mean") != std::string::npos);
    // 5.24's plan shards the embedding and lm_head too: vocab 65 gives 22, 22, 21 rows.
    CHECK(now.out.find("plans/hf/olmo2.yaml:17:17: warning: vocab_size (65) is not divisible by tp (3): torch.chunk "
                       "gives ranks 22 rows and the last rank 21 [vocab-uneven]\n"
                       "  embed_tokens: embedding_rowwise\n") != std::string::npos);
    CHECK(now.out.find("ok: 0 errors, 9 warnings (olmo2, 2 layers, tp 3, dialect hf-v5, transformers 5.24.0)") !=
          std::string::npos);
  }

  TEST_CASE("embedding_rowwise over vocab 250 at tp 3: wrong rows under 5.7 is an error, 5.24 only warns") {
    json c = Fixture("llama_embed_vocab250_tp3");
    CHECK(c["outcomes"]["5.7.0"]["outcome"] == "wrong");  // no exception, logits off
    CHECK(c["outcomes"]["5.24.0"]["outcome"] == "ok");
    test::TempDir d57, d524;
    test::TpcRun old = CheckCase(c, "5.7", d57);
    CHECK(old.code == 1);
    // torch.chunk: rows [0, 84), [84, 168), [168, 250); 5.7 offsets rank 2 by 2 x 82 = 164.
    CHECK(old.out.find("plan.yaml:2:17: error: vocab_size (250) is not divisible by tp (3), and transformers 5.7.0 "
                       "offsets a rank's vocabulary by rank x its own row count: the last rank holds tokens 168-249 "
                       "but serves tokens 164-245, so their embeddings are wrong without any error "
                       "[embedding-vocab-offset]\n"
                       "  embed_tokens: embedding_rowwise\n") != std::string::npos);
    CHECK(old.out.find("note: an embedding_rowwise embedding whose vocab_size does not divide tp works from "
                       "transformers 5.24.0; gives wrong embeddings in 5.7.0 [release-dependent]") != std::string::npos);
    CHECK(old.out.find("FAIL: 1 error, 0 warnings (llama, 2 layers, tp 3, dialect hf-v5, transformers 5.7.0)") !=
          std::string::npos);
    test::TpcRun now = CheckCase(c, "5.24", d524);
    CHECK(now.code == 0);
    CHECK(now.out.find("plan.yaml:2:17: warning: vocab_size (250) is not divisible by tp (3): torch.chunk gives ranks "
                       "84 rows and the last rank 82 [vocab-uneven]") != std::string::npos);
    CHECK(now.out.find("[embedding-vocab-offset]") == std::string::npos);
    CHECK(now.out.find("ok: 0 errors, 1 warning (llama, 2 layers, tp 3, dialect hf-v5, transformers 5.24.0)") !=
          std::string::npos);
  }

  TEST_CASE("a gathered lm_head over vocab 250 at tp 3: an error under 5.7 saying why, vocab-uneven under 5.24") {
    json c = Fixture("llama_lm_head_gather_vocab250_tp3");
    CHECK(c["outcomes"]["5.7.0"]["outcome"] == "crash");
    CHECK(c["outcomes"]["5.24.0"]["outcome"] == "ok");
    test::TempDir d57, d524;
    test::TpcRun old = CheckCase(c, "5.7", d57);
    CHECK(old.code == 1);
    // 250 = 2 x 5^3: the tp sizes up to 64 that divide it are 1, 2, 5, 10, 25, 50.
    CHECK(old.out.find("plan.yaml:10:12: error: out_features of 'lm_head' (250) is not divisible by tp (3), and "
                       "transformers 5.7 shards and gathers in equal chunks, so a rank crashes and the others die in "
                       "the collective; tp sizes that work: 1, 2, 5, 10, 25, 50 [dim-not-divisible]\n"
                       "  lm_head: colwise_gather_output\n") != std::string::npos);
    CHECK(old.out.find("note: this plan's uneven split works from transformers 5.24.0; crashes in 5.7.0 "
                       "[release-dependent]") != std::string::npos);
    CHECK(old.out.find("FAIL: 1 error, 0 warnings (llama, 2 layers, tp 3, dialect hf-v5, transformers 5.7.0)") !=
          std::string::npos);
    test::TpcRun now = CheckCase(c, "5.24", d524);
    CHECK(now.code == 0);
    CHECK(now.out.find("plan.yaml:10:12: warning: vocab_size (250) is not divisible by tp (3): torch.chunk gives "
                       "ranks 84 rows and the last rank 82 [vocab-uneven]") != std::string::npos);
    CHECK(now.out.find("ok: 0 errors, 1 warning (llama, 2 layers, tp 3, dialect hf-v5, transformers 5.24.0)") !=
          std::string::npos);
  }

  TEST_CASE("the model's own plan over vocab 250 at tp 3: 5.7 shards neither end, 5.24 both, and both run") {
    // 5.7's post_init drops LlamaForCausalLM's lm_head plan and adds no embedding entry (plans/hf57);
    // 5.24 adds embed_tokens: embedding_rowwise and keeps lm_head gathered (plans/hf). Tied or not.
    for (const char* name : {"llama_auto_vocab250_tp3", "llama_auto_tied_vocab250_tp3"}) {
      CAPTURE(name);
      json c = Fixture(name);
      REQUIRE(c["plan"].is_null());
      CHECK(c["outcomes"]["5.7.0"]["outcome"] == "ok");
      CHECK(c["outcomes"]["5.24.0"]["outcome"] == "ok");
      test::TempDir d57, d524;
      test::TpcRun old = CheckCase(c, "5.7", d57);
      CHECK(old.code == 0);
      CHECK(old.out == "note: plan hf57/llama: what hf/llama names for transformers 5.7.0 [plan-chosen]\n"
                       "ok: 0 errors, 0 warnings (llama, 2 layers, tp 3, dialect hf-v5, transformers 5.7.0)\n");
      test::TpcRun now = CheckCase(c, "5.24", d524);
      CHECK(now.code == 0);
      CHECK(now.out.find("plans/hf/llama.yaml:15:12: warning: vocab_size (250) is not divisible by tp (3): "
                         "torch.chunk gives ranks 84 rows and the last rank 82 [vocab-uneven]\n"
                         "  lm_head: colwise_gather_output\n") != std::string::npos);
      CHECK(now.out.find("plans/hf/llama.yaml:17:17: warning: vocab_size (250) is not divisible by tp (3): "
                         "torch.chunk gives ranks 84 rows and the last rank 82 [vocab-uneven]\n"
                         "  embed_tokens: embedding_rowwise\n") != std::string::npos);
      CHECK(now.out.find("tied-placement-mismatch") == std::string::npos);
      CHECK(now.out.find("ok: 0 errors, 2 warnings (llama, 2 layers, tp 3, dialect hf-v5, transformers 5.24.0)") !=
            std::string::npos);
    }
  }

  TEST_CASE("embedding_rowwise over vocab 252 at tp 3 splits evenly and passes under every release") {
    json c = Fixture("llama_embed_vocab252_tp3");
    for (const char* v : {"5.7", "5.24"}) {
      CAPTURE(v);
      CHECK(c["outcomes"][std::string(v) + ".0"]["outcome"] == "ok");
      test::TempDir dir;
      test::TpcRun r = CheckCase(c, v, dir);
      CHECK(r.code == 0);
      CHECK(r.out.rfind("ok: 0 errors, 0 warnings (llama, 2 layers, tp 3, dialect hf-v5, transformers " +
                            std::string(v) + ".0)\n",
                        0) == 0);
    }
  }

  TEST_CASE("a qwen3_moe config saved with num_local_experts checks ok under every release") {
    json c = Fixture("qwen3_moe_num_local_experts_tp2");
    REQUIRE(c["config"].contains("num_local_experts"));
    REQUIRE_FALSE(c["config"].contains("num_experts"));
    for (const char* v : {"5.7", "5.24"}) {
      CAPTURE(v);
      CHECK(c["outcomes"][std::string(v) + ".0"]["outcome"] == "ok");
      test::TempDir dir;
      test::TpcRun r = CheckCase(c, v, dir);
      CHECK(r.code == 0);
      CHECK(r.out.find("missing-config-field") == std::string::npos);
      CHECK(r.out.find("\nok: 0 errors, 3 warnings (qwen3_moe, 2 layers, tp 2, dialect hf-v5, transformers " +
                       std::string(v) + ".0)\n") != std::string::npos);
    }
  }

  TEST_CASE("8 experts over 3 ranks stay an error under every release") {
    json c = Fixture("experts_tp3");
    REQUIRE(c["plan"] == "ep");
    CHECK(c["outcomes"]["5.7.0"]["outcome"] == "crash");
    CHECK(c["outcomes"]["5.24.0"]["outcome"] == "crash");
    // Each crash is the expert-count rule, not an earlier refusal of the layout (5.24 once stopped at
    // "`ep_size` must divide `fsdp_size * tp_size`" before splitting anything).
    CHECK(c["outcomes"]["5.7.0"]["message"].get<std::string>().find("8 % 3 != 0") != std::string::npos);
    CHECK(c["outcomes"]["5.24.0"]["message"].get<std::string>().find("Cannot evenly shard 8 experts across 3") !=
          std::string::npos);
    // transformers' expert-parallel plan for qwen3_moe (Qwen3MoeConfig.base_model_ep_plan): each rank
    // a contiguous block of experts. 5.24 replaced ep_router + moe_tp_experts by ep_dispatch_experts.
    json plan57 = {{"layers.*.mlp.gate", "ep_router"},
                   {"layers.*.mlp.experts.gate_up_proj", "grouped_gemm"},
                   {"layers.*.mlp.experts.down_proj", "grouped_gemm"},
                   {"layers.*.mlp.experts", "moe_tp_experts"},
                   {"lm_head", nullptr}};
    json plan524 = {{"layers.*.mlp.experts.gate_up_proj", "grouped_gemm"},
                    {"layers.*.mlp.experts.down_proj", "grouped_gemm"},
                    {"layers.*.mlp.experts", "ep_dispatch_experts"},
                    {"lm_head", nullptr}};
    for (const char* v : {"4", "5.7", "5.24"}) {
      CAPTURE(v);
      c["plan"] = std::string(v) == "5.24" ? plan524 : plan57;
      test::TempDir dir;
      test::TpcRun r = CheckCase(c, v, dir);
      CHECK(r.code == 1);
      CHECK(r.out.find("error: 8 experts cannot be split evenly over 3 ranks for expert parallelism; sizes that "
                       "work: 1, 2, 4, 8 [experts-not-divisible]\n"
                       "  layers.*.mlp.experts.down_proj: grouped_gemm\n") != std::string::npos);
      CHECK(r.out.find("FAIL: 2 errors, 0 warnings (qwen3_moe, 2 layers, tp 3") != std::string::npos);
    }
  }

  TEST_CASE("the default is the newest release, and 5 means it too") {
    json c = Fixture("olmo2_7b_tp3");
    test::TempDir dir;
    test::WriteFile(dir / "config.json", c["config"].dump(1));
    test::TpcRun def = test::RunTpc("check --model " + dir / "config.json" + " --plan hf/olmo2 --tp 3", true);
    test::TpcRun five = test::RunTpc("check --model " + dir / "config.json" + " --plan hf/olmo2 --tp 3 --transformers 5", true);
    CHECK(def.code == 0);
    CHECK(def.out == five.out);
    CHECK(def.out.find("transformers 5.24.0)") != std::string::npos);
    CHECK(RuntimeRelease{}.version == NewestTransformersRelease().version);
  }

  TEST_CASE("--transformers takes a version and refuses what tpc does not know") {
    CHECK(test::Release("5.7").version == "5.7.0");
    CHECK(test::Release("5.10").version == "5.7.0");  // the newest known at or below 5.10
    CHECK(test::Release("4").version == "4.57.6");
    std::string why;
    CHECK_FALSE(FindTransformersRelease("5.6", &why));
    CHECK(why.find("tpc knows no transformers release at or below it") != std::string::npos);
    CHECK_FALSE(FindTransformersRelease("five", &why));
    test::TpcRun r = test::RunTpc("check --model tests/data/configs/meta-llama__Llama-3.1-8B --transformers 3", true);
    CHECK(r.code == 2);
    CHECK(r.out.find("--transformers 3: tpc knows no transformers release") != std::string::npos);
  }

  TEST_CASE("a split inside a head stays an error under every release") {
    json c = Fixture("head_split_tp3");
    for (const char* v : {"5.7", "5.24"}) {
      test::TempDir dir;
      test::TpcRun r = CheckCase(c, v, dir);
      CHECK(r.code == 1);
      CHECK(r.out.find("error: num_attention_heads (4) is not divisible by tp (3); tp sizes that work: 1, 2 (in all 2 "
                       "layers) [heads-not-divisible]") != std::string::npos);
    }
  }

  TEST_CASE("unequal fused segments stay an error under every release") {
    json c = Fixture("fused_unequal_segments_tp3");
    for (const char* v : {"5.7", "5.24"}) {
      test::TempDir dir;
      test::TpcRun r = CheckCase(c, v, dir);
      CHECK(r.code == 1);
      CHECK(r.out.find("[fused-naive-split]") != std::string::npos);
      // hidden 48, 6 heads of 8, 3 kv heads: q 48 + k 24 + v 24 = 96 rows, 32 a rank.
      CHECK(r.out.find("style 'colwise' splits the concatenated [q|k|v] rows of 'model.layers.*.self_attn.qkv_proj' "
                       "into contiguous chunks: rank 0 of 3 gets rows [0, 32) = q[0:32] and rank 2 gets rows "
                       "[64, 96) = k[16:24] + v[0:24]") != std::string::npos);
    }
  }

  TEST_CASE("a producer and consumer chunked differently stay an error under every release") {
    json c = Fixture("mismatched_chunking_tp3");
    for (const char* v : {"5.7", "5.24"}) {
      test::TempDir dir;
      test::TpcRun r = CheckCase(c, v, dir);
      CHECK(r.code == 1);
      CHECK(r.out.find("[layout-mismatch]") != std::string::npos);
      CHECK(r.out.find("'model.layers.*.mlp.down_proj' (rowwise_split_input) expects") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace tpc
