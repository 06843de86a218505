#include "runtime/verify/random_weights.h"

#include <doctest/doctest.h>

#include "frontend/model_loader.h"
#include "test_util.h"

namespace tpc::verify {
namespace {

// Expected values below were computed outside this code (Python, from the definition in
// random_weights.h): key = mix(seed ^ fnv1a64(name)), bits = mix(key + (i + 1) * golden),
// value = float(center + scale * (2 * (bits >> 40) / 2^24 - 1)).

std::optional<ModelGraph> Load(const std::string& path) {
  SourceManager sm;
  Diagnostics diags(sm);
  return LoadModel(test::SourcePath(path), test::Registry(), diags);
}

const RandomParam* FindParam(const std::vector<RandomParam>& ps, const std::string& name) {
  for (const RandomParam& p : ps)
    if (p.name == name) return &p;
  return nullptr;
}

TEST_SUITE("random weights") {
  TEST_CASE("the hash and mixer are FNV-1a and splitmix64") {
    CHECK(Fnv1a64("") == 0xcbf29ce484222325ull);
    CHECK(Fnv1a64("a") == 0xaf63dc4c8601ec8cull);
    // splitmix64 seeded with 0: its first output (the reference splitmix64.c).
    CHECK(Mix64(0x9E3779B97F4A7C15ull) == 0xe220a8397b1dcdafull);
    CHECK(Fnv1a64("model.embed_tokens.weight") == 0xa88fd795d5c6d156ull);
  }

  TEST_CASE("first values for a fixed seed match the definition") {
    RandomParam embed{"model.embed_tokens.weight", {4, 2}, 0, 1};
    CHECK(RandomValue(0, embed, 0) == -0.837717295f);
    CHECK(RandomValue(0, embed, 1) == -0.145189643f);
    CHECK(RandomValue(0, embed, 2) == -0.989681125f);
    CHECK(RandomValue(0, embed, 3) == -0.639284492f);
    RandomParam norm{"model.norm.weight", {4}, 1, 0.1};
    CHECK(RandomValue(7, norm, 0) == 1.0915097f);
    CHECK(RandomValue(7, norm, 1) == 1.01587105f);
    CHECK(RandomValue(7, norm, 2) == 0.983645618f);
    CHECK(RandomValue(7, norm, 3) == 0.910548866f);
    RandomParam q{"model.layers.0.self_attn.q_proj.weight", {2, 16}, 0, 0.25};
    std::vector<float> row;
    std::string err;
    REQUIRE(FillBox(7, q, Box{{0, 0}, {1, 4}}, &row, &err));
    CHECK(row == std::vector<float>{-0.231113523f, -0.209554166f, -0.236462563f, 0.202423781f});
  }

  TEST_CASE("another seed or another name gives other values, the same ones the same") {
    RandomParam a{"w", {8}, 0, 1}, b{"v", {8}, 0, 1};
    std::vector<float> a0, a0_again, a1, b0;
    std::string err;
    Box all{{0}, {8}};
    REQUIRE(FillBox(0, a, all, &a0, &err));
    REQUIRE(FillBox(0, a, all, &a0_again, &err));
    REQUIRE(FillBox(1, a, all, &a1, &err));
    REQUIRE(FillBox(0, b, all, &b0, &err));
    CHECK(a0 == a0_again);
    CHECK(a0 != a1);
    CHECK(a0 != b0);
  }

  TEST_CASE("a slice equals the same part of the whole tensor") {
    RandomParam experts{"model.layers.0.mlp.experts.gate_up_proj", {4, 6, 5}, 0, 0.5};
    std::vector<float> whole, part;
    std::string err;
    REQUIRE(FillBox(3, experts, Box{{0, 0, 0}, {4, 6, 5}}, &whole, &err));
    REQUIRE(FillBox(3, experts, Box{{1, 2, 1}, {2, 3, 4}}, &part, &err));
    REQUIRE(part.size() == 24);
    size_t i = 0;
    for (int e = 1; e < 3; ++e)
      for (int r = 2; r < 5; ++r)
        for (int c = 1; c < 5; ++c) CHECK(part[i++] == whole[(e * 6 + r) * 5 + c]);
    // Every element of the whole is the single-element function at its row-major index.
    for (size_t k = 0; k < whole.size(); ++k) CHECK(whole[k] == RandomValue(3, experts, k));
    for (float v : whole) CHECK((v >= -0.5f && v < 0.5f));
  }

  TEST_CASE("a box outside the shape is refused") {
    RandomParam p{"w", {4, 3}, 0, 1};
    std::vector<float> out;
    std::string err;
    CHECK_FALSE(FillBox(0, p, Box{{2, 0}, {3, 3}}, &out, &err));
    CHECK(err == "box [2, 5) of dimension 0 of 'w' is outside its size 4");
    CHECK_FALSE(FillBox(0, p, Box{{0}, {4}}, &out, &err));
    CHECK(err == "box of rank 1 for 'w' of rank 2");
  }

  TEST_CASE("every parameter of a model once, with its shape and init") {
    // The fixture's checkpoint (written by transformers) holds 21 tensors; a tied lm_head adds none.
    std::optional<ModelGraph> llama = Load("tests/data/verify/llama/config.json");
    REQUIRE(llama);
    std::vector<RandomParam> ps = RandomParams(*llama);
    CHECK(ps.size() == 21);
    const RandomParam* q = FindParam(ps, "model.layers.1.self_attn.q_proj.weight");
    REQUIRE(q);
    CHECK(q->shape == std::vector<int64_t>{32, 16});
    CHECK(q->scale == 0.25);
    const RandomParam* norm = FindParam(ps, "model.layers.0.input_layernorm.weight");
    REQUIRE(norm);
    CHECK(norm->center == 1);
    CHECK(norm->scale == doctest::Approx(0.1));
    const RandomParam* embed = FindParam(ps, "model.embed_tokens.weight");
    REQUIRE(embed);
    CHECK(embed->shape == std::vector<int64_t>{32, 16});
    CHECK(embed->scale == 1);

    std::optional<ModelGraph> gemma = Load("tests/data/verify/gemma2/config.json");
    REQUIRE(gemma);
    std::vector<RandomParam> gs = RandomParams(*gemma);
    CHECK(gs.size() == 24);
    CHECK(FindParam(gs, "lm_head.weight") == nullptr);

    std::optional<ModelGraph> starcoder = Load("tests/data/verify/starcoder2/config.json");
    REQUIRE(starcoder);
    std::vector<RandomParam> ss = RandomParams(*starcoder);
    const RandomParam* bias = FindParam(ss, "model.layers.0.mlp.c_fc.bias");
    REQUIRE(bias);
    CHECK(bias->shape == std::vector<int64_t>{16});
    CHECK(bias->center == 0);
  }
}

}  // namespace
}  // namespace tpc::verify
