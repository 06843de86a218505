// Checkpoints written byte by byte for LoadShards tests (loader_test.cc, device_loader_test.cc,
// checkpoint_files_test.cc), the slices every rank must hold cut here independently, LoadShards run on
// InProcessCommunicator threads, and a checkpoint cut short while it is read.
#ifndef TPC_TESTS_RUNTIME_LOAD_FIXTURE_H_
#define TPC_TESTS_RUNTIME_LOAD_FIXTURE_H_

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "runtime/checkpoint_files.h"
#include "runtime/communicator.h"
#include "runtime/loader.h"
#include "support/sha256.h"

namespace tpc::load_fixture {

namespace fs = std::filesystem;

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  Bytes data;
};

inline int Width(const std::string& dtype) { return dtype == "F32" ? 4 : 2; }

inline int64_t Elems(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Seeded bytes, different for every tensor and position.
inline Tensor Make(std::string name, std::string dtype, std::vector<int64_t> shape, uint32_t seed) {
  Tensor t{std::move(name), std::move(dtype), std::move(shape), {}};
  t.data.resize(static_cast<size_t>(Elems(t.shape) * Width(t.dtype)));
  uint32_t x = seed * 2654435761u + 1;
  for (uint8_t& b : t.data) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 16);
  return t;
}

// A safetensors file as the format defines it: 8-byte little-endian N, N bytes of JSON, the data.
// Returns the SHA-256 of the first 8 + N bytes, which a program's inputs record.
inline std::string Write(const fs::path& path, const std::vector<Tensor>& tensors) {
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
inline Bytes Cut(const Tensor& t, int dim, const std::vector<Slice>& slices) {
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

inline ProgramParam Entry(const Tensor& t, const std::string& file) {
  ProgramParam e;
  e.name = e.source = t.name;
  e.file = file;
  e.dtype = t.dtype;
  e.global_shape = t.shape;
  return e;
}

inline ProgramParam Sharded(ProgramParam e, int dim, std::vector<std::vector<Slice>> ranks) {
  e.placement = {Placement::kShard, dim};
  e.ranks = std::move(ranks);
  return e;
}

// Uneven rows, a strided dim 1, a fused q/k split, replicated KV rows, a replicated norm, experts
// held by one owner each, and a second file.
inline Checkpoint MakeCheckpoint(const fs::path& dir, int tp) {
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
inline std::vector<LoadedTensor> Expect(const Checkpoint& c, int r) {
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
inline std::vector<RankRun> LoadAll(const Checkpoint& c, LoadOptions opts, std::chrono::milliseconds timeout,
                             std::function<fs::path(int)> dir_of = nullptr, int skip = -1,
                             std::function<void(int, LoadOptions*)> per_rank = nullptr) {
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
      LoadOptions mine = opts;
      if (per_rank) per_rank(r, &mine);
      run.ok = LoadShards(c.program, dir, *comms[static_cast<size_t>(r)], mine, &run.loaded, diags);
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

// A checkpoint cut short after the load is planned: the before-read hook truncates one file at its
// first read.
inline std::mutex g_cut_mu;
inline std::string g_cut_path;  // the file the hook truncates, once, at its first read; "" after
inline uint64_t g_cut_to = 0;   // to this many bytes

inline void CutAtFirstRead(const std::string& path, uint64_t, uint64_t) {
  std::lock_guard lock(g_cut_mu);
  if (path != g_cut_path) return;
  CHECK(truncate(path.c_str(), static_cast<off_t>(g_cut_to)) == 0);
  g_cut_path.clear();
}

// Sets the hook for one load and removes it after, whatever the load did.
struct CutOnce {
  CutOnce(const fs::path& path, uint64_t to) {
    g_cut_path = path.string();
    g_cut_to = to;
    SetBeforeReadHookForTesting(CutAtFirstRead);
  }
  ~CutOnce() {
    SetBeforeReadHookForTesting(nullptr);
    g_cut_path.clear();
  }
  bool fired() const { return g_cut_path.empty(); }
};

// Where a safetensors file's data starts: 8 + the little-endian length in its first 8 bytes.
inline uint64_t DataStart(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char head[8] = {};
  f.read(reinterpret_cast<char*>(head), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | head[i];
  return 8 + n;
}

// The message of a read of `n` bytes at `offset` of `file` that found it ending at `ends_at`.
inline std::string ShortRead(const fs::path& file, uint64_t n, uint64_t offset, uint64_t ends_at) {
  return "cannot read " + std::to_string(n) + " bytes of '" + file.string() + "' at offset " + std::to_string(offset) +
         ": it ended at byte " + std::to_string(ends_at) +
         " while being read (was it truncated or rewritten during the run?)";
}

inline void CheckHolds(const Checkpoint& c, const std::vector<RankRun>& runs) {
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

}  // namespace tpc::load_fixture

#endif  // TPC_TESTS_RUNTIME_LOAD_FIXTURE_H_
