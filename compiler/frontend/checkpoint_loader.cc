// A checkpoint directory read the way transformers finds its files (model.safetensors.index.json,
// else model.safetensors), from the headers alone: a 400 GB checkpoint costs one open and a few
// preads per shard.
#include "frontend/checkpoint_loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "support/json_text.h"
#include "support/limits.h"
#include "support/safetensors_header.h"
#include "support/sha256.h"

namespace tpc {
namespace {

constexpr std::string_view kSuffix = ".safetensors";

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string PointerToken(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return "/" + out;
}

// The *.safetensors names in `dir`, sorted; false (with `why`) when it cannot be listed.
bool ListSafetensors(const std::string& dir, std::vector<std::string>* names, std::string* why) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() > kSuffix.size() &&
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0)
      names->push_back(std::move(name));
  }
  if (ec) return *why = ec.message(), false;
  std::sort(names->begin(), names->end());
  return true;
}

bool TooLarge(const std::string& what_path, const std::string& what, size_t limit,
              Diagnostics& diags) {
  diags.Report(DiagId::kCheckpointTooLarge, {diags.sources().AddPath(what_path), 0, 0, 0},
               {what_path, what, std::to_string(limit)});
  return false;
}

// Reads one file's header and appends the file and its tensors to `ck`.
bool AddFile(const std::string& dir, const std::string& name, Checkpoint* ck, Diagnostics& diags) {
  CheckpointFile file;
  file.name = name;
  file.path = Join(dir, name);
  SafetensorsHeader header;
  if (!ReadSafetensorsHeader(file.path, &header, diags)) return false;
  if (ck->tensors.size() + header.tensors.size() > limits::kMaxCheckpointTensors)
    return TooLarge(
        dir,
        "holds at least " + std::to_string(ck->tensors.size() + header.tensors.size()) + " tensors",
        limits::kMaxCheckpointTensors, diags);
  file.bytes = static_cast<int64_t>(header.file_bytes);  // a file's size, so it fits off_t
  file.header_sha256 = std::move(header.header_sha256);
  int index = static_cast<int>(ck->files.size());
  for (SafetensorsTensor& t : header.tensors) {
    StoredTensor st;
    st.name = std::move(t.name);
    st.file = index;
    st.dtype = std::move(t.dtype);
    for (size_t i = 0; i < t.shape.size(); ++i) {
      // A dimension this large is valid only beside a zero one (the header checks the byte count).
      if (t.shape[i] > static_cast<uint64_t>(limits::kMaxDimension)) {
        diags.Report(DiagId::kSafetensorsBadField, {diags.sources().AddPath(file.path), 0, 0, 0},
                     {file.path, "tensor '" + st.name + "' shape element " + std::to_string(i),
                      "is " + std::to_string(t.shape[i]) + ", over tpc's limit of " +
                          std::to_string(limits::kMaxDimension)});
        return false;
      }
      st.shape.push_back(static_cast<int64_t>(t.shape[i]));
    }
    ck->tensors.push_back(std::move(st));
  }
  ck->files.push_back(std::move(file));
  return true;
}

// Sorts the tensors by name; a name in two files is an error naming both.
bool SortTensors(Checkpoint* ck, const SafetensorsIndex* index, Diagnostics& diags) {
  std::stable_sort(ck->tensors.begin(), ck->tensors.end(),
                   [](const StoredTensor& a, const StoredTensor& b) { return a.name < b.name; });
  for (size_t i = 1; i < ck->tensors.size(); ++i) {
    const StoredTensor& a = ck->tensors[i - 1];
    const StoredTensor& b = ck->tensors[i];
    if (a.name != b.name) continue;
    // One header never holds a name twice, so these are two files.
    std::string mapped = "no file";
    SourceLoc loc{diags.sources().AddPath(ck->files[b.file].path), 0, 0, 0};
    if (index) {
      const std::string& text = diags.sources().text(index->file);
      auto it = index->weight_map.find(a.name);
      if (it != index->weight_map.end()) {
        mapped = "'" + it->second + "'";
        loc = LocateJsonPointer(index->file, text, "/weight_map" + PointerToken(a.name));
      }
    }
    diags.Report(DiagId::kIndexTensorTwice, loc,
                 {index ? ck->index_path : ck->dir, a.name, ck->files[a.file].path,
                  ck->files[b.file].path, mapped});
    return false;
  }
  return true;
}

// Every weight_map entry must name the file whose header holds the tensor, and every stored tensor
// must be in the weight_map.
bool CheckIndex(const Checkpoint& ck, const SafetensorsIndex& index, Diagnostics& diags) {
  const std::string& text = diags.sources().text(index.file);
  for (const auto& [name, shard] : index.weight_map) {
    int t = ck.Find(name);
    if (t >= 0 && ck.files[ck.tensors[t].file].name == shard) continue;
    std::string where =
        t < 0 ? "" : "; it is stored in '" + ck.files[ck.tensors[t].file].path + "'";
    diags.Report(DiagId::kIndexTensorNotInShard,
                 LocateJsonPointer(index.file, text, "/weight_map" + PointerToken(name)),
                 {ck.index_path, name, shard, Join(ck.dir, shard), where});
    return false;
  }
  for (const StoredTensor& t : ck.tensors) {
    if (index.weight_map.count(t.name)) continue;
    diags.Report(DiagId::kIndexTensorUnmapped, LocateJsonPointer(index.file, text, "/weight_map"),
                 {ck.files[t.file].path, t.name, ck.index_path});
    return false;
  }
  return true;
}

std::optional<Checkpoint> LoadSharded(Checkpoint ck, Diagnostics& diags) {
  SafetensorsIndex index;
  if (!ReadSafetensorsIndex(ck.index_path, &index, diags)) return std::nullopt;
  const std::string& text = diags.sources().text(index.file);
  ck.index_sha256 = Sha256Hex(text);
  ck.index_bytes = static_cast<int64_t>(text.size());
  if (index.weight_map.size() > limits::kMaxCheckpointTensors) {
    TooLarge(ck.index_path, "maps " + std::to_string(index.weight_map.size()) + " tensors",
             limits::kMaxCheckpointTensors, diags);
    return std::nullopt;
  }
  std::set<std::string> shards;
  for (const auto& entry : index.weight_map) shards.insert(entry.second);
  if (shards.size() > limits::kMaxCheckpointFiles) {
    TooLarge(ck.index_path, "names " + std::to_string(shards.size()) + " shard files",
             limits::kMaxCheckpointFiles, diags);
    return std::nullopt;
  }
  for (const std::string& shard : shards)
    if (!AddFile(ck.dir, shard, &ck, diags)) return std::nullopt;
  if (!SortTensors(&ck, &index, diags) || !CheckIndex(ck, index, diags)) return std::nullopt;
  return ck;
}

}  // namespace

bool HasWeights(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if (::stat(Join(dir, kSafetensorsIndexName).c_str(), &st) == 0) return true;
  std::vector<std::string> names;
  std::string why;
  return ListSafetensors(dir, &names, &why) && !names.empty();
}

std::optional<Checkpoint> LoadCheckpoint(const std::string& dir, Diagnostics& diags) {
  Checkpoint ck;
  ck.dir = dir;
  std::string index_path = Join(dir, kSafetensorsIndexName);
  struct stat st;
  if (::stat(index_path.c_str(), &st) == 0) {
    ck.index_path = index_path;
    return LoadSharded(std::move(ck), diags);
  }
  std::vector<std::string> names;
  std::string why;
  if (!ListSafetensors(dir, &names, &why)) {
    diags.Report(DiagId::kFileUnreadable, {diags.sources().AddPath(dir), 0, 0, 0}, {dir, why});
    return std::nullopt;
  }
  // transformers loads model.safetensors when there is no index, whatever else lies beside it.
  if (std::binary_search(names.begin(), names.end(), "model.safetensors"))
    names = {"model.safetensors"};
  if (names.size() > 1) {
    std::string listed = "'" + names[0] + "' and '" + names[1] + "'";
    if (names.size() > 2) listed = "'" + names[0] + "', '" + names[1] + "', ...";
    diags.Report(DiagId::kCheckpointWithoutIndex, {diags.sources().AddPath(dir), 0, 0, 0},
                 {dir, std::to_string(names.size()), listed});
    return std::nullopt;
  }
  if (!names.empty() && (!AddFile(dir, names[0], &ck, diags) || !SortTensors(&ck, nullptr, diags)))
    return std::nullopt;
  return ck;
}

}  // namespace tpc
