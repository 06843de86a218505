// A rank's module-tree parameters from hand-built program entries; expected values written here.
#include <doctest/doctest.h>

#include "runtime/verify/local_weights.h"

namespace tpc {
namespace {

// 0, 1, 2, ... in `shape`, plus `base`.
at::Tensor Iota(std::vector<int64_t> shape, float base = 0) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return at::arange(n, at::TensorOptions().dtype(at::kFloat)).reshape(shape) + base;
}

at::Tensor Floats(std::vector<float> v, std::vector<int64_t> shape) {
  return at::tensor(v, at::TensorOptions().dtype(at::kFloat)).reshape(shape);
}

bool Same(const at::Tensor& a, const at::Tensor& b) { return a.sizes().equals(b.sizes()) && at::equal(a, b); }

ProgramParam Entry(std::string name, std::vector<int64_t> shape, std::string tree = "", int expert = -1) {
  ProgramParam e;
  e.name = e.source = std::move(name);
  e.tree = std::move(tree);
  e.expert = expert;
  e.global_shape = std::move(shape);
  return e;
}

ProgramParam Sharded(ProgramParam e, int dim, std::vector<std::vector<Slice>> ranks) {
  e.placement = {Placement::kShard, dim};
  e.ranks = std::move(ranks);
  return e;
}

TEST_SUITE("local-weights") {
  TEST_CASE("colwise rows, rowwise columns, a replicated norm and an uneven vocab") {
    Program p;
    p.tp = 2;
    p.params.push_back(Sharded(Entry("q.weight", {4, 2}), 0, {{{"", 0, 2}}, {{"", 2, 2}}}));
    p.params.push_back(Sharded(Entry("o.weight", {2, 4}), 1, {{{"", 0, 2}}, {{"", 2, 2}}}));
    p.params.push_back(Entry("norm.weight", {2}));
    p.params.push_back(Sharded(Entry("embed.weight", {3, 1}), 0, {{{"", 0, 2}}, {{"", 2, 1}}}));
    auto source = [](const std::string& name) {
      if (name == "q.weight") return Iota({4, 2});      // [[0 1] [2 3] [4 5] [6 7]]
      if (name == "o.weight") return Iota({2, 4});      // [[0 1 2 3] [4 5 6 7]]
      if (name == "norm.weight") return Iota({2}, 10);  // [10 11]
      if (name == "embed.weight") return Iota({3, 1});  // [[0] [1] [2]]
      return at::Tensor();
    };
    std::map<std::string, LocalParam> r1;
    std::string error;
    REQUIRE(LocalParams(p, 1, source, &r1, &error));
    CHECK(Same(r1["q.weight"].tensor, Floats({4, 5, 6, 7}, {2, 2})));
    CHECK(Same(r1["o.weight"].tensor, Floats({2, 3, 6, 7}, {2, 2})));
    CHECK(Same(r1["norm.weight"].tensor, Floats({10, 11}, {2})));
    CHECK(Same(r1["embed.weight"].tensor, Floats({2}, {1, 1})));
    CHECK(r1["q.weight"].experts.empty());
  }

  TEST_CASE("a fused segment split keeps each segment's rows of the rank in order") {
    // qkv [q0 q1 | k0 k1 | v0 v1] at tp 2, packed: rank 1 holds q1, k1, v1.
    Program p;
    p.tp = 2;
    p.params.push_back(Sharded(Entry("qkv.weight", {6, 1}), 0,
                               {{{"q", 0, 1}, {"k", 2, 1}, {"v", 4, 1}}, {{"q", 1, 1}, {"k", 3, 1}, {"v", 5, 1}}}));
    std::map<std::string, LocalParam> r1;
    std::string error;
    REQUIRE(LocalParams(p, 1, [](const std::string&) { return Iota({6, 1}); }, &r1, &error));
    CHECK(Same(r1["qkv.weight"].tensor, Floats({1, 3, 5}, {3, 1})));
  }

  TEST_CASE("per-expert w1 and w3 become the rank's gate_up rows, stacked over experts") {
    // Two experts, each w1 (gate) and w3 (up) of [2, 1]; packed colwise at tp 2: rank 0 keeps
    // row 0 of each.
    Program p;
    p.tp = 2;
    const char* tree = "experts.gate_up_proj";
    for (int e = 0; e < 2; ++e)
      for (const char* w : {"w1", "w3"})
        p.params.push_back(Sharded(Entry("experts." + std::to_string(e) + "." + w, {2, 1}, tree, e), 0,
                                   {{{"", 0, 1}}, {{"", 1, 1}}}));
    auto source = [](const std::string& name) {
      float e = name[8] == '0' ? 0 : 100, w = name.find("w3") != std::string::npos ? 10 : 0;
      return Iota({2, 1}, e + w);  // expert 1's w3: [[110] [111]]
    };
    std::map<std::string, LocalParam> r0;
    std::string error;
    REQUIRE(LocalParams(p, 0, source, &r0, &error));
    CHECK(Same(r0[tree].tensor, Floats({0, 10, 100, 110}, std::vector<int64_t>{2, 2, 1})));
    CHECK(r0[tree].experts == std::vector<int>({0, 1}));
  }

  TEST_CASE("expert parallelism: a rank holds only the experts it owns") {
    Program p;
    p.tp = 2;
    for (int e = 0; e < 2; ++e) {
      ProgramParam w = Entry("experts." + std::to_string(e) + ".w2", {1, 2}, "experts.down_proj", e);
      w.owners = {e};
      p.params.push_back(w);
    }
    std::map<std::string, LocalParam> r1;
    std::string error;
    REQUIRE(LocalParams(p, 1, [](const std::string& n) { return Iota({1, 2}, n[8] == '0' ? 0 : 5); }, &r1, &error));
    CHECK(Same(r1["experts.down_proj"].tensor, Floats({5, 6}, std::vector<int64_t>{1, 1, 2})));
    CHECK(r1["experts.down_proj"].experts == std::vector<int>({1}));
  }

  TEST_CASE("a missing tensor or a shape the program does not expect is an error naming it") {
    Program p;
    p.tp = 1;
    p.params.push_back(Entry("a.weight", {2, 2}));
    std::map<std::string, LocalParam> out;
    std::string error;
    CHECK_FALSE(LocalParams(p, 0, [](const std::string&) { return at::Tensor(); }, &out, &error));
    CHECK(error == "the checkpoint has no tensor 'a.weight'");
    CHECK_FALSE(LocalParams(p, 0, [](const std::string&) { return Iota({2, 3}); }, &out, &error));
    CHECK(error == "'a.weight' is [2, 3] in the checkpoint, [2, 2] in the program");
  }
}

}  // namespace
}  // namespace tpc
