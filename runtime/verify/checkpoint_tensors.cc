#include "runtime/verify/checkpoint_tensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>

#include "support/diagnostics.h"
#include "support/safetensors_header.h"
#include "support/source_manager.h"

namespace tpc::verify {
namespace {

bool DtypeOf(const std::string& name, at::ScalarType* out) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"F32", at::kFloat}, {"F64", at::kDouble}, {"F16", at::kHalf},
      {"BF16", at::kBFloat16}, {"I64", at::kLong}, {"I32", at::kInt}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) return false;
  *out = it->second;
  return true;
}

// One open safetensors file with its validated header.
struct OpenFile {
  int fd = -1;
  SafetensorsHeader header;
  std::map<std::string, const SafetensorsTensor*> by_name;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

bool Open(const std::string& path, OpenFile* f, std::string* err) {
  SourceManager sources;
  Diagnostics diags(sources);
  if (!ReadSafetensorsHeader(path, &f->header, diags)) {
    *err = path + ": " + (diags.all().empty() ? std::string("unreadable") : diags.all().front().message);
    return false;
  }
  for (const SafetensorsTensor& t : f->header.tensors) f->by_name[t.name] = &t;
  f->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) {
    *err = "cannot open '" + path + "'";
    return false;
  }
  return true;
}

bool Read(const OpenFile& f, const std::string& path, const SafetensorsTensor& t, at::Tensor* out, std::string* err) {
  at::ScalarType type;
  if (!DtypeOf(t.dtype, &type)) {
    *err = path + ": tensor '" + t.name + "' has dtype " + t.dtype + ", which verify does not read";
    return false;
  }
  std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
  at::Tensor buf = at::empty(shape, at::TensorOptions().dtype(type));
  uint64_t want = t.end - t.begin;
  if (static_cast<uint64_t>(buf.nbytes()) != want) {
    *err = path + ": tensor '" + t.name + "' holds " + std::to_string(want) + " bytes, not " + std::to_string(buf.nbytes());
    return false;
  }
  auto* dst = static_cast<char*>(buf.data_ptr());
  uint64_t at_byte = 8 + f.header.header_bytes + t.begin, done = 0;
  while (done < want) {
    ssize_t n = ::pread(f.fd, dst + done, want - done, static_cast<off_t>(at_byte + done));
    if (n <= 0) {
      *err = path + ": short read of tensor '" + t.name + "'";
      return false;
    }
    done += static_cast<uint64_t>(n);
  }
  *out = buf;
  return true;
}

}  // namespace

bool ReadSafetensorsFile(const std::string& path, std::vector<std::pair<std::string, at::Tensor>>* out,
                         std::string* err) {
  OpenFile f;
  if (!Open(path, &f, err)) return false;
  for (const SafetensorsTensor& t : f.header.tensors) {
    at::Tensor x;
    if (!Read(f, path, t, &x, err)) return false;
    out->emplace_back(t.name, x);
  }
  return true;
}

struct StoredTensors::File {
  OpenFile f;
  std::string path;
};

StoredTensors::StoredTensors() = default;
StoredTensors::~StoredTensors() = default;

bool StoredTensors::Open(const Checkpoint& checkpoint, std::string* err) {
  checkpoint_ = &checkpoint;
  files_.clear();
  for (const CheckpointFile& cf : checkpoint.files) {
    files_.push_back(std::make_unique<File>());
    files_.back()->path = cf.path;
    if (!tpc::verify::Open(cf.path, &files_.back()->f, err)) return false;
  }
  return true;
}

bool StoredTensors::Read(const std::string& name, at::Tensor* out, std::string* err) const {
  int index = checkpoint_ ? checkpoint_->Find(name) : -1;
  if (index < 0) return *err = "no stored tensor '" + name + "'", false;
  const File& file = *files_.at(checkpoint_->tensors[index].file);
  auto it = file.f.by_name.find(name);
  if (it == file.f.by_name.end()) return *err = "tensor '" + name + "' is not in " + file.path, false;
  return tpc::verify::Read(file.f, file.path, *it->second, out, err);
}

bool ReadParameters(const ModelGraph& g, at::ScalarType dtype, std::vector<std::vector<at::Tensor>>* out,
                    std::string* err) {
  const CheckpointBinding* b = g.checkpoint.get();
  if (!b) {
    *err = "the model has no checkpoint bound to it";
    return false;
  }
  if (!b->problems.empty()) {
    const BindingProblem& p = b->problems.front();
    *err = "the checkpoint does not match config.json at '" + p.stored + "'" + (p.detail.empty() ? "" : ": " + p.detail);
    return false;
  }
  StoredTensors stored;
  if (!stored.Open(b->checkpoint, err)) return false;
  const auto& modules = g.modules();
  out->assign(modules.size(), {});
  for (size_t m = 0; m < modules.size(); ++m) {
    (*out)[m].resize(modules[m].params.size());
    for (size_t p = 0; p < modules[m].params.size(); ++p) {
      const Param& param = modules[m].params[p];
      const std::vector<StoredPiece>& pieces = b->pieces[m][p];
      if (pieces.empty()) continue;  // tied: filled below
      at::Tensor whole = at::empty(param.shape, at::TensorOptions().dtype(dtype));
      bool per_expert = pieces.front().expert >= 0;
      for (const StoredPiece& piece : pieces) {
        at::Tensor x;
        if (!stored.Read(b->checkpoint.tensors[piece.tensor].name, &x, err)) return false;
        at::Tensor dst = per_expert ? whole[piece.expert] : whole;
        dst.narrow(0, piece.offset, x.size(0)).copy_(x.to(dtype));
      }
      (*out)[m][p] = whole;
    }
  }
  for (size_t m = 0; m < modules.size(); ++m)
    if (modules[m].tied_to >= 0)
      for (size_t p = 0; p < (*out)[m].size(); ++p)
        if (!(*out)[m][p].defined()) (*out)[m][p] = (*out)[modules[m].tied_to][p];
  for (size_t m = 0; m < modules.size(); ++m)
    for (size_t p = 0; p < (*out)[m].size(); ++p)
      if (!(*out)[m][p].defined()) {
        *err = "no stored tensor for '" + modules[m].name + "." + modules[m].params[p].name + "'";
        return false;
      }
  return true;
}

}  // namespace tpc::verify
