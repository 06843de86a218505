// What program v2's reader refuses: each new field checked, the JSON pointer of the bad field in
// the message. The broken programs are edits of the hand-written checkpoint fixture (parameters:
// 0 embed, 1-4 two experts owned by one rank each and their scales, 5-6 a sharded FP8 weight and
// its scale, 7 an extra, 8 a tied lm_head) or of a compiled module-tree one.
#include <doctest/doctest.h>

#include <string>

#include "ir/program_fixture.h"

namespace tpc {
namespace {

const char* const kCheckpoint = "checkpoint-moe-fp8-tp2.json";

// The message a broken copy of `fixture` gets, with its first `from` replaced by `to`.
std::string Broken(const char* fixture, const std::string& from, const std::string& to) {
  return Rejection("p.json", Edit(Slurp(Fixture(fixture)), from, to));
}

bool Has(const std::string& message, const std::string& part) {
  CAPTURE(message);
  return message.find(part) != std::string::npos;
}

TEST_SUITE("program json v2 rejections") {
  TEST_CASE("version 1 is refused as a program of an older tpc, at /version") {
    std::string text =
        Edit(Slurp(Fixture("llama-3.2-1b-2layers-tp2.json")), "\"version\":2,", "\"version\":1,");
    CHECK(Rejection("p.json", text) ==
          "p.json:1:" + ColumnOf(text, "\"version\":") +
              ": [bad-program-field] program field '/version' is 1: a program from an older tpc "
              "(before "
              "checkpoint-aware programs); compile it again with this tpc");
  }

  TEST_CASE(
      "owners: each rank of the program once, in increasing order, and only owners hold slices") {
    CHECK(Broken(kCheckpoint, "\"owners\": [1]}", "\"owners\": [2]}") ==
          "p.json:46:17: [bad-program-field] program field '/parameters/3/owners/0' is 2, expected "
          "an integer in [0, 1]");
    CHECK(Has(Broken(kCheckpoint, "\"owners\": [0]}", "\"owners\": [0, 0]}"),
              "program field '/parameters/1/owners/1' is 0, but owners lists each rank once, in "
              "increasing order"));
    CHECK(Has(Broken(kCheckpoint, "\"owners\": [1]}", "\"owners\": [1, 0]}"),
              "program field '/parameters/3/owners/1' is 0, but owners lists each rank once, in "
              "increasing order"));
    CHECK(Has(
        Broken(kCheckpoint, "\"owners\": [0]}", "\"owners\": []}"),
        "program field '/parameters/1/owners' is an array, expected a non-empty array of ranks"));
    CHECK(Has(Broken(kCheckpoint, "\"local_shape\": [128, 128],",
                     "\"local_shape\": [128, 128], \"owners\": [0],"),
              "program field '/parameters/5/slices/1/0' gives rank 1 rows, but the rank is not in "
              "owners, so it "
              "holds nothing"));
  }

  TEST_CASE("a scale has scales and a block of two positive sizes; no other kind has either") {
    CHECK(
        Has(Broken(kCheckpoint, "\"block\": [128, 128],", ""),
            "program field '/parameters/2/block' is missing, and a kind 'scale' entry needs one"));
    CHECK(Has(Broken(kCheckpoint, "\"block\": [128, 128],", "\"block\": [128, 0],"),
              "program field '/parameters/2/block/1' is 0, expected an integer in [1, "));
    CHECK(Has(Broken(kCheckpoint, "\"block\": [128, 128],", "\"block\": [128],"),
              "program field '/parameters/2/block' is an array, expected the quantisation block "
              "[rows, cols]"));
    CHECK(Has(Broken(kCheckpoint, "\"expert\": 0, \"module\"",
                     "\"expert\": 0, \"block\": [128, 128], \"module\""),
              "program field '/parameters/1/block' is given for a kind 'param' entry; only kind "
              "'scale' has one"));
    CHECK(Has(Broken(kCheckpoint, "\"scales\": \"model.layers.0.self_attn.o_proj.weight\"",
                     "\"scales\": \"model.layers.0.self_attn.o_proj.bias\""),
              "program field '/parameters/6/scales' is 'model.layers.0.self_attn.o_proj.bias', "
              "which names no entry"));
  }

  TEST_CASE("what belongs to an extra alone") {
    CHECK(Has(Broken(kCheckpoint, "\"what\": \"vision tower\",", ""),
              "program field '/parameters/7/what' is missing, and a kind 'extra' entry needs one"));
    CHECK(Has(Broken(kCheckpoint, "\"expert\": 0, \"module\"",
                     "\"expert\": 0, \"what\": \"router\", \"module\""),
              "program field '/parameters/1/what' is given for a kind 'param' entry; only kind "
              "'extra' has one"));
  }

  TEST_CASE("an unknown kind or dtype names the entry's field") {
    CHECK(Has(Broken(kCheckpoint, "\"kind\": \"extra\"", "\"kind\": \"buffer\""),
              "program field '/parameters/7/kind' is 'buffer', expected one of param, scale, "
              "extra, lora"));
    CHECK(Has(Broken(kCheckpoint, "\"dtype\": \"F8_E4M3\"", "\"dtype\": \"float8_e4m3fn\""),
              "program field '/parameters/1/dtype' is 'float8_e4m3fn', not a safetensors dtype"));
  }

  TEST_CASE(
      "inputs: a sha256 is 64 lowercase hex digits or null, and the checkpoint matches names") {
    CHECK(Has(Broken(kCheckpoint, "\"sha256\": \"5f70bf18a0", "\"sha256\": \"5F70BF18A0"),
              "program field '/inputs/config/sha256' is '5F70BF18A0"));
    CHECK(Has(Broken(kCheckpoint, "\"sha256\": \"5f70bf18a0", "\"sha256\": \"5F70BF18A0"),
              "expected a SHA-256 as 64 lowercase hex digits, or null"));
    CHECK(Has(Broken(kCheckpoint, "\"header_sha256\": \"9f86d081", "\"header_sha256\": \"9f86d08"),
              "program field '/inputs/checkpoint/files/0/header_sha256' is '9f86d08"));
    CHECK(Has(Broken(kCheckpoint, "\"names\": \"checkpoint\"", "\"names\": \"module-tree\""),
              "program field '/inputs/checkpoint' is an object, but names is 'module-tree'"));
    CHECK(Has(Broken(kCheckpoint, "\"names\": \"checkpoint\"", "\"names\": \"stored\""),
              "program field '/names' is 'stored', expected one of module-tree, checkpoint"));
    CHECK(Has(Broken(kCheckpoint, "\"bundled\": true", "\"bundled\": 1"),
              "program field '/inputs/plan/bundled' is 1, expected true or false"));
  }

  TEST_CASE(
      "files: every checkpoint entry reading its own tensor has one; a module-tree program none") {
    CHECK(
        Has(Broken(kCheckpoint, "\"file\": \"model-00002-of-00002.safetensors\"", "\"file\": null"),
            "program field '/parameters/3/file' is null, but a checkpoint entry needs the file "
            "holding its tensor"));
    CHECK(Has(Broken(kCheckpoint,
                     "\"source\": \"model.embed_tokens.weight\",\n     \"kind\": \"param\", "
                     "\"tree\": \"lm_head",
                     "\"source\": \"model.tok_embeddings.weight\",\n     \"kind\": \"param\", "
                     "\"tree\": \"lm_head"),
              "program field '/parameters/8/source' is 'model.tok_embeddings.weight', which names "
              "no entry with a file"));
    CHECK(Has(
        Broken("llama-3.2-1b-2layers-tp2.json", "\"file\":null", "\"file\":\"model.safetensors\""),
        "program field '/parameters/0/file' is 'model.safetensors', but a module-tree program "
        "names no files"));
    CHECK(Has(Broken(kCheckpoint, "\"name\": \"lm_head.weight\"",
                     "\"name\": \"model.embed_tokens.weight\""),
              "program field '/parameters/8/name' is 'model.embed_tokens.weight', already the name "
              "of /parameters/0"));
  }
}

}  // namespace
}  // namespace tpc
