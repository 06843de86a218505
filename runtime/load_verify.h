// The agreement and verification steps of LoadShards (loader.cc): what every rank calls together.
#ifndef TPC_RUNTIME_LOAD_VERIFY_H_
#define TPC_RUNTIME_LOAD_VERIFY_H_

#include <functional>
#include <string>

#include "ir/program.h"
#include "runtime/communicator.h"
#include "runtime/loader.h"
#include "runtime/shard_plan.h"
#include "support/diagnostics.h"

namespace tpc {

struct VerifyContext {
  const Program& program;
  Communicator& comm;
  Diagnostics& diags;
  bool broken = false;  ///< a communication failed: no rank is waited for again
};

/// "message [code]" of the first error in `diags`, or "".
std::string FirstError(const Diagnostics& diags);

/// Reports a failed communication and marks the context broken.
void CommFailed(VerifyContext& ctx, const std::string& error);

/// Every rank shares its first error (or none); each reports the others' errors, except those that
/// relay an error of another rank it has already reported or that is its own. True when no rank
/// has one.
bool Agree(VerifyContext& ctx);

/// --verify checksum: each rank's SHA-256 against what rank 0 computes for it from the checkpoint
/// with `plan` (all ranks; null on the others), or, with `opts.manifest`, against the SHA-256 of the
/// rank file `tpc-run shard` recorded. Sets `loaded.sha256`.
bool VerifyChecksum(VerifyContext& ctx, const LoadOptions& opts, LoadedShards& loaded, const ShardPlan* plan,
                    const std::function<bool(const OutTensor&, Bytes*)>& read);

/// --verify gather: every stored tensor's local bytes gathered from every rank, put together by the
/// program's slices (rows along the shard dim; whole tensors on replicas and owners) and compared on
/// rank 0 with the tensor `read_whole` reads from the checkpoint.
/// `gather`, when given, replaces the host all-gather: every rank's local bytes of `e` in rank order,
/// this rank's being its tensor `k` (-1: none), e.g. gathered in device memory and copied back.
using GatherFn = std::function<bool(const ProgramParam& e, int k, std::vector<Bytes>* parts, std::string* error)>;
bool VerifyGather(VerifyContext& ctx, const LoadedShards& loaded,
                  const std::function<bool(const ProgramParam&, Bytes*)>& read_whole, const GatherFn& gather = {});

}  // namespace tpc

#endif  // TPC_RUNTIME_LOAD_VERIFY_H_
