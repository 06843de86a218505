// PlanShards on hand-built programs and headers: the runs are written out by hand.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "runtime/shard_plan.h"

namespace tpc {
namespace {

ProgramParam Entry(std::string name, std::string dtype, std::vector<int64_t> shape) {
  ProgramParam e;
  e.name = e.source = std::move(name);
  e.file = "model.safetensors";
  e.dtype = std::move(dtype);
  e.global_shape = std::move(shape);
  return e;
}

ProgramParam Sharded(ProgramParam e, int dim, std::vector<std::vector<Slice>> ranks) {
  e.placement = {Placement::kShard, dim};
  e.ranks = std::move(ranks);
  return e;
}

Program Prog(int tp, std::vector<ProgramParam> params) {
  Program p;
  p.naming = Naming::kCheckpoint;
  p.tp = tp;
  p.params = std::move(params);
  return p;
}

// One file with a 16-byte header: tensor data starts at file offset 24.
CheckpointHeaders Headers(std::vector<SafetensorsTensor> tensors) {
  SafetensorsHeader h;
  h.header_bytes = 16;
  h.tensors = std::move(tensors);
  return {{"model.safetensors", h}};
}

struct Planned {
  SourceManager sources;
  Diagnostics diags{sources};
  ShardPlan plan;
  bool ok = false;
};

void Plan(const Program& p, const CheckpointHeaders& h, int first, int last, Planned* out) {
  out->ok = PlanShards(p, "p.json", h, first, last, &out->plan, out->diags);
}

TEST_SUITE("shard plan") {
  TEST_CASE("dim 0 gives one run per slice and a replicated tensor one whole run") {
    Program p = Prog(2, {Sharded(Entry("w", "BF16", {4, 6}), 0, {{{"", 0, 2}}, {{"", 2, 2}}}),
                         Entry("norm", "F32", {3})});
    Planned r;
    Plan(p, Headers({{"w", "BF16", {4, 6}, 0, 48}, {"norm", "F32", {3}, 48, 60}}), 0, 1, &r);
    REQUIRE(r.ok);
    CHECK(r.plan.files == std::vector<std::string>{"model.safetensors"});
    REQUIRE(r.plan.ranks.size() == 2);
    const RankPlan& r1 = r.plan.ranks[1];
    CHECK(r1.rank == 1);
    REQUIRE(r1.tensors.size() == 2);
    CHECK(r1.tensors[0].shape == std::vector<int64_t>{2, 6});
    CHECK(r1.tensors[0].bytes == 24);
    CHECK(r1.tensors[0].runs == std::vector<CopyRun>{{0, 48, 24, 0}});
    CHECK(r1.tensors[1].offset == 24);
    CHECK(r1.tensors[1].runs == std::vector<CopyRun>{{0, 72, 12, 24}});
    CHECK(r1.data_bytes == 36);
    CHECK(r.plan.ranks[0].tensors[0].runs == std::vector<CopyRun>{{0, 24, 24, 0}});
  }

  TEST_CASE("a later dim gives strided runs, one per index of the dims before it") {
    // [2, 3, 4] BF16 split on dim 1 as rows 0-1 and 2: a row of dim 1 is 4 x 2 = 8 bytes.
    Program p = Prog(2, {Sharded(Entry("o", "BF16", {2, 3, 4}), 1, {{{"", 0, 2}}, {{"", 2, 1}}})});
    Planned r;
    Plan(p, Headers({{"o", "BF16", {2, 3, 4}, 0, 48}}), 0, 1, &r);
    REQUIRE(r.ok);
    CHECK(r.plan.ranks[0].tensors[0].shape == std::vector<int64_t>{2, 2, 4});
    CHECK(r.plan.ranks[0].tensors[0].runs == std::vector<CopyRun>{{0, 24, 16, 0}, {0, 48, 16, 16}});
    CHECK(r.plan.ranks[1].tensors[0].runs == std::vector<CopyRun>{{0, 40, 8, 0}, {0, 64, 8, 8}});
  }

  TEST_CASE("fused segments are concatenated in slice order, and an empty rank keeps a 0-row tensor") {
    // q rows 0-1 and k rows 4-4 for rank 0; rank 1 holds nothing of it.
    Program p = Prog(2, {Sharded(Entry("qk", "F32", {6, 2}), 0, {{{"q", 0, 2}, {"k", 4, 1}}, {}})});
    Planned r;
    Plan(p, Headers({{"qk", "F32", {6, 2}, 8, 56}}), 0, 1, &r);
    REQUIRE(r.ok);
    CHECK(r.plan.ranks[0].tensors[0].runs == std::vector<CopyRun>{{0, 32, 16, 0}, {0, 64, 8, 16}});
    const OutTensor& empty = r.plan.ranks[1].tensors[0];
    CHECK(empty.shape == std::vector<int64_t>{0, 2});
    CHECK(empty.bytes == 0);
    CHECK(empty.runs.empty());
  }

  TEST_CASE("an owned tensor is whole on its owners and absent elsewhere; LoRA entries are skipped") {
    ProgramParam expert = Entry("e1", "BF16", {2, 2});
    expert.owners = {1};
    ProgramParam lora = Entry("a", "BF16", {2, 2});
    lora.kind = EntryKind::kLora;
    lora.source = "";
    Program p = Prog(2, {expert, lora});
    Planned r;
    Plan(p, Headers({{"e1", "BF16", {2, 2}, 0, 8}}), 0, 1, &r);
    REQUIRE(r.ok);
    CHECK(r.plan.ranks[0].tensors.empty());
    REQUIRE(r.plan.ranks[1].tensors.size() == 1);
    CHECK(r.plan.ranks[1].tensors[0].runs == std::vector<CopyRun>{{0, 24, 8, 0}});
  }

  TEST_CASE("a tied entry reads another tensor under its own name") {
    ProgramParam head = Entry("lm_head.weight", "BF16", {2, 2});
    head.source = "embed";
    Program p = Prog(1, {head});
    Planned r;
    Plan(p, Headers({{"embed", "BF16", {2, 2}, 0, 8}}), 0, 0, &r);
    REQUIRE(r.ok);
    CHECK(r.plan.ranks[0].tensors[0].name == "lm_head.weight");
    CHECK(r.plan.ranks[0].tensors[0].runs == std::vector<CopyRun>{{0, 24, 8, 0}});
  }

  TEST_CASE("problems are diagnostics naming the file, the tensor and the numbers") {
    Planned r;
    SUBCASE("dtype") {
      Plan(Prog(1, {Entry("w", "BF16", {2})}), Headers({{"w", "F16", {2}, 0, 4}}), 0, 0, &r);
      REQUIRE(r.diags.all().size() == 1);
      CHECK(r.diags.all()[0].message ==
            "in 'model.safetensors', tensor 'w' is F16 [2], but 'p.json' expects BF16 [2]");
    }
    SUBCASE("missing tensor") {
      Plan(Prog(1, {Entry("w", "BF16", {2})}), Headers({{"v", "BF16", {2}, 0, 4}}), 0, 0, &r);
      REQUIRE(r.diags.all().size() == 1);
      CHECK(r.diags.all()[0].message == "'model.safetensors' has no tensor 'w', which 'p.json' reads for 'w'");
    }
    SUBCASE("slice outside") {
      Plan(Prog(2, {Sharded(Entry("w", "BF16", {4}), 0, {{{"", 0, 2}}, {{"", 2, 3}}})}),
           Headers({{"w", "BF16", {4}, 0, 8}}), 0, 1, &r);
      REQUIRE(r.diags.all().size() == 1);
      CHECK(r.diags.all()[0].message == "'p.json' gives rank 1 rows [2, 5) of 'w', outside its 4 rows along dim 0");
    }
    SUBCASE("sub-byte rows") {
      Plan(Prog(2, {Sharded(Entry("w", "F4", {2, 3}), 0, {{{"", 0, 1}}, {{"", 1, 1}}})}),
           Headers({{"w", "F4", {2, 3}, 0, 3}}), 0, 1, &r);
      REQUIRE(r.diags.all().size() == 1);
      CHECK(r.diags.all()[0].code == "shard-sub-byte");
      CHECK(r.diags.all()[0].message == "'w' (F4, shape [2, 3]) is cut along dim 0 into rows of 12 bits, not whole bytes");
    }
    SUBCASE("ranks outside tp") {
      Plan(Prog(2, {}), Headers({}), 1, 2, &r);
      REQUIRE(r.diags.all().size() == 1);
      CHECK(r.diags.all()[0].message == "--ranks 1-2 lies outside the ranks of 'p.json', which has tp 2 (ranks 0-1)");
    }
    SUBCASE("module-tree program") {
      Program p = Prog(1, {});
      p.naming = Naming::kModuleTree;
      Plan(p, Headers({}), 0, 0, &r);
      REQUIRE(r.diags.all().size() == 1);
      CHECK(r.diags.all()[0].code == "shard-needs-checkpoint");
    }
    CHECK_FALSE(r.ok);
    CHECK(r.diags.has_fatal());
  }
}

}  // namespace
}  // namespace tpc
