// Program v2 written and read back: a hand-built checkpoint-named program survives EmitProgramJson
// -> ParseProgramJson field by field, and the hand-written checkpoint fixture reads back and is
// written again as the same JSON.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ir/program_fixture.h"
#include "ir/program_json.h"
#include "support/diagnostics.h"

namespace tpc {
namespace {

const std::string kHashA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kHashB = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const std::string kShard1 = "model-00001-of-00002.safetensors";
const std::string kShard2 = "model-00002-of-00002.safetensors";
const std::string kExpert = "model.layers.0.block_sparse_moe.experts.1.w1.weight";

ProgramParam Entry(const std::string& name, const std::string& file, const std::string& dtype,
                   EntryKind kind, std::vector<int64_t> shape) {
  ProgramParam e;
  e.name = name;
  e.file = file;
  e.source = kind == EntryKind::kLora ? "" : name;
  e.dtype = dtype;
  e.kind = kind;
  e.tree = kind == EntryKind::kExtra ? "" : name;
  e.global_shape = std::move(shape);
  return e;
}

// tp 2, one entry of every kind: a sharded embedding, a per-expert FP8 weight owned by rank 1 and
// its block scale, an extra with no module, a tied lm_head and a LoRA adapter.
Program HandBuilt() {
  Program p;
  p.naming = Naming::kCheckpoint;
  p.inputs.tpc_version = "0.2.0";
  p.inputs.config = {"ckpt/config.json", kHashA, 812};
  p.inputs.plan = {"hf/mixtral.yaml", "", 640};
  p.inputs.bundled_plan = true;
  p.inputs.checkpoint_dir = "ckpt";
  p.inputs.index = {"model.safetensors.index.json", kHashB, 1204};
  p.inputs.shards = {{kShard1, kHashA, 1000}, {kShard2, "", 2000}};
  p.model_type = "mixtral";
  p.dtype = "bfloat16";
  p.tp = 2;
  p.sequence_parallel = true;
  p.lora = true;
  p.lora_rank = 4;
  p.dialect = "hf-v5";
  p.link = {100, 5, 0.5, 1024};

  ProgramParam embed =
      Entry("model.embed_tokens.weight", kShard1, "BF16", EntryKind::kParam, {32, 8});
  embed.module = "model.embed_tokens";
  embed.placement = {Placement::kShard, 0};
  embed.replicas = 2;
  embed.ranks = {{{"", 0, 32}}, {{"", 0, 32}}};
  ProgramParam expert = Entry(kExpert, kShard2, "F8_E4M3", EntryKind::kParam, {8, 6});
  expert.tree = "model.layers.0.mlp.experts.gate_up_proj";
  expert.expert = 1;
  expert.module = "model.layers.0.mlp.experts";
  expert.layer = 0;
  expert.placement = {Placement::kShard, 0};
  expert.ranks = {{}, {{"gate", 0, 4}, {"up", 4, 4}}};
  expert.owners = {1};
  ProgramParam scale = Entry(kExpert + "_scale_inv", kShard2, "F32", EntryKind::kScale, {1, 1});
  scale.tree = expert.tree;
  scale.expert = 1;
  scale.scales = kExpert;
  scale.block = {128, 64};
  scale.module = expert.module;
  scale.layer = 0;
  scale.owners = {1};
  ProgramParam extra =
      Entry("vision_tower.blocks.0.attn.qkv.weight", kShard1, "BF16", EntryKind::kExtra, {24, 8});
  extra.what = "vision tower";
  ProgramParam tied = Entry("lm_head.weight", kShard1, "BF16", EntryKind::kParam, {32, 8});
  tied.source = "model.embed_tokens.weight";
  tied.module = "lm_head";
  tied.placement = {Placement::kShard, 0};
  tied.ranks = {{{"", 0, 16}}, {{"", 16, 16}}};
  ProgramParam lora =
      Entry("model.layers.0.self_attn.q_proj.lora_A.weight", "", "BF16", EntryKind::kLora, {4, 8});
  lora.adapter = "lora_A";
  lora.module = "model.layers.0.self_attn.q_proj";
  lora.layer = 0;
  lora.placement = {Placement::kShard, 0};
  lora.ranks = {{{"", 0, 2}}, {{"", 2, 2}}};
  p.params = {embed, expert, scale, extra, tied, lora};

  p.collectives.push_back({CollectiveKind::kAllReduce, "model.layers.0.self_attn.o_proj",
                           "model.layers.0.mlp", 0, Layout::kPartial, Layout::kReplicate, 8, 16,
                           8.5, 2});
  p.attributes.push_back({"model.layers.0.self_attn", "num_heads", 2, 4});
  p.summary = {{100, 200}, 300, 16, 16, 8.5, 1.25};
  return p;
}

void CheckSameFile(const InputFile& a, const InputFile& b) {
  CHECK(a.path == b.path);
  CHECK(a.sha256 == b.sha256);
  CHECK(a.bytes == b.bytes);
}

void CheckSameParam(const ProgramParam& a, const ProgramParam& b) {
  CAPTURE(a.name);
  CHECK(a.name == b.name);
  CHECK(a.file == b.file);
  CHECK(a.source == b.source);
  CHECK(a.dtype == b.dtype);
  CHECK(a.kind == b.kind);
  CHECK(a.tree == b.tree);
  CHECK(a.expert == b.expert);
  CHECK(a.scales == b.scales);
  CHECK(a.block == b.block);
  CHECK(a.what == b.what);
  CHECK(a.module == b.module);
  CHECK(a.layer == b.layer);
  CHECK(a.global_shape == b.global_shape);
  CHECK(a.placement == b.placement);
  CHECK(a.replicas == b.replicas);
  CHECK(a.owners == b.owners);
  CHECK(a.adapter == b.adapter);
  REQUIRE(a.ranks.size() == b.ranks.size());
  for (size_t r = 0; r < a.ranks.size(); ++r) {
    REQUIRE(a.ranks[r].size() == b.ranks[r].size());
    for (size_t i = 0; i < a.ranks[r].size(); ++i) {
      CHECK(a.ranks[r][i].segment == b.ranks[r][i].segment);
      CHECK(a.ranks[r][i].start == b.ranks[r][i].start);
      CHECK(a.ranks[r][i].length == b.ranks[r][i].length);
    }
  }
}

TEST_SUITE("program json v2") {
  TEST_CASE("a hand-built checkpoint program reads back field by field") {
    const Program want = HandBuilt();
    std::string text = EmitProgramJson(want);
    SourceManager sources;
    Diagnostics diags(sources);
    std::optional<Program> got = ParseProgramJson("p.json", text, diags);
    for (const Diagnostic& d : diags.all()) MESSAGE(d.message);
    REQUIRE(got.has_value());
    CHECK(got->naming == Naming::kCheckpoint);
    CHECK(got->inputs.tpc_version == "0.2.0");
    CheckSameFile(got->inputs.config, want.inputs.config);
    CheckSameFile(got->inputs.plan, want.inputs.plan);
    CHECK(got->inputs.bundled_plan);
    CHECK(got->inputs.checkpoint_dir == "ckpt");
    CheckSameFile(got->inputs.index, want.inputs.index);
    REQUIRE(got->inputs.shards.size() == 2);
    CheckSameFile(got->inputs.shards[0], want.inputs.shards[0]);
    CheckSameFile(got->inputs.shards[1], want.inputs.shards[1]);
    CHECK(got->model_type == "mixtral");
    CHECK(got->dtype == "bfloat16");
    CHECK(got->tp == 2);
    CHECK(got->sequence_parallel);
    CHECK(got->lora);
    CHECK(got->lora_rank == 4);
    CHECK_FALSE(got->kv_replication);
    CHECK(got->dialect == "hf-v5");
    CHECK(got->link.gbps == 100);
    CHECK(got->link.launch_us == 5);
    CHECK(got->link.hop_us == 0.5);
    CHECK(got->link.tokens == 1024);
    REQUIRE(got->params.size() == want.params.size());
    for (size_t i = 0; i < want.params.size(); ++i) CheckSameParam(got->params[i], want.params[i]);
    REQUIRE(got->collectives.size() == 1);
    const Collective& c = got->collectives[0];
    CHECK(c.kind == CollectiveKind::kAllReduce);
    CHECK(c.after == "model.layers.0.self_attn.o_proj");
    CHECK(c.before == "model.layers.0.mlp");
    CHECK(c.layer == 0);
    CHECK(c.from == Layout::kPartial);
    CHECK(c.to == Layout::kReplicate);
    CHECK(c.elements_per_token == 8);
    CHECK(c.bytes_per_token == 16);
    CHECK(c.send_bytes_per_token == 8.5);
    CHECK(c.steps == 2);
    REQUIRE(got->attributes.size() == 1);
    CHECK(got->attributes[0].module == "model.layers.0.self_attn");
    CHECK(got->attributes[0].name == "num_heads");
    CHECK(got->attributes[0].value == 2);
    CHECK(got->attributes[0].global == 4);
    CHECK(got->summary.param_bytes_per_rank == std::vector<int64_t>{100, 200});
    CHECK(got->summary.param_bytes_total == 300);
    CHECK(got->summary.traffic_bytes_per_token == 16);
    CHECK(got->summary.layer_traffic_bytes_per_token == 16);
    CHECK(got->summary.send_bytes_per_token == 8.5);
    CHECK(got->summary.comm_us_per_token == 1.25);
  }

  TEST_CASE(
      "the writer: null for empty strings, kind fields only where they belong, an owner's local "
      "shape") {
    nlohmann::json j = nlohmann::json::parse(EmitProgramJson(HandBuilt()));
    CHECK(j["version"] == 2);
    CHECK(j["names"] == "checkpoint");
    CHECK(j["inputs"]["plan"] ==
          nlohmann::json::parse(
              R"({"path":"hf/mixtral.yaml","sha256":null,"bytes":640,"bundled":true})"));
    CHECK(j["inputs"]["checkpoint"]["files"][1] ==
          nlohmann::json::parse(
              R"({"path":"model-00002-of-00002.safetensors","bytes":2000,"header_sha256":null})"));
    const nlohmann::json& params = j["parameters"];
    CHECK(params[0]["dtype"] == "BF16");
    CHECK_FALSE(params[0].contains("expert"));
    CHECK_FALSE(params[0].contains("owners"));
    CHECK(params[1]["expert"] == 1);
    CHECK(params[1]["owners"] == nlohmann::json::array({1}));
    CHECK(params[1]["local_shape"] ==
          nlohmann::json::array({8, 6}));  // rank 1's; rank 0 holds nothing
    CHECK_FALSE(params[1].contains("block"));
    CHECK(params[2]["block"] == nlohmann::json::array({128, 64}));
    CHECK(params[2]["scales"] == kExpert);
    CHECK(params[3]["module"].is_null());
    CHECK(params[3]["tree"].is_null());
    CHECK(params[3]["what"] == "vision tower");
    CHECK_FALSE(params[4].contains("what"));
    CHECK(params[5]["kind"] == "lora");
    CHECK(params[5]["file"].is_null());
    CHECK(params[5]["source"].is_null());
  }

  TEST_CASE("a module-tree program without a plan writes null plan and checkpoint") {
    Program p = HandBuilt();
    p.naming = Naming::kModuleTree;
    p.inputs.plan = {};
    p.inputs.checkpoint_dir.clear();
    p.params.clear();
    p.summary.param_bytes_per_rank = {0, 0};
    nlohmann::json j = nlohmann::json::parse(EmitProgramJson(p));
    CHECK(j["names"] == "module-tree");
    CHECK(j["inputs"]["plan"].is_null());
    CHECK(j["inputs"]["checkpoint"].is_null());
    SourceManager sources;
    Diagnostics diags(sources);
    std::optional<Program> back = ParseProgramJson("p.json", EmitProgramJson(p), diags);
    REQUIRE(back.has_value());
    CHECK(back->naming == Naming::kModuleTree);
    CHECK(back->inputs.plan.path.empty());
    CHECK(back->inputs.checkpoint_dir.empty());
  }

  TEST_CASE(
      "the hand-written checkpoint fixture reads back and is written again as the same JSON") {
    SourceManager sources;
    Diagnostics diags(sources);
    std::string path = Fixture("checkpoint-moe-fp8-tp2.json");
    std::optional<Program> p = ReadProgramJson(path, diags);
    for (const Diagnostic& d : diags.all()) MESSAGE(d.message);
    REQUIRE(p.has_value());
    CHECK(EmitProgramJson(*p) == nlohmann::ordered_json::parse(Slurp(path)).dump() + "\n");
    REQUIRE(p->params.size() == 9);
    CHECK(p->params[3].owners == std::vector<int>{1});
    CHECK(p->params[3].expert == 1);
    CHECK(p->params[6].kind == EntryKind::kScale);
    CHECK(p->params[6].ranks[1][0].start == 1);
    CHECK(p->params[7].what == "vision tower");
    CHECK(p->params[7].module.empty());
    CHECK(p->params[8].source == "model.embed_tokens.weight");
    CHECK(p->inputs.shards[1].sha256.empty());
  }
}

}  // namespace
}  // namespace tpc
