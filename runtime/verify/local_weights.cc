// Assembling a rank's module-tree parameters from the program's entries.
#include "runtime/verify/local_weights.h"

#include <algorithm>

#include "support/strings.h"

namespace tpc {
namespace {

// The pieces of one tree parameter held by a rank, in program order, grouped by expert.
struct Pieces {
  std::map<int, std::vector<at::Tensor>> by_expert;  // expert (-1: not per expert) -> pieces in order
  bool any_held = false;
};

}  // namespace

at::Tensor RankSlice(const ProgramParam& entry, int rank, const at::Tensor& source) {
  if (!entry.HeldBy(rank)) return at::Tensor();
  if (entry.placement.kind != Placement::kShard || rank >= static_cast<int>(entry.ranks.size())) return source;
  int64_t dim = entry.placement.dim;
  std::vector<at::Tensor> parts;
  for (const Slice& s : entry.ranks[rank]) parts.push_back(source.narrow(dim, s.start, s.length));
  if (parts.empty()) {  // a rank with no rows of an uneven split
    std::vector<int64_t> shape = source.sizes().vec();
    shape[dim] = 0;
    return at::empty(shape, source.options());
  }
  return parts.size() == 1 ? parts[0].contiguous() : at::cat(parts, dim);
}

bool LocalParams(const Program& program, int rank, const StoredSource& stored,
                 std::map<std::string, LocalParam>* out, std::string* error) {
  std::map<std::string, Pieces> trees;
  std::vector<std::string> order;
  for (const ProgramParam& e : program.params) {
    if (e.kind != EntryKind::kParam) continue;
    std::string tree = e.tree.empty() ? e.name : e.tree;
    if (!trees.count(tree)) order.push_back(tree);
    Pieces& p = trees[tree];
    at::Tensor whole = stored(e.source);
    if (!whole.defined()) return *error = "the checkpoint has no tensor '" + e.source + "'", false;
    if (whole.sizes().vec() != e.global_shape)
      return *error = "'" + e.source + "' is " + ShapeText(whole.sizes().vec()) + " in the checkpoint, " +
                      ShapeText(e.global_shape) + " in the program", false;
    at::Tensor mine = RankSlice(e, rank, whole);
    if (!mine.defined()) continue;
    p.by_expert[e.expert].push_back(mine);
    p.any_held = true;
  }
  out->clear();
  for (const std::string& tree : order) {
    Pieces& p = trees[tree];
    LocalParam lp;
    if (!p.any_held) {
      (*out)[tree] = lp;
      continue;
    }
    std::vector<at::Tensor> experts;
    for (auto& [expert, parts] : p.by_expert) {
      at::Tensor t = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
      if (expert < 0) {
        lp.tensor = t;
      } else {
        lp.experts.push_back(expert);
        experts.push_back(t);
      }
    }
    if (!experts.empty()) lp.tensor = at::stack(experts, 0);
    (*out)[tree] = std::move(lp);
  }
  return true;
}

}  // namespace tpc
