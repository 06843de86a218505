// LoadShards over InProcessCommunicator threads, on checkpoints written here byte by byte; every
// rank's bytes are compared with slices cut here from the written data, element by element.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "runtime/communicator.h"
#include "runtime/loader.h"
#include "support/sha256.h"

namespace tpc {
namespace {

namespace fs = std::filesystem;

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  Bytes data;
};

int Width(const std::string& dtype) { return dtype == "F32" ? 4 : 2; }

int64_t Elems(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Seeded bytes, different for every tensor and position.
Tensor Make(std::string name, std::string dtype, std::vector<int64_t> shape, uint32_t seed) {
  Tensor t{std::move(name), std::move(dtype), std::move(shape), {}};
  t.data.resize(static_cast<size_t>(Elems(t.shape) * Width(t.dtype)));
  uint32_t x = seed * 2654435761u + 1;
  for (uint8_t& b : t.data) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 16);
  return t;
}

// A safetensors file as the format defines it: 8-byte little-endian N, N bytes of JSON, the data.
// Returns the SHA-256 of the first 8 + N bytes, which a program's inputs record.
std::string Write(const fs::path& path, const std::vector<Tensor>& tensors) {
  std::string json = "{";
  size_t at = 0;
  for (const Tensor& t : tensors) {
    json += (json.size() > 1 ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) json += (i ? "," : "") + std::to_string(t.shape[i]);
    json += "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + t.data.size()) + "]}";
    at += t.data.size();
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string head(8, '\0');
  for (int i = 0; i < 8; ++i) head[static_cast<size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  head += json;
  std::ofstream f(path, std::ios::binary);
  f << head;
  for (const Tensor& t : tensors) f.write(reinterpret_cast<const char*>(t.data.data()), static_cast<long>(t.data.size()));
  return Sha256Hex(head);
}

// Rank-local bytes cut from the global data: for every index before `dim`, each slice's rows.
Bytes Cut(const Tensor& t, int dim, const std::vector<Slice>& slices) {
  int64_t outer = 1, inner = Width(t.dtype);
  for (int i = 0; i < dim; ++i) outer *= t.shape[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(dim) + 1; i < t.shape.size(); ++i) inner *= t.shape[i];
  Bytes out;
  for (int64_t o = 0; o < outer; ++o)
    for (const Slice& s : slices)
      for (int64_t row = s.start; row < s.start + s.length; ++row)
        for (int64_t b = 0; b < inner; ++b)
          out.push_back(t.data[static_cast<size_t>((o * t.shape[static_cast<size_t>(dim)] + row) * inner + b)]);
  return out;
}

struct Checkpoint {
  fs::path dir;
  Program program;
  std::vector<Tensor> tensors;  // by entry
};

ProgramParam Entry(const Tensor& t, const std::string& file) {
  ProgramParam e;
  e.name = e.source = t.name;
  e.file = file;
  e.dtype = t.dtype;
  e.global_shape = t.shape;
  return e;
}

ProgramParam Sharded(ProgramParam e, int dim, std::vector<std::vector<Slice>> ranks) {
  e.placement = {Placement::kShard, dim};
  e.ranks = std::move(ranks);
  return e;
}

// Uneven rows, a strided dim 1, a fused q/k split, replicated KV rows, a replicated norm, experts
// held by one owner each, and a second file.
Checkpoint MakeCheckpoint(const fs::path& dir, int tp) {
  Checkpoint c{dir, {}, {}};
  fs::create_directories(dir);
  Tensor embed = Make("embed", "BF16", {10, 4}, 1), q = Make("q", "F32", {3, 8}, 2), qkv = Make("qkv", "BF16", {12, 4}, 3);
  Tensor kv = Make("kv", "BF16", {4, 6}, 4), norm = Make("norm", "F32", {5}, 5);
  Tensor e0 = Make("experts.0", "BF16", {2, 4}, 6), e1 = Make("experts.1", "BF16", {2, 4}, 7);
  Tensor head = Make("lm_head", "BF16", {6, 4}, 8);
  std::vector<std::vector<Slice>> rows, cols, fused, kv_rows;
  std::vector<int64_t> uneven = tp == 2 ? std::vector<int64_t>{5, 5} : std::vector<int64_t>{3, 3, 2, 2};
  int64_t at = 0;
  for (int r = 0; r < tp; ++r) {
    rows.push_back({{"", at, uneven[static_cast<size_t>(r)]}});
    at += uneven[static_cast<size_t>(r)];
    cols.push_back({{"", r * 8 / tp, 8 / tp}});
    fused.push_back({{"q", r * 8 / tp, 8 / tp}, {"k", 8 + r * 4 / tp, 4 / tp}});
    kv_rows.push_back({{"", (r * 2 / tp) * 2, 2}});  // 2 KV heads of 2 rows: tp 4 holds each twice
  }
  std::vector<std::vector<Slice>> head_rows = {{{"", 0, 3}}, {{"", 3, 3}}};
  if (tp == 4) head_rows = {{{"", 0, 2}}, {{"", 2, 2}}, {{"", 4, 1}}, {{"", 5, 1}}};
  std::string f1 = "model-00001-of-00002.safetensors", f2 = "model-00002-of-00002.safetensors";
  c.tensors = {embed, q, qkv, kv, norm, e0, e1, head};
  c.program.naming = Naming::kCheckpoint;
  c.program.tp = tp;
  c.program.params = {Sharded(Entry(embed, f1), 0, rows), Sharded(Entry(q, f1), 1, cols),
                      Sharded(Entry(qkv, f1), 0, fused),  Sharded(Entry(kv, f1), 0, kv_rows),
                      Entry(norm, f1),                    Entry(e0, f1),
                      Entry(e1, f1),                      Sharded(Entry(head, f2), 0, head_rows)};
  c.program.params[5].owners = {0};
  c.program.params[6].owners = {tp - 1};
  std::string h1 = Write(dir / f1, {embed, q, qkv, kv, norm, e0, e1}), h2 = Write(dir / f2, {head});
  c.program.inputs.shards = {{"ck/" + f1, h1, 0}, {"ck/" + f2, h2, 0}};
  return c;
}

// What rank r must hold: (name, shape, bytes) per entry it holds.
std::vector<LoadedTensor> Expect(const Checkpoint& c, int r) {
  std::vector<LoadedTensor> out;
  for (size_t i = 0; i < c.program.params.size(); ++i) {
    const ProgramParam& e = c.program.params[i];
    const Tensor& t = c.tensors[i];
    if (!e.owners.empty() && e.owners[0] != r) continue;
    if (e.placement.kind == Placement::kReplicate) {
      out.push_back({t.name, t.dtype, t.shape, t.data});
      continue;
    }
    std::vector<int64_t> shape = t.shape;
    shape[static_cast<size_t>(e.placement.dim)] = 0;
    for (const Slice& s : e.ranks[static_cast<size_t>(r)]) shape[static_cast<size_t>(e.placement.dim)] += s.length;
    out.push_back({t.name, t.dtype, shape, Cut(t, e.placement.dim, e.ranks[static_cast<size_t>(r)])});
  }
  return out;
}

struct RankRun {
  bool ok = false;
  LoadedShards loaded;
  std::string messages;  // "code: message" lines
};

// Runs LoadShards on `tp` threads; `skip` ranks never call it; `dir_of` gives each rank its checkpoint.
std::vector<RankRun> LoadAll(const Checkpoint& c, LoadOptions opts, std::chrono::milliseconds timeout,
                             std::function<fs::path(int)> dir_of = nullptr, int skip = -1) {
  int tp = c.program.tp;
  auto comms = InProcessCommunicator::Create(tp, timeout);
  std::vector<RankRun> runs(static_cast<size_t>(tp));
  std::vector<std::thread> threads;
  opts.program_path = "p.json";
  for (int r = 0; r < tp; ++r) {
    if (r == skip) continue;
    threads.emplace_back([&, r] {
      SourceManager sources;
      Diagnostics diags(sources);
      RankRun& run = runs[static_cast<size_t>(r)];
      std::string dir = (dir_of ? dir_of(r) : c.dir).string();
      run.ok = LoadShards(c.program, dir, *comms[static_cast<size_t>(r)], opts, &run.loaded, diags);
      for (const Diagnostic& d : diags.all()) run.messages += d.code + ": " + d.message + "\n";
    });
  }
  for (std::thread& t : threads) t.join();
  return runs;
}

// Rank `inner`'s communicator until its `calls`-th call, where the rank dies: that call and every
// later one fail without reaching the others.
class DyingCommunicator : public Communicator {
 public:
  DyingCommunicator(Communicator& inner, int calls) : inner_(inner), left_(calls) {}
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  bool Broadcast(Bytes* b, int root, std::string* e) override { return Alive(e) && inner_.Broadcast(b, root, e); }
  bool Send(std::span<const uint8_t> b, int peer, std::string* e) override { return Alive(e) && inner_.Send(b, peer, e); }
  bool Recv(Bytes* b, int peer, std::string* e) override { return Alive(e) && inner_.Recv(b, peer, e); }
  bool AllGather(std::span<const uint8_t> b, std::vector<Bytes>* out, std::string* e) override {
    return Alive(e) && inner_.AllGather(b, out, e);
  }
  bool Barrier(std::string* e) override { return Alive(e) && inner_.Barrier(e); }

 private:
  bool Alive(std::string* e) {
    if (--left_ > 0) return true;
    *e = "killed";
    return false;
  }
  Communicator& inner_;
  int left_;
};

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tpc_loader_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

void CheckHolds(const Checkpoint& c, const std::vector<RankRun>& runs) {
  for (int r = 0; r < c.program.tp; ++r) {
    const RankRun& run = runs[static_cast<size_t>(r)];
    INFO("rank " << r << ": " << run.messages);
    REQUIRE(run.ok);
    std::vector<LoadedTensor> want = Expect(c, r);
    REQUIRE(run.loaded.tensors.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO(want[i].name);
      CHECK(run.loaded.tensors[i].name == want[i].name);
      CHECK(run.loaded.tensors[i].shape == want[i].shape);
      CHECK(run.loaded.tensors[i].bytes == want[i].bytes);
    }
  }
}

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
