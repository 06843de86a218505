#include "runtime/shard_plan.h"

#include <string_view>

#include "support/strings.h"

namespace tpc {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }


SourceLoc FileLoc(Diagnostics& diags, const std::string& path) { return {diags.sources().AddPath(path), 0, 0, 0}; }

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// The inputs record a shard by the path given to `tpc compile` ("ck/llama/model.safetensors");
// entries name it relative to the checkpoint ("model.safetensors").
const InputFile* RecordedShard(const Program& p, const std::string& rel) {
  for (const InputFile& f : p.inputs.shards)
    if (f.path == rel || EndsWith(f.path, "/" + rel)) return &f;
  return nullptr;
}

// Appends a run, merged into the previous one when both continue it (a whole slice of dim 0).
void AddRun(std::vector<CopyRun>& runs, CopyRun run) {
  if (run.length == 0) return;
  if (!runs.empty()) {
    CopyRun& last = runs.back();
    if (last.file == run.file && last.src + last.length == run.src && last.dst + last.length == run.dst) {
      last.length += run.length;
      return;
    }
  }
  runs.push_back(run);
}

uint64_t Product(const std::vector<int64_t>& shape, size_t begin, size_t end) {
  uint64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= static_cast<uint64_t>(shape[i]);
  return n;
}

// What an entry reads, once checked against its file's header.
struct Source {
  int file = -1;
  uint64_t base = 0;        // file offset of the tensor's first byte
  uint64_t inner_bytes = 0;  // bytes of one index of the sharded dim (or the whole tensor)
};

class Planner {
 public:
  Planner(const Program& p, const std::string& path, const CheckpointHeaders& headers, ShardPlan* out,
          Diagnostics& diags)
      : p_(p), path_(path), headers_(headers), out_(out), diags_(diags) {}

  bool Check(int first, int last) {
    if (p_.naming != Naming::kCheckpoint) {
      diags_.Report(DiagId::kShardNeedsCheckpoint, FileLoc(diags_, path_), {path_, NamingName(p_.naming)});
      return false;
    }
    if (first < 0 || last < first || last >= p_.tp) {
      diags_.Report(DiagId::kShardRanksOutside, FileLoc(diags_, path_),
                    {std::to_string(first), std::to_string(last), path_, std::to_string(p_.tp), std::to_string(p_.tp - 1)});
      return false;
    }
    sources_.resize(p_.params.size());
    for (size_t i = 0; i < p_.params.size(); ++i)
      if (!CheckEntry(p_.params[i], &sources_[i])) return false;
    return true;
  }

  void Plan(int first, int last) {
    for (int r = first; r <= last; ++r) {
      RankPlan rank;
      rank.rank = r;
      for (size_t i = 0; i < p_.params.size(); ++i) {
        const ProgramParam& e = p_.params[i];
        if (sources_[i].file < 0 || !e.HeldBy(r)) continue;
        OutTensor t = PlanTensor(e, sources_[i], r);
        t.entry = static_cast<int>(i);
        t.offset = rank.data_bytes;
        for (CopyRun& run : t.runs) run.dst += t.offset;
        rank.data_bytes += t.bytes;
        rank.tensors.push_back(std::move(t));
      }
      out_->ranks.push_back(std::move(rank));
    }
  }

 private:
  int FileIndex(const std::string& rel) {
    for (size_t i = 0; i < out_->files.size(); ++i)
      if (out_->files[i] == rel) return static_cast<int>(i);
    out_->files.push_back(rel);
    return static_cast<int>(out_->files.size() - 1);
  }

  bool CheckEntry(const ProgramParam& e, Source* src) {
    if (e.kind == EntryKind::kLora || e.source.empty()) return true;  // nothing stored
    auto h = headers_.find(e.file);
    const SafetensorsTensor* t = nullptr;
    if (h != headers_.end())
      for (const SafetensorsTensor& cand : h->second.tensors)
        if (cand.name == e.source) t = &cand;
    if (!t) {
      diags_.Report(DiagId::kShardMissingTensor, FileLoc(diags_, e.file), {e.file, e.source, path_, e.name});
      return false;
    }
    std::vector<int64_t> shape(t->shape.begin(), t->shape.end());
    if (t->dtype != e.dtype || shape != e.global_shape) {
      diags_.Report(DiagId::kShardTensorMismatch, FileLoc(diags_, e.file),
                    {e.file, e.source, t->dtype, ShapeText(shape), path_, e.dtype, ShapeText(e.global_shape)});
      return false;
    }
    src->file = FileIndex(e.file);
    src->base = 8 + h->second.header_bytes + t->begin;
    src->inner_bytes = t->end - t->begin;
    if (e.placement.kind != Placement::kShard) return true;
    size_t d = static_cast<size_t>(e.placement.dim);
    if (d >= shape.size() || e.ranks.size() != static_cast<size_t>(p_.tp)) {
      diags_.Report(DiagId::kBadProgramField, FileLoc(diags_, path_),
                    {"'" + path_ + "': entry '" + e.name + "'", "has " + std::to_string(e.ranks.size()) +
                     " slice lists and shard dim " + std::to_string(d) + " for tp " + std::to_string(p_.tp) +
                     " and shape " + ShapeText(shape)});
      return false;
    }
    uint64_t bits = Product(shape, d + 1, shape.size()) * static_cast<uint64_t>(SafetensorsDtypeBits(t->dtype));
    for (size_t r = 0; r < e.ranks.size(); ++r)
      for (const Slice& s : e.ranks[r])
        if (s.start < 0 || s.length < 0 || s.start + s.length > shape[d]) {
          diags_.Report(DiagId::kShardSliceOutside, FileLoc(diags_, path_),
                        {path_, std::to_string(r), std::to_string(s.start), std::to_string(s.start + s.length),
                         e.name, std::to_string(shape[d]), std::to_string(d)});
          return false;
        }
    if (bits % 8 != 0) {
      diags_.Report(DiagId::kShardSubByte, FileLoc(diags_, path_),
                    {e.name, t->dtype, ShapeText(shape), std::to_string(d), Str(bits)});
      return false;
    }
    src->inner_bytes = bits / 8;
    return true;
  }

  // Box intersection of rank r's slices with the stored tensor: for each index of the dims before
  // the sharded one, each slice's rows are one run ([64, 64] shard(1), slice [32, 64) of 2-byte
  // elements: 64 runs of 64 bytes, 128 bytes apart).
  OutTensor PlanTensor(const ProgramParam& e, const Source& src, int r) {
    OutTensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = e.LocalShape(r);
    if (e.placement.kind != Placement::kShard) {
      t.bytes = src.inner_bytes;
      AddRun(t.runs, {src.file, src.base, t.bytes, 0});
      return t;
    }
    size_t d = static_cast<size_t>(e.placement.dim);
    const std::vector<Slice>& slices = e.ranks[static_cast<size_t>(r)];
    uint64_t outer = Product(e.global_shape, 0, d), rows = static_cast<uint64_t>(e.global_shape[d]);
    uint64_t local = static_cast<uint64_t>(t.shape[d]);
    t.bytes = outer * local * src.inner_bytes;
    for (uint64_t o = 0; o < outer; ++o) {
      uint64_t at = 0;
      for (const Slice& s : slices) {
        uint64_t start = static_cast<uint64_t>(s.start), length = static_cast<uint64_t>(s.length);
        AddRun(t.runs, {src.file, src.base + (o * rows + start) * src.inner_bytes, length * src.inner_bytes,
                        (o * local + at) * src.inner_bytes});
        at += length;
      }
    }
    return t;
  }

  const Program& p_;
  const std::string& path_;
  const CheckpointHeaders& headers_;
  ShardPlan* out_;
  Diagnostics& diags_;
  std::vector<Source> sources_;
};

}  // namespace

bool ReadCheckpointHeaders(const Program& program, const std::string& program_path, const std::string& weights_dir,
                           CheckpointHeaders* out, Diagnostics& diags) {
  if (program.naming != Naming::kCheckpoint) {
    diags.Report(DiagId::kShardNeedsCheckpoint, FileLoc(diags, program_path), {program_path, NamingName(program.naming)});
    return false;
  }
  for (const ProgramParam& e : program.params) {
    if (e.kind == EntryKind::kLora || e.source.empty() || out->count(e.file)) continue;
    std::string path = weights_dir + "/" + e.file;
    const InputFile* recorded = RecordedShard(program, e.file);
    if (!recorded) {
      diags.Report(DiagId::kShardFileNotInputs, FileLoc(diags, program_path), {program_path, e.source, e.file});
      return false;
    }
    SafetensorsHeader h;
    if (!ReadSafetensorsHeader(path, &h, diags)) return false;
    if (h.header_sha256 != recorded->sha256) {
      diags.Report(DiagId::kShardHeaderChanged, FileLoc(diags, path),
                   {path, h.header_sha256, program_path, recorded->sha256});
      return false;
    }
    (*out)[e.file] = std::move(h);
  }
  return true;
}

bool PlanShards(const Program& program, const std::string& program_path, const CheckpointHeaders& headers,
                int first, int last, ShardPlan* out, Diagnostics& diags) {
  *out = {};
  Planner planner(program, program_path, headers, out, diags);
  if (!planner.Check(first, last)) return false;
  planner.Plan(first, last);
  return true;
}

}  // namespace tpc
