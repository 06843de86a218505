#include "runtime/load_verify.h"

#include <sys/stat.h>

#include <cstring>

#include "runtime/manifest.h"
#include "runtime/shard_writer.h"
#include "support/sha256.h"

namespace tpc {
namespace {

SourceLoc NoLoc() { return {}; }

std::span<const uint8_t> View(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Text(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string_view Chars(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// The first error a rank shares after rank `k` told it of `error` (the status messages of
// --source root), as FirstError renders it.
std::string Relayed(size_t k, const std::string& error) {
  SourceManager sources;
  Diagnostics diags(sources);
  diags.Report(DiagId::kLoadRankFailed, NoLoc(), {std::to_string(k), error});
  return FirstError(diags);
}

// Rank 0's verdict (empty: all good) to every rank, which reports it.
bool Conclude(VerifyContext& ctx, const char* mode, std::string verdict) {
  Bytes v(verdict.begin(), verdict.end());
  std::string error;
  if (!ctx.comm.Broadcast(&v, 0, &error)) return CommFailed(ctx, error), false;
  if (v.empty()) return true;
  ctx.diags.Report(DiagId::kLoadVerifyFailed, NoLoc(), {mode, Text(v)});
  return false;
}

// The SHA-256 of a rank's tensors; with `program_sha256`, of the rank file tpc-run shard writes.
std::string Digest(const LoadedShards& loaded, const std::string* program_sha256) {
  Sha256 h;
  if (program_sha256) {
    RankPlan plan;
    plan.rank = loaded.rank;
    for (const LoadedTensor& t : loaded.tensors) {
      plan.tensors.push_back({-1, t.name, t.dtype, t.shape, plan.data_bytes, t.bytes.size(), {}});
      plan.data_bytes += t.bytes.size();
    }
    h.Update(RankHeader(plan, *program_sha256));
  }
  for (const LoadedTensor& t : loaded.tensors) h.Update(Chars(t.bytes));
  return h.Hex();
}

std::string RowsOf(const ProgramParam& e) { return "'" + e.name + "'"; }

// Puts one entry together from every rank's part and compares it with `orig`; "" when it matches.
std::string Reassemble(const ProgramParam& e, const std::vector<Bytes>& parts, const Bytes& orig, int tp) {
  if (e.placement.kind != Placement::kShard) {
    for (int r = 0; r < tp; ++r)
      if (e.HeldBy(r) && parts[static_cast<size_t>(r)] != orig)
        return "rank " + std::to_string(r) + "'s " + RowsOf(e) + " differs from the checkpoint";
    return "";
  }
  size_t d = static_cast<size_t>(e.placement.dim);
  uint64_t outer = 1, inner_elems = 1, rows = static_cast<uint64_t>(e.global_shape[d]);
  for (size_t i = 0; i < d; ++i) outer *= static_cast<uint64_t>(e.global_shape[i]);
  for (size_t i = d + 1; i < e.global_shape.size(); ++i) inner_elems *= static_cast<uint64_t>(e.global_shape[i]);
  uint64_t inner = inner_elems * static_cast<uint64_t>(SafetensorsDtypeBits(e.dtype)) / 8;
  if (outer * rows * inner != orig.size()) return RowsOf(e) + " has another size in the checkpoint";
  Bytes global(orig.size());
  std::vector<int> owner(rows, -1);  // the first rank that holds each index of the shard dim
  for (int r = 0; r < tp; ++r) {
    if (!e.HeldBy(r)) continue;
    const Bytes& part = parts[static_cast<size_t>(r)];
    uint64_t local = 0;
    for (const Slice& s : e.ranks[static_cast<size_t>(r)]) local += static_cast<uint64_t>(s.length);
    if (part.size() != outer * local * inner)
      return "rank " + std::to_string(r) + " holds " + std::to_string(part.size()) + " bytes of " + RowsOf(e) +
             ", but its slices make " + std::to_string(outer * local * inner);
    for (uint64_t o = 0; o < outer; ++o) {
      uint64_t at = 0;
      for (const Slice& s : e.ranks[static_cast<size_t>(r)])
        for (int64_t j = s.start; j < s.start + s.length; ++j, ++at) {
          const uint8_t* from = part.data() + (o * local + at) * inner;
          uint8_t* to = global.data() + (o * rows + static_cast<uint64_t>(j)) * inner;
          int& first = owner[static_cast<size_t>(j)];
          if (first < 0 || first == r) {
            first = r;
            std::memcpy(to, from, inner);
          } else if (std::memcmp(to, from, inner) != 0) {
            return "ranks " + std::to_string(first) + " and " + std::to_string(r) + " hold different bytes for index " +
                   std::to_string(j) + " of " + RowsOf(e) + " along dim " + std::to_string(d);
          }
        }
    }
  }
  for (uint64_t j = 0; j < rows; ++j)
    if (owner[j] < 0) return "index " + std::to_string(j) + " of " + RowsOf(e) + " along dim " + std::to_string(d) +
                             " is on no rank";
  for (uint64_t i = 0; i < global.size(); ++i)
    if (global[i] != orig[i])
      return RowsOf(e) + " put together from every rank differs from the checkpoint at byte " + std::to_string(i) +
             " (index " + std::to_string(i / inner % rows) + " along dim " + std::to_string(d) + ", rank " +
             std::to_string(owner[i / inner % rows]) + ")";
  return "";
}

}  // namespace

std::string FirstError(const Diagnostics& diags) {
  for (const Diagnostic& d : diags.all())
    if (d.severity != Severity::kNote && d.severity != Severity::kWarning) return d.message + " [" + d.code + "]";
  return "";
}

void CommFailed(VerifyContext& ctx, const std::string& error) {
  ctx.diags.Report(DiagId::kLoadCommFailed, NoLoc(), {std::to_string(ctx.comm.rank()), error});
  ctx.broken = true;
}

bool Agree(VerifyContext& ctx) {
  if (ctx.broken) return false;
  std::string mine = FirstError(ctx.diags), error;
  std::vector<Bytes> all;
  if (!ctx.comm.AllGather(View(mine), &all, &error)) return CommFailed(ctx, error), false;
  bool ok = mine.empty();
  size_t me = static_cast<size_t>(ctx.comm.rank());
  // Whether rank r's error is rank k's, relayed: reported once, by the ranks that heard of it, and
  // neither echoed back to k nor reported a second time by a rank that already did.
  auto relays = [&](size_t r, size_t k) { return !all[k].empty() && Text(all[r]) == Relayed(k, Text(all[k])); };
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].empty()) continue;
    ok = false;
    bool known = r == me || relays(me, r);
    for (size_t k = 0; k < all.size() && !known; ++k) known = k != r && relays(r, k);
    if (!known) ctx.diags.Report(DiagId::kLoadRankFailed, NoLoc(), {std::to_string(r), Text(all[r])});
  }
  return ok;
}

bool VerifyChecksum(VerifyContext& ctx, const LoadOptions& opts, LoadedShards& loaded, const ShardPlan* plan,
                    const std::function<bool(const OutTensor&, Bytes*)>& read) {
  std::string error, verdict;
  int me = ctx.comm.rank(), tp = ctx.program.tp;
  // With a manifest, rank 0 reads it and sends the program hash its rank files carry.
  Manifest m;
  Bytes program_sha;
  if (!opts.manifest.empty()) {
    struct stat st;
    // ReadManifest's open would wait for a writer on a FIFO.
    if (me == 0 && stat(opts.manifest.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) verdict = "it is not a regular file";
    else if (me == 0 && !ReadManifest(opts.manifest, &m)) verdict = "cannot read it as a tpc-shards manifest";
    else if (me == 0 && m.tp != tp) verdict = "it is for tp " + std::to_string(m.tp) + ", not " + std::to_string(tp);
    else if (me == 0) program_sha.assign(m.program_sha256.begin(), m.program_sha256.end());
    Bytes v(verdict.begin(), verdict.end());
    if (!ctx.comm.Broadcast(&v, 0, &error) || !ctx.comm.Broadcast(&program_sha, 0, &error))
      return CommFailed(ctx, error), false;
    if (!v.empty()) {
      ctx.diags.Report(DiagId::kLoadBadManifest, NoLoc(), {opts.manifest, Text(v)});
      return false;
    }
  }
  std::string sha = Text(program_sha);
  loaded.sha256 = Digest(loaded, opts.manifest.empty() ? nullptr : &sha);
  std::vector<Bytes> digests;
  if (!ctx.comm.AllGather(View(loaded.sha256), &digests, &error)) return CommFailed(ctx, error), false;
  if (me != 0) return Conclude(ctx, "checksum", "");
  for (int r = 0; r < tp && verdict.empty(); ++r) {
    std::string expected;
    if (!opts.manifest.empty()) {
      for (const ManifestRank& k : m.ranks)
        if (k.rank == r) expected = k.sha256;
    } else {
      Sha256 h;
      for (const RankPlan& k : plan->ranks)
        for (const OutTensor& t : k.rank == r ? k.tensors : std::vector<OutTensor>{}) {
          Bytes b;
          if (!read(t, &b)) return Conclude(ctx, "checksum", FirstError(ctx.diags));
          h.Update(Chars(b));
        }
      expected = h.Hex();
    }
    std::string got = Text(digests[static_cast<size_t>(r)]);
    if (got != expected)
      verdict = "rank " + std::to_string(r) + "'s bytes have SHA-256 " + got + ", but " +
                (opts.manifest.empty() ? "the checkpoint's slices for it have " : "'" + opts.manifest + "' records ") +
                (expected.empty() ? "none" : expected);
  }
  return Conclude(ctx, "checksum", verdict);
}

bool VerifyGather(VerifyContext& ctx, const LoadedShards& loaded,
                  const std::function<bool(const ProgramParam&, Bytes*)>& read_whole, const GatherFn& gather) {
  std::string error, verdict;
  int me = ctx.comm.rank();
  size_t k = 0;  // the next of this rank's tensors
  for (const ProgramParam& e : ctx.program.params) {
    if (e.kind == EntryKind::kLora || e.source.empty()) continue;
    int mine = e.HeldBy(me) && k < loaded.tensors.size() ? static_cast<int>(k++) : -1;
    std::vector<Bytes> parts;
    bool gathered = gather ? gather(e, mine, &parts, &error)
                           : ctx.comm.AllGather(mine < 0 ? std::span<const uint8_t>()
                                                         : loaded.tensors[static_cast<size_t>(mine)].bytes,
                                                &parts, &error);
    if (!gathered) return CommFailed(ctx, error), false;
    if (me != 0 || !verdict.empty()) continue;
    Bytes orig;
    if (read_whole(e, &orig)) verdict = Reassemble(e, parts, orig, ctx.program.tp);
    else if ((verdict = FirstError(ctx.diags)).empty()) verdict = "cannot read '" + e.source + "' from '" + e.file + "'";
  }
  return Conclude(ctx, "gather", verdict);
}

}  // namespace tpc
