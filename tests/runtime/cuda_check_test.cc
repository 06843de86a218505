// TPC_CUDA_CHECK and TPC_NCCL_CHECK on real failures of the CUDA runtime and NCCL; no GPU needed
// (a call on device -1 fails with or without one).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "runtime/cuda_check.h"

namespace tpc {
namespace {

int line = 0;

bool SetDevice(int index, std::string* error) {
  line = __LINE__ + 1;
  TPC_CUDA_CHECK(cudaSetDevice(index));
  return true;
}

bool CountRanks(ncclComm_t comm, std::string* error) {
  int n = 0;
  line = __LINE__ + 1;
  TPC_NCCL_CHECK(ncclCommCount(comm, &n));
  return true;
}

bool InProgress(std::string* error) {
  TPC_NCCL_CHECK(ncclInProgress);
  return true;
}

TEST_SUITE("cuda check") {
  TEST_CASE("a failed CUDA call is an error with the file, the line, the call and CUDA's text") {
    std::string error;
    CHECK_FALSE(SetDevice(-1, &error));
    std::string text = cudaGetErrorString(cudaSetDevice(-1));
    CHECK(error == "cuda_check_test.cc:" + std::to_string(line) + ": cudaSetDevice: " + text);
  }

  TEST_CASE("a failed NCCL call is an error with NCCL's text; in progress is not a failure") {
    std::string error;
    CHECK_FALSE(CountRanks(nullptr, &error));
    std::string want = "cuda_check_test.cc:" + std::to_string(line) + ": ncclCommCount: " +
                       ncclGetErrorString(ncclInvalidArgument);
    CHECK(error.substr(0, want.size()) == want);
    error.clear();
    CHECK(InProgress(&error));
    CHECK(error.empty());
  }
}

}  // namespace
}  // namespace tpc
