// The inputs block a compile records: hashes checked against sha256sum's output and FIPS 180-2.
#include <doctest/doctest.h>

#include <string>

#include "driver/load_inputs.h"
#include "test_util.h"

namespace tpc {
namespace {

// The version CMakeLists.txt's project() line declares, read from the file itself.
std::string ProjectVersion() {
  std::string cmake = test::ReadFile(test::SourcePath("CMakeLists.txt"));
  std::string key = "project(tpc VERSION ";
  size_t at = cmake.find(key);
  REQUIRE(at != std::string::npos);
  at += key.size();
  return cmake.substr(at, cmake.find(' ', at) - at);
}

TEST_CASE("inputs: a config and a plan file are hashed whole, with tpc's version") {
  std::string path = test::SourcePath("tests/data/configs/meta-llama__Llama-3.1-8B/config.json");
  std::string config = test::ReadFile(path);
  ProgramInputs in = DescribeInputs({path, config}, {"plan.yaml", "abc"}, false, nullptr);
  CHECK(in.tpc_version == ProjectVersion());
  CHECK_FALSE(in.tpc_version.empty());
  CHECK(in.config.path == path);
  // `sha256sum tests/data/configs/meta-llama__Llama-3.1-8B/config.json`, run once by hand.
  CHECK(in.config.sha256 == "b99f9dfbbd0911e699c8a7e39378d80cc7ab59a05f596b4daf7a94865a0e8a46");
  CHECK(in.config.bytes == 573);
  CHECK(in.plan.path == "plan.yaml");
  CHECK(in.plan.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(in.plan.bytes == 3);
  CHECK_FALSE(in.bundled_plan);
  CHECK(in.checkpoint_dir.empty());
  CHECK(in.index.path.empty());
  CHECK(in.shards.empty());
}

TEST_CASE("inputs: a bundled plan by name and text; the seed's own choice has no plan file") {
  ProgramInputs bundled = DescribeInputs({"config.json", "{}"}, {"hf/llama", ""}, true, nullptr);
  CHECK(bundled.bundled_plan);
  CHECK(bundled.plan.path == "hf/llama");
  CHECK(bundled.plan.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(bundled.plan.bytes == 0);
  ProgramInputs seed = DescribeInputs({"config.json", "{}"}, {"", ""}, false, nullptr);
  CHECK_FALSE(seed.bundled_plan);
  CHECK(seed.plan.path.empty());
  CHECK(seed.plan.sha256.empty());
  CHECK(seed.plan.bytes == 0);
}

TEST_CASE("inputs: a checkpoint gives its directory, its index and each file's header hash") {
  Checkpoint ck;
  ck.dir = "ck";
  ck.index_path = "ck/model.safetensors.index.json";
  ck.index_sha256 = "11";
  ck.index_bytes = 223;
  ck.files = {
      {"model-00001-of-00002.safetensors", "ck/model-00001-of-00002.safetensors", 184, "22"},
      {"model-00002-of-00002.safetensors", "ck/model-00002-of-00002.safetensors", 108, "33"}};
  ProgramInputs in = DescribeInputs({"ck/config.json", "{}"}, {"", ""}, false, &ck);
  CHECK(in.checkpoint_dir == "ck");
  CHECK(in.index.path == "ck/model.safetensors.index.json");
  CHECK(in.index.sha256 == "11");
  CHECK(in.index.bytes == 223);
  REQUIRE(in.shards.size() == 2);
  CHECK(in.shards[0].path == "ck/model-00001-of-00002.safetensors");
  CHECK(in.shards[0].sha256 == "22");
  CHECK(in.shards[0].bytes == 184);
  CHECK(in.shards[1].path == "ck/model-00002-of-00002.safetensors");
  CHECK(in.shards[1].sha256 == "33");
  CHECK(in.shards[1].bytes == 108);

  Checkpoint single;
  single.dir = "one";
  single.files = {{"model.safetensors", "one/model.safetensors", 1018, "44"}};
  ProgramInputs one = DescribeInputs({"one/config.json", "{}"}, {"", ""}, false, &single);
  CHECK(one.checkpoint_dir == "one");
  CHECK(one.index.path.empty());
  CHECK(one.index.sha256.empty());
  REQUIRE(one.shards.size() == 1);
  CHECK(one.shards[0].sha256 == "44");
}

}  // namespace
}  // namespace tpc
