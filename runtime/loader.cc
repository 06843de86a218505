#include "runtime/loader.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include "runtime/checkpoint_files.h"
#include "runtime/device_loader.h"
#include "runtime/load_verify.h"
#include "runtime/shard_plan.h"
#include "support/limits.h"

namespace tpc {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

SourceLoc FileLoc(Diagnostics& diags, const std::string& path) { return {diags.sources().AddPath(path), 0, 0, 0}; }

// Where the batch that starts at tensor `i` ends: consecutive tensors up to `limit` bytes in one
// message (one tensor when it alone is larger). Sender and receiver compute it from the same sizes.
size_t BatchEnd(const std::vector<uint64_t>& sizes, size_t i, uint64_t limit) {
  uint64_t total = sizes[i];
  size_t j = i + 1;
  while (j < sizes.size() && total + sizes[j] <= limit) total += sizes[j++];
  return j;
}

// The tensors rank `r` holds, from the program alone (what a rank of --source root expects).
std::vector<LoadedTensor> Expected(const Program& p, int r) {
  std::vector<LoadedTensor> out;
  for (const ProgramParam& e : p.params) {
    if (e.kind == EntryKind::kLora || e.source.empty() || !e.HeldBy(r)) continue;
    LoadedTensor t{e.name, e.dtype, e.LocalShape(r), {}};
    out.push_back(std::move(t));
  }
  return out;
}

uint64_t ExpectedBytes(const LoadedTensor& t) {
  uint64_t n = static_cast<uint64_t>(std::max(0, SafetensorsDtypeBits(t.dtype)));
  for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
  return n / 8;
}

class Loader {
 public:
  Loader(const Program& p, const std::string& dir, Communicator& comm, const LoadOptions& opts, LoadedShards* out,
         Diagnostics& diags)
      : p_(p), dir_(dir), comm_(comm), opts_(opts), out_(out), diags_(diags), ctx_{p, comm, diags} {}

  bool Run() {
    int rank = comm_.rank();
    if (comm_.world_size() != p_.tp) {
      diags_.Report(DiagId::kLoadWorldSize, FileLoc(diags_, opts_.program_path),
                    {std::to_string(comm_.world_size()), opts_.program_path, std::to_string(p_.tp)});
      return false;
    }
    if (opts_.device && !opts_.device_comm &&
        (opts_.source == LoadOptions::Source::kRoot || opts_.verify == LoadOptions::Verify::kGather))
      return DeviceFailed("--source root and --verify gather on a device need a device communicator (NCCL)");
    *out_ = {};
    out_->rank = rank;
    out_->tensors = Expected(p_, rank);
    // Rank 0 plans every rank (it sends them, or checks them); in --source local each plans itself.
    bool all = rank == 0 && (opts_.source == LoadOptions::Source::kRoot || opts_.verify != LoadOptions::Verify::kNone);
    bool plans = all || opts_.source == LoadOptions::Source::kLocal;
    if (plans && ReadCheckpointHeaders(p_, opts_.program_path, dir_, &headers_, diags_))
      PlanShards(p_, opts_.program_path, headers_, all ? 0 : rank, all ? p_.tp - 1 : rank, &plan_, diags_);
    if (!Agree(ctx_)) return false;
    if (plans) files_ = std::make_unique<CheckpointFiles>(dir_, plan_.files);

    auto start = Clock::now();
    bool root = opts_.source == LoadOptions::Source::kRoot;
    if (!opts_.device) !root ? ReadOwn() : rank == 0 ? SendAll() : ReceiveAll();
    else if (AllocDevice()) !root ? StageOwn() : rank == 0 ? StageAll() : ReceiveOnDevice();
    out_->seconds = Since(start);
    for (const LoadedTensor& t : out_->tensors) out_->bytes += opts_.device ? ExpectedBytes(t) : t.bytes.size();
    if (!Agree(ctx_)) return false;

    start = Clock::now();
    // On a device, --verify checksum hashes the tensors copied back.
    bool ok = !opts_.device || opts_.verify != LoadOptions::Verify::kChecksum || CopyBack();
    if (ok && opts_.verify == LoadOptions::Verify::kChecksum)
      ok = VerifyChecksum(ctx_, opts_, *out_, rank == 0 ? &plan_ : nullptr,
                          [&](const OutTensor& t, Bytes* b) {
                            return ReadTensor(*files_, t, opts_.window_bytes, b, diags_);
                          });
    else if (ok && opts_.verify == LoadOptions::Verify::kGather)
      ok = VerifyGather(ctx_, *out_, [&](const ProgramParam& e, Bytes* b) { return ReadWhole(e, b); },
                        opts_.device ? GatherFn([this](const ProgramParam& e, int k, std::vector<Bytes>* parts,
                                                       std::string* error) { return GatherOnDevice(e, k, parts, error); })
                                     : GatherFn());
    for (LoadedTensor& t : out_->tensors)
      if (opts_.device) Bytes().swap(t.bytes);
    out_->verify_seconds = Since(start);
    return ok;
  }

 private:
  const RankPlan* PlanOf(int r) const {
    for (const RankPlan& k : plan_.ranks)
      if (k.rank == r) return &k;
    return nullptr;
  }

  void ReadOwn() {
    const RankPlan* mine = PlanOf(comm_.rank());
    for (size_t i = 0; i < mine->tensors.size() && i < out_->tensors.size(); ++i)
      if (!ReadTensor(*files_, mine->tensors[i], opts_.window_bytes, &out_->tensors[i].bytes, diags_)) return;
  }

  // The status message before each batch: empty, or rank 0's error.
  bool SendStatus(const std::string& status, int r, std::string* error) {
    return comm_.Send(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(status.data()), status.size()), r,
                      error);
  }
  // False when rank 0 sent its error (reported) or the message did not arrive.
  bool RecvStatus() {
    Bytes status;
    std::string error;
    if (!comm_.Recv(&status, 0, &error)) return CommFailed(ctx_, error), false;
    if (status.empty()) return true;
    diags_.Report(DiagId::kLoadRankFailed, FileLoc(diags_, opts_.program_path),
                  {"0", std::string(status.begin(), status.end())});
    return false;
  }

  // Rank 0 sends each rank its tensors in batches (BatchEnd), each after a status message: empty, or
  // rank 0's error, after which it sends that rank nothing more, so that every rank reaches the
  // agreement that follows. One message per small tensor would cost a round trip each.
  void SendAll() {
    std::string error;
    for (int r = 1; r < p_.tp; ++r) {
      const std::vector<OutTensor>& ts = PlanOf(r)->tensors;
      std::vector<uint64_t> sizes;
      for (const OutTensor& t : ts) sizes.push_back(t.bytes);
      for (size_t i = 0; i < ts.size();) {
        size_t end = BatchEnd(sizes, i, opts_.window_bytes);
        Bytes batch;
        std::string status = FirstError(diags_);
        for (size_t k = i; k < end && status.empty(); ++k) {
          batch.resize(batch.size() + ts[k].bytes);
          uint8_t* into = batch.data() + batch.size() - ts[k].bytes;
          if (!ReadTensor(*files_, ts[k], opts_.window_bytes, into, diags_)) status = FirstError(diags_);
        }
        if (!SendStatus(status, r, &error) || (status.empty() && !comm_.Send(batch, r, &error)))
          return CommFailed(ctx_, error);
        if (!status.empty()) break;
        i = end;
      }
    }
    if (!diags_.has_errors()) ReadOwn();
  }

  void ReceiveAll() {
    std::string error;
    std::vector<LoadedTensor>& ts = out_->tensors;
    std::vector<uint64_t> sizes;
    for (const LoadedTensor& t : ts) sizes.push_back(ExpectedBytes(t));
    for (size_t i = 0; i < ts.size();) {
      size_t end = BatchEnd(sizes, i, opts_.window_bytes);
      Bytes batch;
      if (!RecvStatus()) return;
      if (!comm_.Recv(&batch, 0, &error)) return CommFailed(ctx_, error);
      uint64_t want = 0;
      for (size_t k = i; k < end; ++k) want += sizes[k];
      if (batch.size() != want) {
        diags_.Report(DiagId::kLoadRankFailed, FileLoc(diags_, opts_.program_path),
                      {"0", "it sent " + std::to_string(batch.size()) + " bytes for '" + ts[i].name + "' and the " +
                                std::to_string(end - i - 1) + " tensors after it, which hold " + std::to_string(want) +
                                " on rank " + std::to_string(comm_.rank())});
        return;
      }
      uint64_t at = 0;
      for (size_t k = i; k < end; at += sizes[k++])
        ts[k].bytes.assign(batch.begin() + static_cast<long>(at), batch.begin() + static_cast<long>(at + sizes[k]));
      i = end;
    }
  }

  // --device: the device part of the steps above (device_loader.h), with the same batches and status
  // messages over the host communicator; the bytes themselves go through NCCL.
  bool DeviceFailed(const std::string& error) {
    if (!error.empty())
      diags_.Report(DiagId::kLoadRankFailed, FileLoc(diags_, opts_.program_path), {std::to_string(comm_.rank()), error});
    return false;
  }

  bool AllocDevice() {
    std::vector<uint64_t> sizes;
    for (const LoadedTensor& t : out_->tensors) sizes.push_back(ExpectedBytes(t));
    std::vector<uint8_t*> parts;
    std::string error;
    if (!AllocParts(*opts_.device, sizes, &parts, &out_->device_memory, &error)) return DeviceFailed(error);
    for (size_t k = 0; k < parts.size(); ++k) out_->tensors[k].device = parts[k];
    return true;
  }

  Stager& stager() {
    if (!stager_)
      // The stager reads a large window on several threads: only the diagnostic needs the lock.
      stager_ = std::make_unique<Stager>(*opts_.device, opts_.window_bytes, [this](int f, uint64_t at, uint8_t* to,
                                                                                   uint64_t n) {
        std::string reason = files_->Pread(f, at, to, n);
        if (reason.empty()) return true;
        std::lock_guard lock(report_mu_);
        return files_->Report(f, at, n, reason, diags_);
      });
    return *stager_;
  }

  void StageOwn() {
    const RankPlan* mine = PlanOf(comm_.rank());
    std::string error;
    for (size_t i = 0; i < mine->tensors.size() && i < out_->tensors.size(); ++i)
      if (!stager().Stage(mine->tensors[i], static_cast<uint8_t*>(out_->tensors[i].device), &error))
        return (void)DeviceFailed(error);
    if (!stager().Finish(&error)) DeviceFailed(error);
  }

  // Rank 0 stages each batch of a peer's tensors in one device buffer and sends them in one group.
  void StageAll() {
    std::string error;
    uint64_t capacity = 0;
    std::vector<uint8_t*> temp;
    std::shared_ptr<void> owner;
    for (int r = 1; r < p_.tp; ++r) {
      const std::vector<OutTensor>& ts = PlanOf(r)->tensors;
      std::vector<uint64_t> sizes;
      for (const OutTensor& t : ts) sizes.push_back(t.bytes);
      for (size_t i = 0; i < ts.size();) {
        size_t end = BatchEnd(sizes, i, opts_.window_bytes);
        uint64_t want = 0;
        for (size_t k = i; k < end; ++k) want += sizes[k];
        std::string status = FirstError(diags_);
        if (status.empty() && want > capacity) {
          owner.reset();
          capacity = want;
          if (!AllocParts(*opts_.device, {want}, &temp, &owner, &error)) status = (DeviceFailed(error), FirstError(diags_));
        }
        std::vector<DeviceTransfer> sends;
        for (size_t k = i, at = 0; k < end && status.empty(); at += sizes[k++]) {
          if (!stager().Stage(ts[k], temp[0] + at, &error)) status = (DeviceFailed(error), FirstError(diags_));
          sends.push_back({temp[0] + at, sizes[k], r, true});
        }
        if (!SendStatus(status, r, &error)) return CommFailed(ctx_, error);
        if (!status.empty()) break;
        if (!opts_.device_comm->Exchange(sends, &error)) return CommFailed(ctx_, error);
        i = end;
      }
    }
    if (!diags_.has_errors()) StageOwn();
  }

  void ReceiveOnDevice() {
    std::string error;
    std::vector<LoadedTensor>& ts = out_->tensors;
    std::vector<uint64_t> sizes;
    for (const LoadedTensor& t : ts) sizes.push_back(ExpectedBytes(t));
    for (size_t i = 0; i < ts.size();) {
      size_t end = BatchEnd(sizes, i, opts_.window_bytes);
      if (!RecvStatus()) return;
      std::vector<DeviceTransfer> recvs;
      for (size_t k = i; k < end; ++k) recvs.push_back({ts[k].device, sizes[k], 0, false});
      if (!opts_.device_comm->Exchange(recvs, &error)) return CommFailed(ctx_, error);
      i = end;
    }
  }

  bool CopyBack() {
    std::string error;
    for (LoadedTensor& t : out_->tensors) {
      t.bytes.resize(ExpectedBytes(t));
      if (!opts_.device->CopyOut(t.bytes.data(), t.device, t.bytes.size(), &error)) return DeviceFailed(error);
    }
    return true;
  }

  bool GatherOnDevice(const ProgramParam& e, int k, std::vector<Bytes>* parts, std::string* error) {
    std::vector<uint64_t> sizes;
    for (int r = 0; r < p_.tp; ++r) sizes.push_back(e.HeldBy(r) ? ExpectedBytes({e.name, e.dtype, e.LocalShape(r), {}}) : 0);
    const void* mine = k < 0 ? nullptr : out_->tensors[static_cast<size_t>(k)].device;
    return GatherParts(*opts_.device, *opts_.device_comm, sizes, comm_.rank(), mine, parts, error);
  }

  // The stored tensor an entry reads, whole, as the checkpoint holds it.
  bool ReadWhole(const ProgramParam& e, Bytes* bytes) {
    const SafetensorsHeader& h = headers_.at(e.file);
    for (const SafetensorsTensor& t : h.tensors)
      if (t.name == e.source) {
        int f = static_cast<int>(std::find(plan_.files.begin(), plan_.files.end(), e.file) - plan_.files.begin());
        if (f == static_cast<int>(plan_.files.size())) return false;
        bytes->resize(t.end - t.begin);
        return files_->Read(f, 8 + h.header_bytes + t.begin, bytes->data(), bytes->size(), diags_);
      }
    return false;
  }

  const Program& p_;
  const std::string& dir_;
  Communicator& comm_;
  const LoadOptions& opts_;
  LoadedShards* out_;
  Diagnostics& diags_;
  VerifyContext ctx_;
  CheckpointHeaders headers_;
  ShardPlan plan_;
  std::unique_ptr<CheckpointFiles> files_;
  std::unique_ptr<Stager> stager_;
  std::mutex report_mu_;
};

}  // namespace

bool LoadShards(const Program& program, const std::string& weights_dir, Communicator& comm, const LoadOptions& opts,
                LoadedShards* out, Diagnostics& diags) {
  if (Loader(program, weights_dir, comm, opts, out, diags).Run()) return true;
  // Not the tensors read before the failure, nor the half of one a short read left: a caller that
  // ignores the result finds nothing to use. The device memory stays with `out` (a peer's transfer
  // into it may still be pending on a broken communicator; freeing it here could wait on that).
  out->tensors.clear();
  out->bytes = 0;
  out->sha256.clear();
  return false;
}

}  // namespace tpc
