// How a rank process of `tpc verify --processes` hands its report to the parent: every tensor,
// undefined ones included, comes back with its dtype, shape and bytes, and a stop with its module,
// time and message; a file it did not write whole is refused, not read as zeros. The parent puts
// the stops in order of time.
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
    RankReport report;
    std::string err;
    REQUIRE(DecodeReport(EncodeReport({{f, at::Tensor(), d, l, strided, empty}, "", -1, 0}), &report, &err));
    CHECK(report.error.empty());
    CHECK(report.stopped_at == -1);
    const std::vector<at::Tensor>& got = report.values;
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

  TEST_CASE("a stopped rank's report keeps its values, module, time and message") {
    std::string why = "rank 1, 'model.layers.0.self_attn.attention': shape '[1, 1, 0, 0]' is invalid";
    RankReport report;
    std::string err;
    REQUIRE(DecodeReport(EncodeReport({{at::ones({2}), at::Tensor()}, why, 1, 1234567890123LL}), &report, &err));
    REQUIRE(report.values.size() == 2);
    CHECK(at::equal(report.values[0], at::ones({2})));
    CHECK_FALSE(report.values[1].defined());
    CHECK(report.error == why);
    CHECK(report.stopped_at == 1);
    CHECK(report.stopped_ns == 1234567890123LL);
    // Stopped before its first module (its parameters): no module, still a stop.
    REQUIRE(DecodeReport(EncodeReport({{at::Tensor()}, "no tensor 'w'", -1, 5}), &report, &err));
    CHECK(report.error == "no tensor 'w'");
    CHECK(report.stopped_at == -1);
    CHECK(report.stopped_ns == 5);
  }

  TEST_CASE("a truncated, padded or foreign file is refused") {
    Bytes whole = EncodeReport({{at::ones({3})}, "", -1, 0});
    RankReport got;
    std::string err;
    Bytes cut(whole.begin(), whole.end() - 2);  // the flag and a byte of the value
    CHECK_FALSE(DecodeReport(cut, &got, &err));
    CHECK(err == "truncated in value 0");
    Bytes no_flag(whole.begin(), whole.end() - 1);
    CHECK_FALSE(DecodeReport(no_flag, &got, &err));
    CHECK(err == "no stop flag after the last value");
    Bytes padded = whole;
    padded.push_back(0);
    CHECK_FALSE(DecodeReport(padded, &got, &err));
    CHECK(err == "extra data after the stop (1 bytes)");
    Bytes foreign = whole;
    foreign[0] = 'X';
    CHECK_FALSE(DecodeReport(foreign, &got, &err));
    CHECK(err == "not a rank's report (no TPCR header)");
    Bytes bad_type = whole;
    bad_type[4 + 8 + 1] = 99;  // after the magic, the count and the defined flag
    CHECK_FALSE(DecodeReport(bad_type, &got, &err));
    CHECK(err == "value 0 has unknown dtype 99");
  }

  TEST_CASE("a stop cut short or naming a module past the values is refused") {
    // 2 undefined values: magic 4 + count 8 + 2 flags = 14 bytes, then the stop: flag 1, module 4,
    // time 8, length 8, message 4.
    Bytes stop = EncodeReport({{at::Tensor(), at::Tensor()}, "oops", 1, 7});
    REQUIRE(stop.size() == 14 + 1 + 4 + 8 + 8 + 4);
    RankReport got;
    std::string err;
    CHECK_FALSE(DecodeReport(Bytes(stop.begin(), stop.begin() + 14 + 1 + 4 + 8), &got, &err));
    CHECK(err == "truncated in the stop");
    CHECK_FALSE(DecodeReport(Bytes(stop.begin(), stop.end() - 1), &got, &err));
    CHECK(err == "the stop's message is empty or truncated");
    Bytes past = stop;
    past[14 + 1] = 2;  // module 2 of 2 values
    CHECK_FALSE(DecodeReport(past, &got, &err));
    CHECK(err == "the stop names module 2 of 2");
    Bytes bad_flag = stop;
    bad_flag[14] = 2;
    CHECK_FALSE(DecodeReport(bad_flag, &got, &err));
    CHECK(err == "no stop flag after the last value");
  }

  TEST_CASE("stopped ranks are numbered by stop time, not by rank; ties go to the lower rank") {
    // Rank 0 finished; rank 3 stopped first, ranks 1 and 2 at one later instant.
    std::vector<RankReport> reports(4);
    reports[1] = {{}, "rank 1 waited on rank 3", 5, 2000};
    reports[2] = {{}, "rank 2 waited on rank 3", 5, 2000};
    reports[3] = {{at::ones({1})}, "rank 3, 'attention': bad shape", 4, 1000};
    std::vector<RankRun> runs = RankRuns(reports);
    REQUIRE(runs.size() == 4);
    CHECK(runs[0].failure == -1);
    CHECK(runs[0].error.empty());
    CHECK(runs[3].failure == 0);
    CHECK(runs[1].failure == 1);
    CHECK(runs[2].failure == 2);
    CHECK(runs[3].error == "rank 3, 'attention': bad shape");
    CHECK(runs[3].stopped_at == 4);
    REQUIRE(runs[3].values.size() == 1);
    CHECK(runs[3].values[0].item<float>() == 1.0f);
  }
}

}  // namespace
}  // namespace tpc::verify
