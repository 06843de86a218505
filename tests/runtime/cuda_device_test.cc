// GPU tests (ctest label gpu): the cut kernel against a CPU reference, and LoadShards from a checkpoint
// into device memory and back, on GPU 0 through libtpc_nccl.so (beside this binary).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "runtime/device.h"
#include "runtime/load_fixture.h"

namespace tpc {
namespace {

using namespace load_fixture;  // NOLINT: the fixture is this file's vocabulary

std::unique_ptr<Device> Gpu() {
  std::string error;
  std::unique_ptr<Device> d = OpenCudaDevice(0, &error);
  INFO(error);
  REQUIRE(d);
  return d;
}

TEST_SUITE("cuda") {
  TEST_CASE("the cut kernel copies rows x width from one pitch to another, at every alignment") {
    std::unique_ptr<Device> dev = Gpu();
    std::string error;
    struct Case {
      uint64_t src_off, src_pitch, dst_pitch, width, rows;
    };
    for (Case k : {Case{0, 64, 16, 16, 100}, Case{16, 4096, 512, 512, 70000}, Case{4, 40, 12, 12, 33},
                   Case{3, 29, 7, 5, 1000}, Case{0, 1 << 20, 1 << 16, 1 << 16, 3}}) {
      CAPTURE(k.src_pitch);
      CAPTURE(k.width);
      uint64_t src_bytes = k.src_off + (k.rows - 1) * k.src_pitch + k.width, dst_bytes = k.rows * k.dst_pitch;
      void *pinned = nullptr, *src = nullptr, *dst = nullptr;
      REQUIRE(dev->AllocPinned(src_bytes, &pinned, &error));
      REQUIRE(dev->Alloc(src_bytes, &src, &error));
      REQUIRE(dev->Alloc(dst_bytes, &dst, &error));
      auto* host = static_cast<uint8_t*>(pinned);
      for (uint64_t i = 0; i < src_bytes; ++i) host[i] = static_cast<uint8_t>(i * 131 + i / 251);
      Bytes want(dst_bytes, 0), got(dst_bytes, 1);
      for (uint64_t r = 0; r < k.rows; ++r)
        for (uint64_t b = 0; b < k.width; ++b) want[r * k.dst_pitch + b] = host[k.src_off + r * k.src_pitch + b];
      REQUIRE(dev->CopyIn(src, pinned, src_bytes, &error));
      REQUIRE(dev->Cut(dst, k.dst_pitch, static_cast<uint8_t*>(src) + k.src_off, k.src_pitch, k.width, k.rows, &error));
      // Only each row's first `width` bytes are written; the rest of the pitch is not compared.
      REQUIRE(dev->CopyOut(got.data(), dst, dst_bytes, &error));
      for (uint64_t r = 0; r < k.rows; ++r)
        for (uint64_t b = k.width; b < k.dst_pitch; ++b) got[r * k.dst_pitch + b] = 0;
      CHECK(got == want);
      dev->Free(src);
      dev->Free(dst);
      dev->FreePinned(pinned);
    }
  }

  TEST_CASE("a checkpoint loaded to the GPU reads back as the slices cut on the CPU, at several windows") {
    for (uint64_t window : {uint64_t{40}, uint64_t{1} << 20}) {
      TempDir tmp;
      Checkpoint c = MakeCheckpoint(tmp.path / "ck", 2);
      std::vector<std::unique_ptr<Device>> devices;
      devices.push_back(Gpu());
      devices.push_back(Gpu());
      auto runs = LoadAll(c, {LoadOptions::Source::kLocal, LoadOptions::Verify::kChecksum, "", "", window},
                          std::chrono::seconds(60), nullptr, -1,
                          [&](int r, LoadOptions* o) { o->device = devices[static_cast<size_t>(r)].get(); });
      for (int r = 0; r < 2; ++r) {
        RankRun& run = runs[static_cast<size_t>(r)];
        INFO("rank " << r << ": " << run.messages);
        REQUIRE(run.ok);
        std::vector<LoadedTensor> want = Expect(c, r);
        for (size_t i = 0; i < want.size(); ++i) {
          Bytes back(want[i].bytes.size());
          std::string error;
          REQUIRE(devices[static_cast<size_t>(r)]->CopyOut(back.data(), run.loaded.tensors[i].device, back.size(), &error));
          CHECK(back == want[i].bytes);
        }
      }
    }
  }
}

}  // namespace
}  // namespace tpc
