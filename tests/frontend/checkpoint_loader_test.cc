// Checkpoint directories written into a TempDir (headers byte by byte, tensor data sparse via
// truncate) or read from tests/data/safetensors, which the reference safetensors package wrote.
#include "frontend/checkpoint_loader.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace tpc {
namespace {

using test::TempDir;

struct Spec {
  std::string name, dtype;
  std::vector<uint64_t> shape;
};

uint64_t ElementBytes(const std::string& dtype) {
  static const std::map<std::string, uint64_t> kBytes = {
      {"BF16", 2}, {"F32", 4}, {"I8", 1}, {"F8_E4M3", 1}};
  return kBytes.at(dtype);
}

// Writes a safetensors file holding `specs` in order; its data is a hole. Returns the file's size.
uint64_t WriteShard(const std::string& path, const std::vector<Spec>& specs) {
  std::string header = "{";
  uint64_t offset = 0;
  for (const Spec& s : specs) {
    uint64_t bytes = ElementBytes(s.dtype);
    std::string shape;
    for (uint64_t d : s.shape) bytes *= d, shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += (header.size() > 1 ? "," : "") +
              ("\"" + s.name + "\":{\"dtype\":\"" + s.dtype + "\",\"shape\":[" + shape +
               "],\"data_offsets\":[" + std::to_string(offset) + "," +
               std::to_string(offset + bytes) + "]}");
    offset += bytes;
  }
  header += "}";
  std::string prefix;
  for (int i = 0; i < 8; ++i) prefix += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  test::WriteFile(path, prefix + header);
  uint64_t size = 8 + header.size() + offset;
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(size)) == 0);
  return size;
}

void WriteIndex(const std::string& dir, const std::map<std::string, std::string>& weight_map) {
  std::string text = "{\n  \"metadata\": {},\n  \"weight_map\": {";
  for (const auto& [tensor, shard] : weight_map)
    text += (text.back() == '{' ? "\n    \"" : ",\n    \"") + tensor + "\": \"" + shard + "\"";
  test::WriteFile(dir + "/model.safetensors.index.json", text + "\n  }\n}\n");
}

struct Load {
  std::optional<Checkpoint> ck;
  std::vector<std::string> codes, messages;
  std::string file;  // where the first diagnostic points
  int line = 0;
};

Load Run(const std::string& dir) {
  SourceManager sources;
  Diagnostics diags(sources);
  Load out;
  out.ck = LoadCheckpoint(dir, diags);
  for (const Diagnostic& d : diags.all())
    out.codes.push_back(d.code), out.messages.push_back(d.message);
  if (!diags.all().empty()) {
    out.file = sources.path(diags.all()[0].loc.file);
    out.line = diags.all()[0].loc.line;
  }
  CHECK(out.ck.has_value() == diags.all().empty());
  return out;
}

std::vector<std::string> Names(const Checkpoint& ck) {
  std::vector<std::string> names;
  for (const StoredTensor& t : ck.tensors) names.push_back(t.name);
  return names;
}

TEST_CASE("checkpoint: a single model.safetensors, tensors sorted by name") {
  TempDir dir;
  // The reference package's file, renamed; the expected values are its header as Python reads it
  // and `head -c 920 mixed.safetensors | sha256sum`.
  test::WriteFile(dir / "model.safetensors",
                  test::ReadFile(test::SourcePath("tests/data/safetensors/mixed.safetensors")));
  Load r = Run(dir.path);
  REQUIRE(r.ck);
  const Checkpoint& ck = *r.ck;
  CHECK(ck.dir == dir.path);
  CHECK(ck.index_path.empty());
  CHECK(ck.index_sha256.empty());
  REQUIRE(ck.files.size() == 1);
  CHECK(ck.files[0].name == "model.safetensors");
  CHECK(ck.files[0].path == dir / "model.safetensors");
  CHECK(ck.files[0].bytes == 1018);
  CHECK(ck.files[0].header_sha256 ==
        "7ef946fd5fcc898f6bba28eae93fb697d82ef12b51029be2f368257527885365");
  CHECK(Names(ck) ==
        std::vector<std::string>{
            "ids", "mask", "model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight",
            "model.layers.0.mlp.down_proj.weight_scale", "model.layers.0.mlp.up_proj.weight",
            "model.layers.0.self_attn.q_proj.scale", "model.layers.0.self_attn.q_proj.weight",
            "model.norm.weight", "rope", "step"});
  int q = ck.Find("model.layers.0.self_attn.q_proj.weight");
  REQUIRE(q == 7);
  CHECK(ck.tensors[q].dtype == "F4");
  CHECK(ck.tensors[q].shape == std::vector<int64_t>{2, 6});
  CHECK(ck.tensors[q].file == 0);
  CHECK(ck.tensors[ck.Find("step")].shape.empty());
  CHECK(ck.tensors[ck.Find("model.embed_tokens.weight")].shape == std::vector<int64_t>{4, 3});
  CHECK(ck.Find("lm_head.weight") == -1);
}

TEST_CASE("checkpoint: an index and two shards, each header read and hashed") {
  // tests/data/safetensors: the reference package's shards and index, beside a stray
  // mixed.safetensors the index does not name (transformers ignores it, and so does tpc).
  std::string dir = test::SourcePath("tests/data/safetensors");
  Load r = Run(dir);
  REQUIRE(r.ck);
  const Checkpoint& ck = *r.ck;
  CHECK(ck.index_path == dir + "/model.safetensors.index.json");
  CHECK(ck.index_sha256 ==
        "8679e60d4760a3004f3cd15262b56d58822f8cbf2fb9ad18fb55c1606bdb34ab");  // sha256sum
  CHECK(ck.index_bytes == 223);
  REQUIRE(ck.files.size() == 2);
  CHECK(ck.files[0].name == "model-00001-of-00002.safetensors");
  CHECK(ck.files[0].path == dir + "/model-00001-of-00002.safetensors");
  CHECK(ck.files[0].bytes == 184);
  CHECK(ck.files[0].header_sha256 ==
        "99f5775092ad05c2351311935e728967b026976a53b5542e5eb07b082e1070ed");
  CHECK(ck.files[1].name == "model-00002-of-00002.safetensors");
  CHECK(ck.files[1].bytes == 108);
  CHECK(ck.files[1].header_sha256 ==
        "a5c94eb0f480e1731093246ac63ea20de5dadf29b41c733861ed22617eff9310");
  REQUIRE(Names(ck) == std::vector<std::string>{"a.weight", "b.weight", "c.weight"});
  CHECK(ck.tensors[0].file == 0);
  CHECK(ck.tensors[0].dtype == "BF16");
  CHECK(ck.tensors[0].shape == std::vector<int64_t>{2, 2});
  CHECK(ck.tensors[1].file == 0);
  CHECK(ck.tensors[1].dtype == "F32");
  CHECK(ck.tensors[2].file == 1);
  CHECK(ck.tensors[2].dtype == "I8");
  CHECK(ck.tensors[2].shape == std::vector<int64_t>{4});
}

TEST_CASE("checkpoint: the index and the shards' headers must agree") {
  TempDir dir;
  std::string index = dir / "model.safetensors.index.json";
  std::string one = dir / "model-00001-of-00002.safetensors",
              two = dir / "model-00002-of-00002.safetensors";
  WriteShard(one, {{"a", "BF16", {2, 2}}, {"b", "F32", {2}}});
  SUBCASE("the index names a tensor its shard lacks") {
    WriteShard(two, {{"c", "I8", {4}}});
    WriteIndex(dir.path, {{"a", "model-00001-of-00002.safetensors"},
                          {"b", "model-00001-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"},
                          {"d", "model-00002-of-00002.safetensors"}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"bad-safetensors-index"});
    CHECK(r.messages[0] ==
          "in '" + index +
              "', tensor 'd' is mapped to 'model-00002-of-00002.safetensors', but the header of '" +
              two + "' has no tensor of that name");
    CHECK(r.file == index);
    CHECK(r.line == 7);  // the weight_map entry of 'd'
  }
  SUBCASE("the index maps a tensor to the wrong shard") {
    WriteShard(two, {{"c", "I8", {4}}});
    WriteIndex(dir.path, {{"a", "model-00001-of-00002.safetensors"},
                          {"b", "model-00002-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"bad-safetensors-index"});
    CHECK(r.messages[0] ==
          "in '" + index +
              "', tensor 'b' is mapped to 'model-00002-of-00002.safetensors', but the header of '" +
              two + "' has no tensor of that name; it is stored in '" + one + "'");
    CHECK(r.line == 5);
  }
  SUBCASE("a tensor stored in two shards") {
    WriteShard(two, {{"b", "F32", {2}}, {"c", "I8", {4}}});
    WriteIndex(dir.path, {{"a", "model-00001-of-00002.safetensors"},
                          {"b", "model-00002-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"bad-safetensors-index"});
    CHECK(r.messages[0] == "in '" + index + "', tensor 'b' is stored twice, in '" + one +
                               "' and in '" + two +
                               "' (the index maps it to 'model-00002-of-00002.safetensors'); a "
                               "checkpoint stores each tensor once");
    CHECK(r.file == index);
    CHECK(r.line == 5);
  }
  SUBCASE("a shard's tensor the index does not list") {
    WriteShard(two, {{"c", "I8", {4}}, {"e", "I8", {1}}});
    WriteIndex(dir.path, {{"a", "model-00001-of-00002.safetensors"},
                          {"b", "model-00001-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"bad-safetensors-index"});
    CHECK(r.messages[0] ==
          "'" + two + "' holds tensor 'e', but the weight_map of '" + index +
              "' does not list it; the index must map every stored tensor to its file");
    CHECK(r.file == index);
  }
  SUBCASE("a shard with a bad header is reported as such") {
    test::WriteFile(two, std::string("\x02\0\0\0\0\0\0\0[]", 10));
    WriteIndex(dir.path, {{"a", "model-00001-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"bad-safetensors-header"});
    CHECK(r.file == two);
  }
}

TEST_CASE("checkpoint: without an index, one file is the checkpoint and several are an error") {
  TempDir dir;
  SUBCASE("several files") {
    for (const char* name : {"b.safetensors", "a.safetensors", "c.safetensors"})
      WriteShard(dir / name, {{"w", "F32", {1}}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"checkpoint-without-index"});
    CHECK(r.messages[0] ==
          "'" + dir.path +
              "' has 3 .safetensors files ('a.safetensors', 'b.safetensors', ...) and no "
              "model.safetensors.index.json; transformers loads several files only through that "
              "index, so "
              "add it or keep one file");
    CHECK(r.file == dir.path);
  }
  SUBCASE("two files") {
    WriteShard(dir / "model-00002-of-00002.safetensors", {{"w", "F32", {1}}});
    WriteShard(dir / "model-00001-of-00002.safetensors", {{"v", "F32", {1}}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"checkpoint-without-index"});
    CHECK(r.messages[0].find("has 2 .safetensors files ('model-00001-of-00002.safetensors' and "
                             "'model-00002-of-00002.safetensors')") != std::string::npos);
  }
  SUBCASE("model.safetensors beside others is the checkpoint alone") {
    uint64_t size = WriteShard(dir / "model.safetensors", {{"w", "BF16", {3, 5}}});
    WriteShard(dir / "adapter.safetensors", {{"w", "F32", {1}}});
    Load r = Run(dir.path);
    REQUIRE(r.ck);
    REQUIRE(r.ck->files.size() == 1);
    CHECK(r.ck->files[0].name == "model.safetensors");
    CHECK(r.ck->files[0].bytes == static_cast<int64_t>(size));
    REQUIRE(r.ck->tensors.size() == 1);
    CHECK(r.ck->tensors[0].shape == std::vector<int64_t>{3, 5});
  }
  SUBCASE("one file of another name is used as it is") {
    WriteShard(dir / "consolidated.safetensors", {{"w", "F8_E4M3", {7}}});
    Load r = Run(dir.path);
    REQUIRE(r.ck);
    REQUIRE(r.ck->files.size() == 1);
    CHECK(r.ck->files[0].name == "consolidated.safetensors");
    CHECK(r.ck->tensors[0].dtype == "F8_E4M3");
  }
  SUBCASE("a dimension over tpc's limit, valid only beside a zero one") {
    WriteShard(dir / "model.safetensors", {{"w", "F32", {0, uint64_t{1} << 41}}});
    Load r = Run(dir.path);
    REQUIRE(r.codes == std::vector<std::string>{"bad-safetensors-header"});
    CHECK(r.messages[0] == "in '" + (dir / "model.safetensors") +
                               "', tensor 'w' shape element 1 is 2199023255552, "
                               "over tpc's limit of 1099511627776");
  }
}

TEST_CASE("checkpoint: a directory has weights when it holds an index or a .safetensors file") {
  TempDir dir;
  CHECK_FALSE(HasWeights(dir.path));
  CHECK_FALSE(HasWeights(dir / "missing"));
  test::WriteFile(dir / "config.json", "{}");
  test::WriteFile(dir / "safetensors", "");
  CHECK_FALSE(HasWeights(dir.path));
  CHECK_FALSE(HasWeights(dir / "config.json"));
  test::WriteFile(dir / "x.safetensors", "");
  CHECK(HasWeights(dir.path));
  TempDir sharded;
  WriteIndex(sharded.path, {});
  CHECK(HasWeights(sharded.path));
}

TEST_CASE(
    "checkpoint: an 800 GB sharded checkpoint loads from its headers in well under a second") {
  // Llama-3.1-405B's real shapes in two shards of sparse files: 811 GB of data that costs no disk.
  TempDir dir;
  const uint64_t h = 16384, kv = 1024, ffn = 53248, vocab = 128256;
  std::vector<Spec> shards[2];
  shards[0].push_back({"model.embed_tokens.weight", "BF16", {vocab, h}});
  for (int l = 0; l < 126; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<Spec>& s = shards[l < 63 ? 0 : 1];
    for (const Spec& t : {Spec{"self_attn.q_proj.weight", "BF16", {h, h}},
                          Spec{"self_attn.k_proj.weight", "BF16", {kv, h}},
                          Spec{"self_attn.v_proj.weight", "BF16", {kv, h}},
                          Spec{"self_attn.o_proj.weight", "BF16", {h, h}},
                          Spec{"mlp.gate_proj.weight", "BF16", {ffn, h}},
                          Spec{"mlp.up_proj.weight", "BF16", {ffn, h}},
                          Spec{"mlp.down_proj.weight", "BF16", {h, ffn}},
                          Spec{"input_layernorm.weight", "BF16", {h}},
                          Spec{"post_attention_layernorm.weight", "BF16", {h}}})
      s.push_back({p + t.name, t.dtype, t.shape});
  }
  shards[1].push_back({"model.norm.weight", "BF16", {h}});
  shards[1].push_back({"lm_head.weight", "BF16", {vocab, h}});
  std::map<std::string, std::string> weight_map;
  uint64_t sizes[2];
  for (int i = 0; i < 2; ++i) {
    std::string name = "model-0000" + std::to_string(i + 1) + "-of-00002.safetensors";
    sizes[i] = WriteShard(dir / name, shards[i]);
    for (const Spec& s : shards[i]) weight_map[s.name] = name;
  }
  CHECK(sizes[0] + sizes[1] > 800'000'000'000);
  WriteIndex(dir.path, weight_map);
  auto start = std::chrono::steady_clock::now();
  Load r = Run(dir.path);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(r.ck);
  CHECK(seconds < 1.0);
  const Checkpoint& ck = *r.ck;
  REQUIRE(ck.files.size() == 2);
  CHECK(ck.files[0].bytes == static_cast<int64_t>(sizes[0]));
  CHECK(ck.files[1].bytes == static_cast<int64_t>(sizes[1]));
  CHECK(ck.tensors.size() == 1 + 126 * 9 + 2);
  int gate = ck.Find("model.layers.100.mlp.gate_proj.weight");
  REQUIRE(gate >= 0);
  CHECK(ck.tensors[gate].shape == std::vector<int64_t>{53248, 16384});
  CHECK(ck.tensors[gate].file == 1);
  int embed = ck.Find("model.embed_tokens.weight");
  REQUIRE(embed >= 0);
  CHECK(ck.tensors[embed].shape == std::vector<int64_t>{128256, 16384});
  CHECK(ck.tensors[embed].file == 0);
  CHECK(ck.tensors[ck.Find("model.layers.0.self_attn.k_proj.weight")].shape ==
        std::vector<int64_t>{1024, 16384});
}

}  // namespace
}  // namespace tpc
