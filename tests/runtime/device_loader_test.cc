// LoadShards with a Device: every rank's tensors staged into "device" memory, then copied back and
// compared with slices cut independently (load_fixture.h). HostDevice runs queued work only when it
// is waited for, as a GPU runs it later: a pinned buffer refilled before its copy ran, or a cut that
// reads the wrong rows, gives wrong bytes here.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <set>

#include "runtime/device.h"
#include "runtime/load_fixture.h"

namespace tpc {
namespace {

using namespace load_fixture;  // NOLINT: the fixture is this file's vocabulary

class HostDevice : public Device {
 public:
  ~HostDevice() override { CHECK(live_.empty()); }
  bool Alloc(uint64_t bytes, void** p, std::string*) override { return *p = Take(bytes, false), true; }
  void Free(void* p) override { Give(p); }
  bool AllocPinned(uint64_t bytes, void** p, std::string*) override { return *p = Take(bytes, true), true; }
  void FreePinned(void* p) override { Give(p); }
  bool CopyIn(void* dst, const void* src, uint64_t n, std::string* error) override {
    if (!pinned_.count(src) && !InPinned(src)) return *error = "copy from unpinned memory", false;
    return Queue([=] { std::memcpy(dst, src, n); });
  }
  bool CopyWithin(void* dst, const void* src, uint64_t n, std::string*) override {
    return Queue([=] { std::memcpy(dst, src, n); });
  }
  bool Cut(void* dst, uint64_t dst_pitch, const void* src, uint64_t src_pitch, uint64_t width, uint64_t rows,
           std::string*) override {
    ++cuts;
    return Queue([=] {
      for (uint64_t r = 0; r < rows; ++r)
        std::memcpy(static_cast<uint8_t*>(dst) + r * dst_pitch, static_cast<const uint8_t*>(src) + r * src_pitch, width);
    });
  }
  bool Record(int slot, std::string*) override { return marks_[slot] = queue_.size(), true; }
  bool Wait(int slot, std::string*) override { return RunTo(marks_[slot]), true; }
  bool CopyOut(void* dst, const void* src, uint64_t n, std::string*) override {
    RunTo(queue_.size());
    std::memcpy(dst, src, n);
    return true;
  }
  bool Synchronize(std::string*) override { return RunTo(queue_.size()), true; }

  int cuts = 0;

 private:
  void* Take(uint64_t n, bool pinned) {
    void* p = new uint8_t[n];
    live_[p] = n;
    if (pinned) pinned_.insert(p);
    return p;
  }
  void Give(void* p) {
    REQUIRE(live_.erase(p) == 1);
    pinned_.erase(p);
    delete[] static_cast<uint8_t*>(p);
  }
  bool InPinned(const void* p) {
    for (const void* b : pinned_)
      if (p >= b && static_cast<const uint8_t*>(p) < static_cast<const uint8_t*>(b) + live_.at(const_cast<void*>(b)))
        return true;
    return false;
  }
  bool Queue(std::function<void()> fn) { return queue_.push_back(std::move(fn)), true; }
  void RunTo(size_t end) {
    for (; done_ < end; ++done_) queue_[done_]();
  }

  std::map<void*, uint64_t> live_;
  std::set<const void*> pinned_;
  std::vector<std::function<void()>> queue_;
  size_t done_ = 0;
  size_t marks_[2] = {0, 0};
};

// NCCL's part over a second in-process hub: the device's queue runs first, as the stream orders it.
class HostDeviceComm : public DeviceComm {
 public:
  HostDeviceComm(HostDevice& dev, Communicator& comm) : dev_(dev), comm_(comm) {}
  bool Exchange(const std::vector<DeviceTransfer>& transfers, std::string* error) override {
    dev_.Synchronize(error);
    for (const DeviceTransfer& t : transfers)
      if (t.send && !comm_.Send({static_cast<const uint8_t*>(t.data), t.bytes}, t.peer, error)) return false;
    for (const DeviceTransfer& t : transfers) {
      Bytes b;
      if (t.send) continue;
      if (!comm_.Recv(&b, t.peer, error)) return false;
      REQUIRE(b.size() == t.bytes);
      std::memcpy(t.data, b.data(), b.size());
    }
    return true;
  }
  bool AllGather(const void* send, void* recv, uint64_t bytes, std::string* error) override {
    dev_.Synchronize(error);
    std::vector<Bytes> all;
    if (!comm_.AllGather({static_cast<const uint8_t*>(send), bytes}, &all, error)) return false;
    for (size_t r = 0; r < all.size(); ++r) std::memcpy(static_cast<uint8_t*>(recv) + r * bytes, all[r].data(), bytes);
    return true;
  }

 private:
  HostDevice& dev_;
  Communicator& comm_;
};

TEST_SUITE("device loader") {
  TEST_CASE("with a device every rank's tensors end in its memory, read locally or sent by rank 0, verified on it") {
    for (int tp : {2, 4})
      for (uint64_t window : {uint64_t{7}, uint64_t{40}, uint64_t{1} << 20})
        for (auto source : {LoadOptions::Source::kLocal, LoadOptions::Source::kRoot})
          for (auto verify : {LoadOptions::Verify::kNone, LoadOptions::Verify::kGather, LoadOptions::Verify::kChecksum}) {
            CAPTURE(tp);
            CAPTURE(window);
            CAPTURE(static_cast<int>(source));
            CAPTURE(static_cast<int>(verify));
            TempDir tmp;
            Checkpoint c = MakeCheckpoint(tmp.path / "ck", tp);
            std::vector<HostDevice> devices(static_cast<size_t>(tp));
            auto nccl = InProcessCommunicator::Create(tp, std::chrono::seconds(20));
            std::vector<std::unique_ptr<HostDeviceComm>> comms;
            for (int r = 0; r < tp; ++r)
              comms.push_back(std::make_unique<HostDeviceComm>(devices[static_cast<size_t>(r)], *nccl[static_cast<size_t>(r)]));
            auto on_device = [&](int r, LoadOptions* o) {
              o->device = &devices[static_cast<size_t>(r)];
              o->device_comm = comms[static_cast<size_t>(r)].get();
            };
            std::vector<RankRun> runs = LoadAll(c, {source, verify, "", "", window}, std::chrono::seconds(20), nullptr,
                                                -1, on_device);
            for (int r = 0; r < tp; ++r) {
              RankRun& run = runs[static_cast<size_t>(r)];
              INFO("rank " << r << ": " << run.messages);
              REQUIRE(run.ok);
              std::vector<LoadedTensor> want = Expect(c, r);
              REQUIRE(run.loaded.tensors.size() == want.size());
              for (size_t i = 0; i < want.size(); ++i) {
                LoadedTensor& t = run.loaded.tensors[i];
                INFO(t.name);
                CHECK(t.bytes.empty());
                Bytes back(want[i].bytes.size());
                std::string error;
                devices[static_cast<size_t>(r)].CopyOut(back.data(), t.device, back.size(), &error);
                CHECK(back == want[i].bytes);
              }
            }
            // Column-sharded 'q' (3 rows of F32) is cut on the device of the rank that reads it.
            if (window >= 96) CHECK(devices[0].cuts > 0);
          }
  }

  TEST_CASE("windows of megabytes are read on several threads and their strided rows cut, byte for byte") {
    // 'big' is 24 MiB sharded along dim 1 (rows of 8 KiB, 4 KiB per rank: one window, cut); 'whole' is
    // 16 MiB on every rank (one window, read in 4 MiB parts).
    TempDir tmp;
    Tensor big = Make("big", "BF16", {3072, 4096}, 9), whole = Make("whole", "BF16", {2048, 4096}, 10);
    Checkpoint c{tmp.path / "ck", {}, {big, whole}};
    fs::create_directories(c.dir);
    c.program.naming = Naming::kCheckpoint;
    c.program.tp = 2;
    c.program.params = {Sharded(Entry(big, "model.safetensors"), 1, {{{"", 0, 2048}}, {{"", 2048, 2048}}}),
                        Entry(whole, "model.safetensors")};
    c.program.inputs.shards = {{"ck/model.safetensors", Write(c.dir / "model.safetensors", {big, whole}), 0}};
    std::vector<HostDevice> devices(2);
    auto runs = LoadAll(c, {}, std::chrono::seconds(20), nullptr, -1,
                        [&](int r, LoadOptions* o) { o->device = &devices[static_cast<size_t>(r)]; });
    for (int r = 0; r < 2; ++r) {
      RankRun& run = runs[static_cast<size_t>(r)];
      INFO("rank " << r << ": " << run.messages);
      REQUIRE(run.ok);
      std::vector<LoadedTensor> want = Expect(c, r);
      for (size_t i = 0; i < want.size(); ++i) {
        Bytes back(want[i].bytes.size());
        std::string error;
        devices[static_cast<size_t>(r)].CopyOut(back.data(), run.loaded.tensors[i].device, back.size(), &error);
        CHECK(back == want[i].bytes);
      }
      CHECK(devices[static_cast<size_t>(r)].cuts == 1);
    }
  }

  TEST_CASE("a checkpoint cut short while it is staged ends every rank with the error of the rank that read it") {
    // Rank 1's first read is 'embed' rows 5-9 (8 bytes a row): 40 bytes, 40 past the data start,
    // read by rank 1 itself (from its own copy, cut alone) or by rank 0; the cut leaves 20.
    for (auto source : {LoadOptions::Source::kLocal, LoadOptions::Source::kRoot}) {
      CAPTURE(static_cast<int>(source));
      bool root = source == LoadOptions::Source::kRoot;
      TempDir tmp;
      Checkpoint c = MakeCheckpoint(tmp.path / "ck", 2);
      fs::copy(c.dir, tmp.path / "cut", fs::copy_options::recursive);
      fs::path dir = root ? c.dir : tmp.path / "cut", cut = dir / "model-00001-of-00002.safetensors";
      uint64_t start = DataStart(cut);
      std::vector<HostDevice> devices(2);
      auto nccl = InProcessCommunicator::Create(2, std::chrono::seconds(20));
      HostDeviceComm c0(devices[0], *nccl[0]), c1(devices[1], *nccl[1]);
      CutOnce hook(cut, start + 60);
      auto runs = LoadAll(c, {source, LoadOptions::Verify::kNone, "", ""}, std::chrono::seconds(20),
                          [&](int r) { return r == 1 ? dir : c.dir; }, -1, [&](int r, LoadOptions* o) {
                            o->device = &devices[static_cast<size_t>(r)];
                            o->device_comm = r == 0 ? &c0 : &c1;
                          });
      REQUIRE(hook.fired());
      std::string error = ShortRead(cut, 40, start + 40, start + 60);
      int reader = root ? 0 : 1, other = 1 - reader;
      CHECK(runs[static_cast<size_t>(reader)].messages == "shard-read-failed: " + error + "\n");
      CHECK(runs[static_cast<size_t>(other)].messages ==
            "load-rank-failed: rank " + std::to_string(reader) + " failed: " + error + " [shard-read-failed]\n");
      for (const RankRun& run : runs) {
        CHECK_FALSE(run.ok);
        CHECK(run.loaded.tensors.empty());
      }
    }
  }

  TEST_CASE("bytes that differ on one rank's device fail --verify gather, naming the rank") {
    TempDir tmp;
    Checkpoint c = MakeCheckpoint(tmp.path / "ck", 2);
    fs::copy(c.dir, tmp.path / "bad", fs::copy_options::recursive);
    fs::path f = tmp.path / "bad" / "model-00002-of-00002.safetensors";
    std::fstream s(f, std::ios::in | std::ios::out | std::ios::binary);
    s.seekp(static_cast<long>(fs::file_size(f)) - 1);
    s.put(static_cast<char>(~c.tensors.back().data.back()));
    s.close();
    std::vector<HostDevice> devices(2);
    auto nccl = InProcessCommunicator::Create(2, std::chrono::seconds(20));
    HostDeviceComm c0(devices[0], *nccl[0]), c1(devices[1], *nccl[1]);
    auto runs = LoadAll(c, {LoadOptions::Source::kLocal, LoadOptions::Verify::kGather, "", ""}, std::chrono::seconds(20),
                        [&](int r) { return r == 1 ? tmp.path / "bad" : c.dir; }, -1, [&](int r, LoadOptions* o) {
                          o->device = &devices[static_cast<size_t>(r)];
                          o->device_comm = r == 0 ? &c0 : &c1;
                        });
    for (const RankRun& run : runs) {
      CHECK_FALSE(run.ok);
      CHECK(run.messages.find("load-verify-failed: --verify gather: 'lm_head' put together from every rank differs "
                              "from the checkpoint at byte 47 (index 5 along dim 0, rank 1)") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace tpc
