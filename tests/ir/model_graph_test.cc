#include <doctest/doctest.h>

#include "ir/model_graph.h"

namespace tpc {
namespace {

Module Op(const char* name, std::vector<int> inputs) {
  Module m;
  m.name = name;
  m.kind = ModuleKind::kLinear;
  m.inputs = std::move(inputs);
  return m;
}

TEST_SUITE("model graph") {
  TEST_CASE("parents are created before children and linked") {
    ModelGraph g;
    int q = g.Add(Op("model.layers.0.self_attn.q_proj", {}));
    int attn = g.Find("model.layers.0.self_attn");
    REQUIRE(attn >= 0);
    CHECK(g.at(q).parent == attn);
    CHECK(g.at(attn).kind == ModuleKind::kContainer);
    CHECK(g.at(g.Find("model.layers.0")).parent == g.Find("model.layers"));
    CHECK(g.at(g.Find("model")).parent == -1);
    CHECK(attn < q);
  }

  TEST_CASE("forward order follows the dataflow when ids do not") {
    ModelGraph g;
    // c reads b, b reads a, but they are added c, b, a (ids 0, 1, 2): the order must be a, b, c.
    g.Add(Op("c", {1}));
    g.Add(Op("b", {2}));
    g.Add(Op("a", {}));
    std::vector<int> order;
    REQUIRE(g.ForwardOrder(&order));
    CHECK(order == std::vector<int>{2, 1, 0});
  }

  TEST_CASE("a cycle has no forward order") {
    ModelGraph g;
    g.Add(Op("a", {1}));
    g.Add(Op("b", {0}));
    std::vector<int> order;
    CHECK_FALSE(g.ForwardOrder(&order));
  }

  TEST_CASE("containers are left out of the forward order") {
    ModelGraph g;
    g.Add(Op("m.x", {}));
    g.Add(Op("m.y", {1}));  // id 0 is the container `m`, 1 is m.x
    std::vector<int> order;
    REQUIRE(g.ForwardOrder(&order));
    CHECK(order == std::vector<int>{1, 2});
  }
}

}  // namespace
}  // namespace tpc
