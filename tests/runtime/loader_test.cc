// LoadShards over InProcessCommunicator threads, on checkpoints written here byte by byte; every
// rank's bytes are compared with slices cut here from the written data, element by element.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "runtime/load_fixture.h"

namespace tpc {
namespace {

using namespace load_fixture;  // NOLINT: the fixture is this file's vocabulary
namespace fs = std::filesystem;

TEST_SUITE("loader") {
  TEST_CASE("every rank holds its slices of the checkpoint, read locally or sent by rank 0, at tp 2 and 4") {
    for (int tp : {2, 4})
      for (auto source : {LoadOptions::Source::kLocal, LoadOptions::Source::kRoot})
        for (auto verify : {LoadOptions::Verify::kNone, LoadOptions::Verify::kGather, LoadOptions::Verify::kChecksum}) {
          CAPTURE(tp);
          CAPTURE(static_cast<int>(source));
          CAPTURE(static_cast<int>(verify));
          TempDir tmp;
          Checkpoint c = MakeCheckpoint(tmp.path / "ck", tp);
          CheckHolds(c, LoadAll(c, {source, verify, "", ""}, std::chrono::seconds(20)));
        }
  }

  TEST_CASE("small windows: a tensor's runs read in several windows, runs past a window read alone, and rank 0's "
            "messages split between tensors and around a large one") {
    for (uint64_t window : {1, 7, 40, 100})
      for (auto source : {LoadOptions::Source::kLocal, LoadOptions::Source::kRoot}) {
        CAPTURE(window);
        TempDir tmp;
        Checkpoint c = MakeCheckpoint(tmp.path / "ck", 4);
        CheckHolds(c, LoadAll(c, {source, LoadOptions::Verify::kGather, "", "", window}, std::chrono::seconds(20)));
      }
  }

  TEST_CASE("bytes that differ from the checkpoint on one rank fail --verify gather and checksum, naming the rank") {
    TempDir tmp;
    Checkpoint c = MakeCheckpoint(tmp.path / "ck", 2);
    // Rank 1 reads a copy whose headers are the same and whose last byte (lm_head's) differs.
    fs::copy(c.dir, tmp.path / "bad", fs::copy_options::recursive);
    fs::path f = tmp.path / "bad" / "model-00002-of-00002.safetensors";
    std::fstream s(f, std::ios::in | std::ios::out | std::ios::binary);
    s.seekp(static_cast<long>(fs::file_size(f)) - 1);
    s.put(static_cast<char>(~c.tensors.back().data.back()));
    s.close();
    auto dir_of = [&](int r) { return r == 1 ? tmp.path / "bad" : c.dir; };
    auto gather = LoadAll(c, {LoadOptions::Source::kLocal, LoadOptions::Verify::kGather, "", ""},
                          std::chrono::seconds(20), dir_of);
    for (const RankRun& run : gather) {
      CHECK_FALSE(run.ok);
      CHECK(run.messages.find("load-verify-failed: --verify gather: 'lm_head' put together from every rank differs "
                              "from the checkpoint at byte 47 (index 5 along dim 0, rank 1)") != std::string::npos);
    }
    auto sums = LoadAll(c, {LoadOptions::Source::kLocal, LoadOptions::Verify::kChecksum, "", ""},
                        std::chrono::seconds(20), dir_of);
    for (const RankRun& run : sums) {
      CHECK_FALSE(run.ok);
      CHECK(run.messages.find("load-verify-failed: --verify checksum: rank 1's bytes have SHA-256") != std::string::npos);
    }
    // A replicated tensor: every holder's copy must equal the checkpoint's.
    fs::copy(c.dir, tmp.path / "bad2", fs::copy_options::recursive);
    f = tmp.path / "bad2" / "model-00001-of-00002.safetensors";
    uint64_t data = 0, norm = 0;
    for (size_t i = 0; i < 7; ++i) (i < 4 ? norm : data) += c.tensors[i].data.size();
    data += norm;
    std::fstream s2(f, std::ios::in | std::ios::out | std::ios::binary);
    s2.seekp(static_cast<long>(fs::file_size(f) - data + norm));
    s2.put(static_cast<char>(~c.tensors[4].data[0]));
    s2.close();
    auto norm_bad = LoadAll(c, {LoadOptions::Source::kLocal, LoadOptions::Verify::kGather, "", ""},
                            std::chrono::seconds(20), [&](int r) { return r == 1 ? tmp.path / "bad2" : c.dir; });
    CHECK(norm_bad[0].messages.find("--verify gather: rank 1's 'norm' differs from the checkpoint") != std::string::npos);
    // Unverified, rank 1 simply holds what its copy holds.
    auto plain = LoadAll(c, {}, std::chrono::seconds(20), dir_of);
    CHECK(plain[1].ok);
  }

  TEST_CASE("a rank that never arrives ends the others within the timeout with an error naming it") {
    TempDir tmp;
    Checkpoint c = MakeCheckpoint(tmp.path / "ck", 4);
    auto start = std::chrono::steady_clock::now();
    auto runs = LoadAll(c, {}, std::chrono::milliseconds(300), nullptr, 2);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    for (int r : {0, 1, 3}) {
      CHECK_FALSE(runs[static_cast<size_t>(r)].ok);
      CHECK(runs[static_cast<size_t>(r)].messages.find("load-comm-failed: rank " + std::to_string(r) +
                                                       ": all-gather failed: rank 2 did not arrive within 0.3 s") !=
            std::string::npos);
    }
  }

  TEST_CASE("a rank that dies after the first exchange ends the others within the timeout, naming it") {
    for (auto verify : {LoadOptions::Verify::kNone, LoadOptions::Verify::kGather}) {
      TempDir tmp;
      Checkpoint c = MakeCheckpoint(tmp.path / "ck", 2);
      auto comms = InProcessCommunicator::Create(2, std::chrono::milliseconds(300));
      DyingCommunicator dying(*comms[1], 2);  // takes part in the planning agreement, then dies
      std::vector<std::string> messages(2);
      auto run = [&](int r, Communicator& comm) {
        SourceManager sources;
        Diagnostics diags(sources);
        LoadedShards out;
        CHECK_FALSE(LoadShards(c.program, c.dir.string(), comm,
                               {LoadOptions::Source::kRoot, verify, "p.json", ""}, &out, diags));
        for (const Diagnostic& d : diags.all()) messages[static_cast<size_t>(r)] += d.message + "\n";
      };
      auto start = std::chrono::steady_clock::now();
      std::thread one([&] { run(1, dying); });
      run(0, *comms[0]);
      one.join();
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
      CHECK(messages[0] == "rank 0: all-gather failed: rank 1 did not arrive within 0.3 s\n");
      CHECK(messages[1] == "rank 1: killed\n");
    }
  }

  TEST_CASE("a rank that leaves the in-process group fails the calls waiting on it at once, naming it") {
    auto comms = InProcessCommunicator::Create(3, std::chrono::seconds(30));
    std::string gather_error, recv_error;
    std::vector<Bytes> parts;
    Bytes got;
    auto start = std::chrono::steady_clock::now();
    std::thread zero([&] { CHECK_FALSE(comms[0]->AllGather(Bytes{1}, &parts, &gather_error)); });
    std::thread two([&] { CHECK_FALSE(comms[2]->Recv(&got, 1, &recv_error)); });
    comms[1]->Leave("at 'model.layers.0.self_attn.attention'");
    zero.join();
    two.join();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));  // not the 30 s timeout
    CHECK(gather_error == "all-gather failed: rank 1 stopped (at 'model.layers.0.self_attn.attention')");
    CHECK(recv_error == "receive from rank 1 failed: it stopped (at 'model.layers.0.self_attn.attention')");
  }

  TEST_CASE("a rank that cannot read the checkpoint ends every rank with its error") {
    TempDir tmp;
    Checkpoint c = MakeCheckpoint(tmp.path / "ck", 2);
    auto runs = LoadAll(c, {}, std::chrono::seconds(20), [&](int r) { return r == 1 ? tmp.path / "none" : c.dir; });
    CHECK_FALSE(runs[0].ok);
    CHECK_FALSE(runs[1].ok);
    CHECK(runs[0].messages.find("load-rank-failed: rank 1 failed: ") != std::string::npos);
    CHECK(runs[0].messages.find((tmp.path / "none").string()) != std::string::npos);
  }

  TEST_CASE("a world size other than the program's tp is refused") {
    TempDir tmp;
    Checkpoint c = MakeCheckpoint(tmp.path / "ck", 2);
    auto comms = InProcessCommunicator::Create(1, std::chrono::seconds(1));
    SourceManager sources;
    Diagnostics diags(sources);
    LoadedShards out;
    CHECK_FALSE(LoadShards(c.program, c.dir.string(), *comms[0], {LoadOptions::Source::kLocal, {}, "p.json", ""}, &out,
                           diags));
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].message == "the world size is 1, but 'p.json' was compiled for tp 2; start 2 ranks");
  }
}

}  // namespace
}  // namespace tpc
