// program.json read back through tpc_ir alone: this binary links tpc_ir and tpc_support, not the
// compiler, as `tpc-run` will. The fixtures in tests/data/programs were written by `tpc compile`
// (the commands are in tests/data/programs/README.md); the broken variants are edits of them.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "ir/program_fixture.h"
#include "ir/program_json.h"
#include "support/diagnostics.h"

namespace tpc {
namespace {

const char* const kLlama = "llama-3.2-1b-2layers-tp2.json";
const char* const kLlamaKv = "llama-3.2-1b-2layers-tp16-kv-replication-sp.json";
const char* const kMixtral = "mixtral-8x7b-1layer-tp2.json";

TEST_SUITE("program json") {
  TEST_CASE("every fixture reads back and is written again byte for byte") {
    for (const char* name : {kLlama, kLlamaKv, kMixtral}) {
      CAPTURE(name);
      SourceManager sources;
      Diagnostics diags(sources);
      std::optional<Program> p = ReadProgramJson(Fixture(name), diags);
      REQUIRE(p.has_value());
      CHECK(diags.all().empty());
      CHECK(EmitProgramJson(*p) == Slurp(Fixture(name)));
    }
  }

  TEST_CASE("the reader keeps what the runtime needs") {
    SourceManager sources;
    Diagnostics diags(sources);
    std::optional<Program> p = ReadProgramJson(Fixture(kLlama), diags);
    REQUIRE(p.has_value());
    CHECK(p->tp == 2);
    CHECK(p->dtype == "bfloat16");
    REQUIRE(p->params.size() == 21);
    const ProgramParam& embed = p->params[0];
    CHECK(embed.name == "model.embed_tokens.weight");
    CHECK(embed.placement == Placement{Placement::kShard, 0});
    REQUIRE(embed.ranks.size() == 2);
    CHECK(embed.ranks[1][0].start == 64128);
    CHECK(embed.ranks[1][0].length == 64128);
    REQUIRE(!p->collectives.empty());
    CHECK(p->collectives[0].kind == CollectiveKind::kAllReduce);
    CHECK(p->collectives[0].from == Layout::kPartial);

    std::optional<Program> kv = ReadProgramJson(Fixture(kLlamaKv), diags);
    REQUIRE(kv.has_value());
    CHECK(kv->params[3].name == "model.layers.0.self_attn.k_proj.weight");
    CHECK(kv->params[3].replicas == 2);
    std::optional<Program> moe = ReadProgramJson(Fixture(kMixtral), diags);
    REQUIRE(moe.has_value());
    CHECK(moe->params[8].ranks[1][1].segment == "up");
    CHECK(moe->params[8].ranks[1][1].start == 21504);
  }

  TEST_CASE("an unknown version is refused before anything else is read") {
    std::string text = Edit(Slurp(Fixture(kLlama)), "\"version\":2,", "\"version\":3,\"layout\":\"new\",");
    CHECK(Rejection("p.json", text) ==
          "p.json:1:" + ColumnOf(text, "\"version\":") +
              ": [unsupported-program-version] program version 3 is not supported: this build reads version 2 "
              "only, so compile the program again with a matching tpc");
  }

  TEST_CASE("a slice outside its tensor is refused, naming the file and the field") {
    std::string text = Edit(Slurp(Fixture(kLlama)), "{\"start\":64128,\"length\":64128}", "{\"start\":64128,\"length\":64129}");
    CHECK(Rejection("p.json", text) ==
          "p.json:1:" + ColumnOf(text, "{\"start\":64128,\"length\":") +
              ": [bad-program-field] program field '/parameters/0/slices/1/0/length' is 64129, expected an integer "
              "in [0, 64128]");
    text = Edit(Slurp(Fixture(kLlama)), "{\"start\":64128,", "{\"start\":128257,");
    CHECK(Rejection("p.json", text) ==
          "p.json:1:" + ColumnOf(text, "],[{\"start\":") +
              ": [bad-program-field] program field '/parameters/0/slices/1/0/start' is 128257, expected an integer "
              "in [0, 128256]");
  }

  TEST_CASE("slices that do not tile the sharded dim are refused") {
    SUBCASE("two ranks overlap and the last rows are missing") {
      std::string text = Edit(Slurp(Fixture(kLlama)), "{\"start\":64128,", "{\"start\":64127,");
      CHECK(Rejection("p.json", text) ==
            "p.json:1:" + ColumnOf(text, "\"shard_dim\":0,\"local_shape\":[64128,2048],\"slices\":") +
                ": [bad-program-field] program field '/parameters/0/slices' do not cover rows [0, 128256) of dim 0 "
                "exactly 1 time(s): row 64127 is covered 2 time(s)");
    }
    SUBCASE("fused segments: one rank takes the other's half of up") {
      std::string text = Edit(Slurp(Fixture(kMixtral)), "\"segment\":\"up\",\"start\":21504", "\"segment\":\"up\",\"start\":14336");
      CHECK(Rejection("m.json", text).find("[bad-program-field] program field '/parameters/8/slices' do not cover rows "
                                           "[0, 28672) of dim 1 exactly 1 time(s): row 14336 is covered 2 time(s)") !=
            std::string::npos);
    }
    SUBCASE("replicated kv heads without their replica count") {
      std::string text = Edit(Slurp(Fixture(kLlamaKv)), "\"replicas\":2,", "");
      CHECK(Rejection("k.json", text).find("[bad-program-field] program field '/parameters/3/slices' do not cover rows "
                                           "[0, 512) of dim 0 exactly 1 time(s): row 0 is covered 2 time(s)") !=
            std::string::npos);
    }
    SUBCASE("a rank missing") {
      std::string text = Edit(Slurp(Fixture(kLlama)), ",[{\"start\":64128,\"length\":64128}]", "");
      CHECK(Rejection("p.json", text).find("program field '/parameters/0/slices' is an array of 1, expected one list "
                                           "of slices per rank (2)") != std::string::npos);
    }
  }

  TEST_CASE("a missing or unknown field is refused, naming the field") {
    std::string text = Edit(Slurp(Fixture(kLlama)), "\"global_shape\":[128256,2048],", "");
    CHECK(Rejection("p.json", text) ==
          "p.json:1:" + ColumnOf(text, "\"parameters\":[") +
              ": [bad-program-field] program field '/parameters/0/global_shape' is missing");
    text = Edit(Slurp(Fixture(kLlama)), "\"tp\":2,", "");
    CHECK(Rejection("p.json", text) == "p.json:1:1: [bad-program-field] program field '/tp' is missing");
    text = Edit(Slurp(Fixture(kLlama)), "\"ring_steps\":2}", "\"ring_steps\":2,\"colour\":\"red\"}");
    CHECK(Rejection("p.json", text).find("program field '/collectives/0/colour' is not part of program version 2") !=
          std::string::npos);
  }

  TEST_CASE("wrong types and values name the field") {
    std::string base = Slurp(Fixture(kLlama));
    CHECK(Rejection("p.json", Edit(base, "\"tp\":2,", "\"tp\":\"2\",")).find(
              "program field '/tp' is '2', expected an integer in [1, 1048576]") != std::string::npos);
    CHECK(Rejection("p.json", Edit(base, "\"placement\":\"shard(0)\"", "\"placement\":\"shard(2)\"")).find(
              "program field '/parameters/0/placement' is 'shard(2)', expected replicate or shard(N) with N below 2") !=
          std::string::npos);
    CHECK(Rejection("p.json", Edit(base, "\"kind\":\"all_reduce\"", "\"kind\":\"all_reduse\"")).find(
              "program field '/collectives/0/kind' is 'all_reduse', expected one of all_reduce, all_gather, "
              "reduce_scatter, all_to_all") != std::string::npos);
    CHECK(Rejection("p.json", Edit(base, "\"local_shape\":[64128,2048]", "\"local_shape\":[64127,2048]")).find(
              "program field '/parameters/0/local_shape' is [64127, 2048], but rank 0 holds [64128, 2048]") !=
          std::string::npos);
    CHECK(Rejection("p.json", Edit(base, "\"format\":\"tpc-program\"", "\"format\":\"tpc-plan\"")).find(
              "program field '/format' is 'tpc-plan', expected 'tpc-program'") != std::string::npos);
  }

  TEST_CASE("malformed JSON and an unreadable file are diagnostics, not exceptions") {
    CHECK(Rejection("p.json", "{\"format\":\"tpc-program\",") ==
          "p.json:1:25: [json-syntax] malformed JSON: syntax error while parsing object key - unexpected end of "
          "input; expected string literal");
    CHECK(Rejection("p.json", "[1]") == "p.json:1:1: [bad-program-field] the program is an array, expected an object");
    SourceManager sources;
    Diagnostics diags(sources);
    CHECK_FALSE(ReadProgramJson(Fixture("no-such-program.json"), diags).has_value());
    REQUIRE(diags.all().size() == 1);
    CHECK(diags.all()[0].code == "file-unreadable");
  }
}

}  // namespace
}  // namespace tpc
