// Safetensors headers and index files written byte by byte into a TempDir. Tensor data is never
// written: the file is extended with truncate(), so it is sparse and costs no disk.
#include "support/safetensors_header.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include "test_util.h"

namespace tpc {
namespace {

using test::TempDir;

// Writes the 8-byte little-endian `length` (the header's own by default), the header, then grows
// the file to `data_bytes` of (sparse) tensor data after the header.
void WriteSafetensors(const std::string& path, const std::string& header, uint64_t data_bytes,
                      uint64_t length = UINT64_MAX) {
  if (length == UINT64_MAX) length = header.size();
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((length >> (8 * i)) & 0xff);
  {
    std::ofstream f(path, std::ios::binary);
    REQUIRE(f);
    f << bytes << header;
    REQUIRE(f.good());
  }
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(8 + header.size() + data_bytes)) == 0);
}

struct Outcome {
  bool ok = false;
  std::string code, message, file;  // the first diagnostic and the path of its location
  int line = 0, column = 0;
  size_t count = 0;
};

Outcome ReadHeader(const std::string& path, SafetensorsHeader* header = nullptr) {
  SourceManager sources;
  Diagnostics diags(sources);
  SafetensorsHeader local;
  Outcome out;
  out.ok = ReadSafetensorsHeader(path, header ? header : &local, diags);
  out.count = diags.all().size();
  if (!diags.all().empty()) {
    const Diagnostic& d = diags.all().front();
    out.code = d.code, out.message = d.message, out.file = sources.path(d.loc.file);
    out.line = d.loc.line, out.column = d.loc.column;
    CHECK(d.severity == Severity::kFatal);
    CHECK(diags.has_fatal());
  }
  return out;
}

// Reads a header that must fail with `code`, and checks the message holds each of `parts`.
void ExpectBad(const std::string& path, const std::string& code, std::initializer_list<std::string> parts) {
  Outcome r = ReadHeader(path);
  CHECK_FALSE(r.ok);
  CHECK(r.count == 1);
  CHECK(r.code == code);
  CHECK(r.file == path);
  for (const std::string& part : parts) CHECK_MESSAGE(r.message.find(part) != std::string::npos, r.message, " lacks ", part);
}

std::string Tensor(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                   uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

TEST_CASE("safetensors: a valid header is read back in data order, with every dtype's size") {
  TempDir dir;
  std::string path = dir / "model.safetensors";
  // Written out of data order, as older writers did; 2x3 BF16 = 12 bytes, 6 F4 = 3 bytes, a scalar I64 = 8.
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}," + Tensor("a.weight", "F32", "[4]", 12, 28) + "," +
                       Tensor("b", "BF16", "[2,3]", 0, 12) + "," + Tensor("q", "F8_E4M3", "[5]", 28, 33) + "," +
                       Tensor("f4", "F4", "[2,3]", 33, 36) + "," + Tensor("scalar", "I64", "[]", 36, 44) + "," +
                       Tensor("empty", "U8", "[0]", 44, 44) + "}";
  WriteSafetensors(path, header, 44);
  SafetensorsHeader h;
  Outcome r = ReadHeader(path, &h);
  REQUIRE(r.ok);
  CHECK(r.count == 0);
  CHECK(h.header_bytes == header.size());
  CHECK(h.file_bytes == 8 + header.size() + 44);
  CHECK(h.metadata == std::map<std::string, std::string>{{"format", "pt"}});
  REQUIRE(h.tensors.size() == 6);
  CHECK(h.tensors[0].name == "b");
  CHECK(h.tensors[0].dtype == "BF16");
  CHECK(h.tensors[0].shape == std::vector<uint64_t>{2, 3});
  CHECK(h.tensors[0].begin == 0);
  CHECK(h.tensors[0].end == 12);
  CHECK(h.tensors[1].name == "a.weight");
  CHECK(h.tensors[1].shape == std::vector<uint64_t>{4});
  CHECK(h.tensors[2].name == "q");
  CHECK(h.tensors[2].dtype == "F8_E4M3");
  CHECK(h.tensors[3].name == "f4");
  CHECK(h.tensors[3].end == 36);
  CHECK(h.tensors[4].name == "scalar");
  CHECK(h.tensors[4].shape.empty());
  CHECK(h.tensors[5].name == "empty");
  CHECK(h.tensors[5].begin == 44);
}

TEST_CASE("safetensors: the dtype table has every dtype of the format") {
  CHECK(SafetensorsDtypeBits("BOOL") == 8);
  CHECK(SafetensorsDtypeBits("F4") == 4);
  CHECK(SafetensorsDtypeBits("F6_E2M3") == 6);
  CHECK(SafetensorsDtypeBits("F8_E5M2") == 8);
  CHECK(SafetensorsDtypeBits("F8_E8M0") == 8);
  CHECK(SafetensorsDtypeBits("F8_E4M3FNUZ") == 8);
  CHECK(SafetensorsDtypeBits("F8_E5M2FNUZ") == 8);
  CHECK(SafetensorsDtypeBits("U16") == 16);
  CHECK(SafetensorsDtypeBits("BF16") == 16);
  CHECK(SafetensorsDtypeBits("U32") == 32);
  CHECK(SafetensorsDtypeBits("C64") == 64);
  CHECK(SafetensorsDtypeBits("U64") == 64);
  CHECK(SafetensorsDtypeBits("bf16") == 0);
  CHECK(SafetensorsDtypeBits("F128") == 0);
}

TEST_CASE("safetensors: a Llama-3.1-405B-sized checkpoint is checked from its header alone") {
  TempDir dir;
  std::string path = dir / "llama.safetensors";
  const uint64_t h = 16384, kv = 1024, ffn = 53248, vocab = 128256;
  struct Spec {
    std::string name;
    uint64_t rows, cols;
  };
  std::string header = "{";
  uint64_t offset = 0;
  size_t count = 0;
  auto add = [&](const std::string& name, uint64_t rows, uint64_t cols) {
    std::string shape = cols ? "[" + std::to_string(rows) + "," + std::to_string(cols) + "]" : "[" + std::to_string(rows) + "]";
    uint64_t bytes = rows * (cols ? cols : 1) * 2;
    header += (count++ ? "," : "") + Tensor(name, "BF16", shape, offset, offset + bytes);
    offset += bytes;
  };
  add("model.embed_tokens.weight", vocab, h);
  for (int l = 0; l < 126; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    for (const Spec& s : {Spec{"self_attn.q_proj.weight", h, h}, Spec{"self_attn.k_proj.weight", kv, h},
                          Spec{"self_attn.v_proj.weight", kv, h}, Spec{"self_attn.o_proj.weight", h, h},
                          Spec{"mlp.gate_proj.weight", ffn, h}, Spec{"mlp.up_proj.weight", ffn, h},
                          Spec{"mlp.down_proj.weight", h, ffn}, Spec{"input_layernorm.weight", h, 0},
                          Spec{"post_attention_layernorm.weight", h, 0}})
      add(p + s.name, s.rows, s.cols);
  }
  add("model.norm.weight", h, 0);
  add("lm_head.weight", vocab, h);
  header += "}";
  CHECK(offset > 800'000'000'000);  // 405e9 BF16 parameters: about 811 GB
  WriteSafetensors(path, header, offset);
  auto start = std::chrono::steady_clock::now();
  SafetensorsHeader got;
  Outcome r = ReadHeader(path, &got);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(r.ok);
  CHECK(got.tensors.size() == 1 + 126 * 9 + 2);
  CHECK(got.file_bytes == 8 + header.size() + offset);
  CHECK(got.tensors.back().name == "lm_head.weight");
  CHECK(seconds < 2.0);
}

TEST_CASE("safetensors: the length prefix and the header's first byte") {
  TempDir dir;
  std::string path = dir / "x.safetensors";
  SUBCASE("fewer than 8 bytes") {
    test::WriteFile(path, "abc");
    ExpectBad(path, "bad-safetensors-header", {"'" + path + "'", "3 bytes", "8"});
  }
  SUBCASE("a header length over 100 MB") {
    WriteSafetensors(path, "{}", 0, 100'000'001);
    ExpectBad(path, "bad-safetensors-header", {"'" + path + "'", "100000001 bytes", "limit of 100000000"});
  }
  SUBCASE("a header length past the end of the file") {
    WriteSafetensors(path, "{}", 0, 1000);
    ExpectBad(path, "bad-safetensors-header", {"'" + path + "'", "1000 bytes", "only 2 bytes"});
  }
  SUBCASE("a header that does not start with '{'") {
    WriteSafetensors(path, "[1, 2]", 0);
    ExpectBad(path, "bad-safetensors-header", {"'" + path + "'", "'[' (0x5b)"});
  }
  SUBCASE("an empty header") {
    WriteSafetensors(path, "", 0);
    ExpectBad(path, "bad-safetensors-header", {"'" + path + "'", "the header is empty"});
  }
  SUBCASE("malformed JSON, at its line and column") {
    WriteSafetensors(path, "{\"a\": {\"dtype\": \"F32\",}}", 4);
    Outcome r = ReadHeader(path);
    CHECK_FALSE(r.ok);
    CHECK(r.code == "json-syntax");
    CHECK(r.file == path);
    CHECK(r.line == 1);
    CHECK(r.column == 23);
  }
}

TEST_CASE("safetensors: data offsets must tile the data exactly") {
  TempDir dir;
  std::string path = dir / "x.safetensors";
  std::string code = "bad-safetensors-header";
  SUBCASE("a hole between two tensors") {
    WriteSafetensors(path, "{" + Tensor("a", "F32", "[1]", 0, 4) + "," + Tensor("b", "F32", "[1]", 8, 12) + "}", 12);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'b'", "[8, 12]", "'a' ends at byte 4", "hole of 4 bytes"});
  }
  SUBCASE("two tensors overlapping") {
    WriteSafetensors(path, "{" + Tensor("a", "F32", "[2]", 0, 8) + "," + Tensor("b", "F32", "[1]", 4, 8) + "}", 8);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'b'", "[4, 8]", "'a' ends at byte 8", "overlap of 4 bytes"});
  }
  SUBCASE("the first tensor not at byte 0") {
    WriteSafetensors(path, "{" + Tensor("a", "F32", "[1]", 4, 8) + "}", 8);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'a'", "[4, 8]", "starts at byte 0", "hole of 4 bytes"});
  }
  SUBCASE("an end before the begin") {
    WriteSafetensors(path, "{" + Tensor("a", "F32", "[1]", 0, 4) + "," + Tensor("b", "F32", "[1]", 4, 0) + "}", 4);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'b'", "[4, 0]", "its end is before its begin"});
  }
  SUBCASE("end - begin is not numel x dtype size") {
    WriteSafetensors(path, "{" + Tensor("w", "F32", "[2,3]", 0, 20) + "}", 20);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w'", "[0, 20] (20 bytes)", "shape [2, 3] of F32 needs 24 bytes"});
  }
  SUBCASE("an odd number of F4 elements is not whole bytes") {
    WriteSafetensors(path, "{" + Tensor("w", "F4", "[3]", 0, 2) + "}", 2);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w'", "[3]", "3 elements of 4 bits"});
  }
  SUBCASE("numel x bits past 2^64") {
    WriteSafetensors(path, "{" + Tensor("w", "F32", "[4294967296,4294967296]", 0, 4) + "}", 4);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w'", "[4294967296, 4294967296]", "2^64"});
  }
  SUBCASE("the file longer than 8 + header + data") {
    std::string header = "{" + Tensor("a", "F32", "[1]", 0, 4) + "}";
    WriteSafetensors(path, header, 14);
    std::string n = std::to_string(header.size());
    ExpectBad(path, code, {"'" + path + "'", "8 + " + n + " (header) + 4 (tensor data) = " + std::to_string(12 + header.size()),
                           "it has " + std::to_string(22 + header.size())});
  }
}

TEST_CASE("safetensors: data reaching 2^64 bytes does not wrap the file-size sum") {
  TempDir dir;
  std::string path = dir / "x.safetensors";
  // 15 tensors of 2^60 bytes and one of 2^60 - 1: the data ends at 2^64 - 1.
  std::string header = "{";
  const uint64_t chunk = uint64_t{1} << 60;
  for (uint64_t i = 0; i < 16; ++i) {
    uint64_t bytes = i == 15 ? chunk - 1 : chunk;
    header += (i ? "," : "") + Tensor("t" + std::to_string(i), "U8", "[" + std::to_string(bytes) + "]", i * chunk, i * chunk + bytes);
  }
  header += "}";
  WriteSafetensors(path, header, 0);
  ExpectBad(path, "bad-safetensors-header", {"'" + path + "'", "+ 18446744073709551615 (tensor data) = over 2^64"});
}

TEST_CASE("safetensors: files written by the reference safetensors package") {
  // tests/data/safetensors, made by tools/make_safetensors_fixtures.py; the expected values are
  // the headers as Python's json module reads them.
  std::string dir = test::SourcePath("tests/data/safetensors/");
  SafetensorsHeader h;
  Outcome r = ReadHeader(dir + "mixed.safetensors", &h);
  REQUIRE(r.ok);
  CHECK(h.header_bytes == 912);
  CHECK(h.file_bytes == 1018);
  CHECK(h.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"note", "tpc fixture"}});
  std::vector<std::string> names, dtypes;
  for (const SafetensorsTensor& t : h.tensors) names.push_back(t.name), dtypes.push_back(t.dtype);
  CHECK(names == std::vector<std::string>{"step", "rope", "model.layers.0.mlp.down_proj.weight_scale",
                                          "model.embed_tokens.weight", "model.norm.weight", "ids",
                                          "model.layers.0.self_attn.q_proj.scale", "model.layers.0.mlp.down_proj.weight",
                                          "model.layers.0.mlp.up_proj.weight", "model.layers.0.self_attn.q_proj.weight",
                                          "mask"});
  CHECK(dtypes == std::vector<std::string>{"I64", "C64", "F32", "BF16", "F16", "U16", "F8_E8M0", "F8_E4M3", "F8_E5M2",
                                           "F4", "BOOL"});
  REQUIRE(h.tensors.size() == 11);
  CHECK(h.tensors[0].shape.empty());
  CHECK(h.tensors[3].shape == std::vector<uint64_t>{4, 3});
  CHECK(h.tensors[3].begin == 36);
  CHECK(h.tensors[3].end == 60);
  CHECK(h.tensors[9].shape == std::vector<uint64_t>{2, 6});
  CHECK(h.tensors[9].begin == 89);
  CHECK(h.tensors[9].end == 95);
  CHECK(h.tensors[10].end == 98);

  SourceManager sources;
  Diagnostics diags(sources);
  SafetensorsIndex index;
  REQUIRE(ReadSafetensorsIndex(dir + "model.safetensors.index.json", &index, diags));
  CHECK(index.weight_map == std::map<std::string, std::string>{{"a.weight", "model-00001-of-00002.safetensors"},
                                                               {"b.weight", "model-00001-of-00002.safetensors"},
                                                               {"c.weight", "model-00002-of-00002.safetensors"}});
  SafetensorsHeader shard;
  REQUIRE(ReadHeader(dir + "model-00001-of-00002.safetensors", &shard).ok);
  REQUIRE(shard.tensors.size() == 2);
  CHECK(shard.tensors[0].name == "b.weight");
  CHECK(shard.tensors[1].name == "a.weight");
  CHECK(shard.tensors[1].begin == 8);
  REQUIRE(ReadHeader(dir + "model-00002-of-00002.safetensors", &shard).ok);
  REQUIRE(shard.tensors.size() == 1);
  CHECK(shard.tensors[0].dtype == "I8");
}

TEST_CASE("safetensors: the header's hash covers the length and the header, not the data") {
  // Expected values: `head -c $((8 + N)) FILE | sha256sum`, run once by hand on the fixtures.
  std::string dir = test::SourcePath("tests/data/safetensors/");
  SafetensorsHeader h;
  REQUIRE(ReadHeader(dir + "mixed.safetensors", &h).ok);
  CHECK(h.header_sha256 == "7ef946fd5fcc898f6bba28eae93fb697d82ef12b51029be2f368257527885365");
  REQUIRE(ReadHeader(dir + "model-00002-of-00002.safetensors", &h).ok);
  CHECK(h.header_sha256 == "a5c94eb0f480e1731093246ac63ea20de5dadf29b41c733861ed22617eff9310");
  // The same bytes checked in memory hash the same; different data after the header does not matter.
  std::string bytes = test::ReadFile(dir + "model-00002-of-00002.safetensors");
  REQUIRE(bytes.size() == 108);
  bytes[107] ^= 0x55;
  SourceManager sources;
  Diagnostics diags(sources);
  SafetensorsHeader mem;
  REQUIRE(CheckSafetensorsBytes("mem.safetensors", bytes, &mem, diags));
  CHECK(mem.header_sha256 == "a5c94eb0f480e1731093246ac63ea20de5dadf29b41c733861ed22617eff9310");
  // A header that fails leaves no hash behind.
  TempDir tmp;
  WriteSafetensors(tmp / "bad.safetensors", "{" + Tensor("w", "F128", "[1]", 0, 16) + "}", 16);
  SafetensorsHeader bad;
  CHECK_FALSE(ReadHeader(tmp / "bad.safetensors", &bad).ok);
  CHECK(bad.header_sha256.empty());
}

TEST_CASE("safetensors: names, dtypes, shapes and metadata") {
  TempDir dir;
  std::string path = dir / "x.safetensors";
  std::string code = "bad-safetensors-header";
  SUBCASE("a tensor name given twice") {
    WriteSafetensors(path, "{" + Tensor("a", "F32", "[1]", 0, 4) + "," + Tensor("a", "F32", "[1]", 4, 8) + "}", 8);
    ExpectBad(path, code, {"'" + path + "'", "key 'a' twice", "top-level object"});
  }
  SUBCASE("a field given twice in one tensor") {
    WriteSafetensors(path, "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    ExpectBad(path, code, {"'" + path + "'", "key 'dtype' twice", "'/a'"});
  }
  SUBCASE("an unknown dtype") {
    WriteSafetensors(path, "{" + Tensor("w", "F128", "[1]", 0, 16) + "}", 16);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w'", "'F128'", "F8_E4M3", "BF16", "F4"});
  }
  SUBCASE("a __metadata__ value that is not a string") {
    WriteSafetensors(path, "{\"__metadata__\":{\"format\":\"pt\",\"step\":1000}}", 0);
    ExpectBad(path, code, {"'" + path + "'", "'__metadata__' entry 'step'", "is 1000", "expected a string"});
  }
  SUBCASE("a negative dimension") {
    WriteSafetensors(path, "{" + Tensor("w", "F32", "[2,-1]", 0, 4) + "}", 4);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w' shape element 1", "is -1", "non-negative integer"});
  }
  SUBCASE("a dimension that is not an integer") {
    WriteSafetensors(path, "{" + Tensor("w", "F32", "[1.5]", 0, 4) + "}", 4);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w' shape element 0", "is 1.5"});
  }
  SUBCASE("a tensor without data_offsets") {
    WriteSafetensors(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w'", "has no 'data_offsets'"});
  }
  SUBCASE("data_offsets with three numbers") {
    WriteSafetensors(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4);
    ExpectBad(path, code, {"'" + path + "'", "tensor 'w' field 'data_offsets'", "[0,4,8]"});
  }
}

TEST_CASE("safetensors: the index's weight_map and its shards") {
  TempDir dir;
  std::string index = dir / "model.safetensors.index.json";
  WriteSafetensors(dir / "model-00001-of-00002.safetensors", "{}", 0);
  SourceManager sources;
  Diagnostics diags(sources);
  SafetensorsIndex got;
  SUBCASE("every shard present") {
    test::WriteFile(index, R"({"metadata": {"total_size": 8}, "weight_map": {
      "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00001-of-00002.safetensors"}})");
    REQUIRE(ReadSafetensorsIndex(index, &got, diags));
    CHECK(diags.all().empty());
    CHECK(got.weight_map == std::map<std::string, std::string>{{"a.weight", "model-00001-of-00002.safetensors"},
                                                                {"b.weight", "model-00001-of-00002.safetensors"}});
  }
  SUBCASE("a tensor mapped to a missing shard") {
    test::WriteFile(index, R"({"weight_map": {
      "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}})");
    CHECK_FALSE(ReadSafetensorsIndex(index, &got, diags));
    REQUIRE(diags.all().size() == 1);
    const Diagnostic& d = diags.all()[0];
    CHECK(d.code == "missing-safetensors-shard");
    CHECK(d.severity == Severity::kFatal);
    CHECK(sources.path(d.loc.file) == index);
    CHECK(d.loc.line == 2);
    for (std::string part : {"'" + index + "'", std::string("tensor 'b.weight'"), std::string("'model-00002-of-00002.safetensors'"),
                             std::string("No such file")})
      CHECK_MESSAGE(d.message.find(part) != std::string::npos, d.message);
  }
  SUBCASE("a shard outside the index's directory") {
    test::WriteFile(index, R"({"weight_map": {"a.weight": "../model-00001-of-00002.safetensors"}})");
    CHECK_FALSE(ReadSafetensorsIndex(index, &got, diags));
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].code == "bad-safetensors-index");
    CHECK(diags.all()[0].message.find("tensor 'a.weight'") != std::string::npos);
  }
  SUBCASE("no weight_map") {
    test::WriteFile(index, R"({"metadata": {}})");
    CHECK_FALSE(ReadSafetensorsIndex(index, &got, diags));
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].code == "bad-safetensors-index");
    CHECK(diags.all()[0].message.find("has no 'weight_map'") != std::string::npos);
  }
  SUBCASE("a tensor mapped twice") {
    test::WriteFile(index, R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "a": "x.safetensors"}})");
    CHECK_FALSE(ReadSafetensorsIndex(index, &got, diags));
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].code == "bad-safetensors-index");
    CHECK(diags.all()[0].message.find("key 'a' twice in the object at '/weight_map'") != std::string::npos);
  }
}

}  // namespace
}  // namespace tpc
