// How a rank process of `tpc verify --processes` hands its values to the parent: every tensor,
// undefined ones included, comes back with its dtype, shape and bytes; a file it did not write
// whole is refused, not read as zeros.
#include "runtime/verify/rank_processes.h"

// Debian's LibTorch brings glog, whose CHECK aborts; doctest's must win.
#undef CHECK
#include <doctest/doctest.h>

namespace tpc::verify {
namespace {

TEST_SUITE("rank-processes") {
  TEST_CASE("values round-trip with dtype, shape and every byte") {
    at::Tensor f = at::tensor(std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f}).reshape({2, 3});
    at::Tensor d = at::tensor(std::vector<double>{0.1, 0.2}).reshape({1, 2, 1});
    at::Tensor l = at::tensor(std::vector<int64_t>{5, -1, 1LL << 40});
    at::Tensor strided = f.t();  // not contiguous: its values in its own order
    at::Tensor empty = at::zeros({2, 0, 4});
    std::vector<at::Tensor> got;
    std::string err;
    REQUIRE(DecodeValues(EncodeValues({f, at::Tensor(), d, l, strided, empty}), &got, &err));
    REQUIRE(got.size() == 6);
    CHECK((got[0].scalar_type() == at::kFloat));
    CHECK(got[0].sizes().vec() == std::vector<int64_t>{2, 3});
    CHECK(got[0][1][1].item<float>() == 1e-30f);
    CHECK(at::equal(got[0], f));
    CHECK_FALSE(got[1].defined());
    CHECK((got[2].scalar_type() == at::kDouble));
    CHECK(got[2].sizes().vec() == std::vector<int64_t>{1, 2, 1});
    CHECK(got[2][0][1][0].item<double>() == 0.2);
    CHECK((got[3].scalar_type() == at::kLong));
    CHECK(got[3][2].item<int64_t>() == (1LL << 40));
    CHECK(got[4].sizes().vec() == std::vector<int64_t>{3, 2});
    CHECK(got[4][1][0].item<float>() == -2.0f);  // f[0][1]
    CHECK(got[4][2][1].item<float>() == -7.0f);  // f[1][2]
    CHECK(got[5].sizes().vec() == std::vector<int64_t>{2, 0, 4});
  }

  TEST_CASE("a truncated, padded or foreign file is refused") {
    Bytes whole = EncodeValues({at::ones({3})});
    std::vector<at::Tensor> got;
    std::string err;
    Bytes cut(whole.begin(), whole.end() - 1);
    CHECK_FALSE(DecodeValues(cut, &got, &err));
    CHECK(err == "truncated in value 0");
    Bytes padded = whole;
    padded.push_back(0);
    CHECK_FALSE(DecodeValues(padded, &got, &err));
    CHECK(err == "extra data after the last value (1 bytes)");
    Bytes foreign = whole;
    foreign[0] = 'X';
    CHECK_FALSE(DecodeValues(foreign, &got, &err));
    CHECK(err == "not a rank's values (no TPCV header)");
    Bytes bad_type = whole;
    bad_type[4 + 8 + 1] = 99;  // after the magic, the count and the defined flag
    CHECK_FALSE(DecodeValues(bad_type, &got, &err));
    CHECK(err == "value 0 has unknown dtype 99");
  }
}

}  // namespace
}  // namespace tpc::verify
