// The sharded forward's collectives on 2 and 3 in-process ranks: inputs are built so that every
// expected value is written here by hand.
#include <doctest/doctest.h>

#include <functional>
#include <thread>

#include "runtime/verify/tensor_collectives.h"

namespace tpc {
namespace {

// Runs `body(collectives, rank)` on `world` threads; returns each rank's result.
std::vector<at::Tensor> OnRanks(int world, const std::function<at::Tensor(TensorCollectives&, int)>& body) {
  auto comms = InProcessCommunicator::Create(world, std::chrono::milliseconds(5000));
  std::vector<at::Tensor> out(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      TensorCollectives c(*comms[static_cast<size_t>(r)]);
      out[static_cast<size_t>(r)] = body(c, r);
    });
  for (std::thread& t : threads) t.join();
  return out;
}

at::Tensor Floats(std::vector<float> v, std::vector<int64_t> shape) {
  return at::tensor(v, at::TensorOptions().dtype(at::kFloat)).reshape(shape);
}

bool Same(const at::Tensor& a, const at::Tensor& b) { return a.sizes().equals(b.sizes()) && at::equal(a, b); }

TEST_SUITE("tensor-collectives") {
  TEST_CASE("all_reduce sums every rank's tensor") {
    auto got = OnRanks(3, [](TensorCollectives& c, int r) {
      at::Tensor out;
      std::string error;
      REQUIRE(c.AllReduceSum(Floats({1.0f * (r + 1), 10.0f * (r + 1)}, {2}), &out, &error));
      return out;
    });
    for (const at::Tensor& t : got) CHECK(Same(t, Floats({6, 60}, {2})));
  }

  TEST_CASE("all_gather concatenates uneven chunks in rank order") {
    // rank 0 holds rows [0, 1], rank 1 row [2]: vocab 3 over 2 ranks, as torch.chunk splits it.
    auto got = OnRanks(2, [](TensorCollectives& c, int r) {
      at::Tensor local = r == 0 ? Floats({0, 1, 2, 3}, {2, 2}) : Floats({4, 5}, {1, 2});
      at::Tensor out;
      std::string error;
      REQUIRE(c.AllGather(local, 0, &out, &error));
      CHECK(c.performed().size() == 1);
      CHECK(c.performed()[0].kind == "all_gather");
      return out;
    });
    for (const at::Tensor& t : got) CHECK(Same(t, Floats({0, 1, 2, 3, 4, 5}, {3, 2})));
  }

  TEST_CASE("all_gather along the last dim, the hidden or head dim") {
    auto got = OnRanks(2, [](TensorCollectives& c, int r) {
      at::Tensor out;
      std::string error;
      REQUIRE(c.AllGather(Floats({1.0f + r, 3.0f + r}, {2, 1}), -1, &out, &error));
      return out;
    });
    for (const at::Tensor& t : got) CHECK(Same(t, Floats({1, 2, 3, 4}, {2, 2})));
  }

  TEST_CASE("reduce_scatter sums then keeps this rank's chunk") {
    auto got = OnRanks(2, [](TensorCollectives& c, int r) {
      at::Tensor out;
      std::string error;
      // rank 0: [1 2 3 4 5], rank 1: [10 20 30 40 50]; sum [11 22 33 44 55]; chunks of 3 and 2.
      float k = r == 0 ? 1.0f : 10.0f;
      REQUIRE(c.ReduceScatter(Floats({k, 2 * k, 3 * k, 4 * k, 5 * k}, {5}), 0, &out, &error));
      CHECK(c.performed()[0].kind == "reduce_scatter");
      return out;
    });
    CHECK(Same(got[0], Floats({11, 22, 33}, {3})));
    CHECK(Same(got[1], Floats({44, 55}, {2})));
  }

  TEST_CASE("all_to_all turns a sequence-sharded tensor into a head-sharded one") {
    // Global [seq 2, heads 2]: [[a b] [c d]] = [[1 2] [3 4]]. Rank r holds sequence row r and ends
    // with head column r over the whole sequence.
    auto got = OnRanks(2, [](TensorCollectives& c, int r) {
      at::Tensor out;
      std::string error;
      at::Tensor row = r == 0 ? Floats({1, 2}, {1, 2}) : Floats({3, 4}, {1, 2});
      REQUIRE(c.AllToAll(row, 0, 1, &out, &error));
      return out;
    });
    CHECK(Same(got[0], Floats({1, 3}, {2, 1})));
    CHECK(Same(got[1], Floats({2, 4}, {2, 1})));
  }

  TEST_CASE("ranks whose shapes disagree get an error naming the rank, not a wrong sum") {
    std::vector<std::string> errors(2);
    OnRanks(2, [&](TensorCollectives& c, int r) {
      at::Tensor out;
      CHECK_FALSE(c.AllReduceSum(r == 0 ? Floats({1, 2}, {2}) : Floats({1, 2, 3}, {3}), &out, &errors[r]));
      return out;
    });
    CHECK(errors[0] == "all_reduce: rank 1 holds [3], rank 0 [2]");
  }
}

}  // namespace
}  // namespace tpc
