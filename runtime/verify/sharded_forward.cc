// The sharded forward: one thread per rank walks the forward order; for each module it takes its
// inputs as the program's edges deliver them (a collective's result, a local slice of a replicated
// tensor, or the producer's tensor as it is), evaluates the module's op on the rank's parameters,
// then runs the collectives the program schedules right after it.
#include "runtime/verify/sharded_forward.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "runtime/communicator.h"

namespace tpc::verify {
namespace {

using namespace layouts;  // R, S, Q, P

// The dim a layout splits: the last (features, heads) or 1 (sequence).
int64_t DimOf(Layout l) { return l == Q ? 1 : -1; }

// What every rank shares: the schedule by module, the program's entries by tree name.
struct Schedule {
  std::vector<int> step_of;                    // module id -> index into program.steps, or -1
  std::vector<std::vector<const FlowEdge*>> in_edges;  // module id -> its input edges, in input order
  std::map<std::string, const ProgramParam*> entry;    // tree name -> its (first) entry
  std::map<std::string, std::map<std::string, int64_t>> attrs;  // module -> attribute -> local value
};

class Rank {
 public:
  Rank(const ReferenceModel& model, const Program& program, const Schedule& s, const std::vector<int>& order,
       Communicator& comm)
      : model_(model), g_(model.graph), p_(program), s_(s), order_(order), coll_(comm), rank_(comm.rank()) {}

  void Run(const StoredSource& stored, at::ScalarType dtype, const at::Tensor& ids) {
    std::string error;
    if (!LocalParams(p_, rank_, stored, &local_, &error)) throw std::runtime_error(error);
    for (auto& [name, lp] : local_)
      if (lp.tensor.defined()) lp.tensor = lp.tensor.to(dtype);
    positions_ = at::arange(ids.size(1), at::TensorOptions().dtype(at::kLong));
    values_.assign(g_.modules().size(), at::Tensor());
    for (int id : order_) {
      current_ = id;
      values_[id] = Module(id, ids);
    }
    current_ = -1;
  }

  // What it computed, finished or not: the modules after the one it stopped at stay undefined.
  void Take(RankRun* out) {
    out->values = std::move(values_);
    out->values.resize(g_.modules().size());
    out->performed = coll_.performed();
    out->stopped_at = current_;
  }

  std::string current() const { return current_ < 0 ? "" : g_.at(current_).name; }

 private:
  const ReferenceModel& model_;
  const ModelGraph& g_;
  const Program& p_;
  const Schedule& s_;
  const std::vector<int>& order_;
  TensorCollectives coll_;
  int rank_;
  std::map<std::string, LocalParam> local_;
  std::vector<at::Tensor> values_;
  std::map<int, at::Tensor> collected_;  // collective index -> its result on this rank
  at::Tensor positions_;
  int current_ = -1;  // the module being computed

  at::Tensor Apply(int c, const at::Tensor& x) {
    if (auto it = collected_.find(c); it != collected_.end()) return it->second;
    const Collective& k = p_.collectives.at(static_cast<size_t>(c));
    at::Tensor y;
    std::string error;
    bool ok = false;
    switch (k.kind) {
      case CollectiveKind::kAllReduce: ok = coll_.AllReduceSum(x, &y, &error); break;
      case CollectiveKind::kAllGather: ok = coll_.AllGather(x, DimOf(k.from), &y, &error); break;
      case CollectiveKind::kReduceScatter: ok = coll_.ReduceScatter(x, DimOf(k.to), &y, &error); break;
      case CollectiveKind::kAllToAll: ok = coll_.AllToAll(x, DimOf(k.from), DimOf(k.to), &y, &error); break;
    }
    if (!ok) throw std::runtime_error(std::string(CollectiveName(k.kind)) + " after '" + k.after + "': " + error);
    return collected_[c] = y;
  }

  // The tensor a module's input edge delivers.
  at::Tensor Input(const FlowEdge& e, Layout have) {
    at::Tensor x = values_.at(static_cast<size_t>(e.from));
    if (e.collective >= 0) return Apply(e.collective, x);
    if (have == R && (e.layout == S || e.layout == Q))  // a local slice, no traffic
      return TensorChunk(x, DimOf(e.layout), p_.tp, rank_).contiguous();
    return x;
  }

  Layout OutLayout(int id) const {
    int step = s_.step_of[id];
    return step < 0 ? R : p_.steps[static_cast<size_t>(step)].out;
  }

  // This rank's value of attribute `name` for attention `m` (set on it or an enclosing module).
  int64_t Heads(int id, const char* name, int64_t global) const {
    for (int at = id; at >= 0; at = g_.at(at).parent) {
      auto it = s_.attrs.find(g_.at(at).name);
      if (it == s_.attrs.end()) continue;
      if (auto v = it->second.find(name); v != it->second.end()) return v->second;
    }
    return global;
  }

  at::Tensor Module(int id, const at::Tensor& ids) {
    const tpc::Module& m = g_.at(id);
    ModuleCall c;
    c.module = &m;
    c.attrs = &model_.forward.modules[id];
    c.positions = positions_;
    c.heads = Heads(id, "num_heads", m.heads);
    c.kv_heads = Heads(id, "num_key_value_heads", m.kv_heads);
    const std::vector<const FlowEdge*>& edges = s_.in_edges[id];
    if (edges.size() != m.inputs.size())
      throw std::runtime_error("the program's schedule gives it " + std::to_string(edges.size()) + " inputs, the model " +
                               std::to_string(m.inputs.size()));
    for (const FlowEdge* e : edges) c.inputs.push_back(Input(*e, OutLayout(e->from)));
    if (m.kind == ModuleKind::kAttention && m.inputs.size() == 1) c.producer = &g_.at(m.inputs[0]);
    if (int router = RouterOf(g_, id); router >= 0) c.routing = values_[router];
    std::vector<const ProgramParam*> entries;
    for (const Param& prm : m.params) {
      std::string tree = m.name + "." + prm.name;
      auto it = local_.find(tree);
      if (it == local_.end() && m.tied_to >= 0) it = local_.find(g_.at(m.tied_to).name + "." + prm.name);
      auto e = s_.entry.find(tree);
      entries.push_back(e == s_.entry.end() ? nullptr : e->second);
      c.params.push_back(it == local_.end() ? at::Tensor() : it->second.tensor);
      if (it != local_.end() && !it->second.experts.empty()) c.first_expert = it->second.experts.front();
    }
    at::Tensor out;
    if (m.kind == ModuleKind::kEmbedding) {
      out = Embedding(ids, c, entries.empty() ? nullptr : entries[0]);
    } else {
      // A row-sharded linear computes a partial sum, and the program says how its bias joins it:
      // once (rank 0 adds it here), whole on every rank, or divided by tp on every rank.
      for (size_t i = 0; i < entries.size(); ++i) {
        if (!entries[i] || !c.params[i].defined()) continue;
        if (entries[i]->bias == BiasJoin::kOnce && rank_ != 0) c.params[i] = at::Tensor();
        if (entries[i]->bias == BiasJoin::kDivided) c.params[i] = c.params[i] / p_.tp;
      }
      bool owns_none = m.kind == ModuleKind::kExperts && !c.params.empty() && !c.params[0].defined();
      out = owns_none ? at::zeros_like(c.inputs.at(0)) : EvalModule(c);  // expert parallelism
    }
    // The collectives after it: its step's, minus those its input edges already ran; or the local
    // slice of its replicated result (--sp's sequence shards of a replicated embedding).
    int step = s_.step_of[id];
    if (step < 0) return out;
    const ModuleStep& st = p_.steps[static_cast<size_t>(step)];
    if (st.output_sliced) return TensorChunk(out, DimOf(st.out), p_.tp, rank_).contiguous();
    std::set<int> inputs;
    for (const FlowEdge* e : edges) inputs.insert(e->collective);
    for (int k : st.collectives)
      if (!inputs.count(k)) out = Apply(k, out);
    return out;
  }

  // An embedding on this rank: rows of a vocab shard answer only the ids from the program's offset
  // for the rank (zeros elsewhere: a partial sum); a hidden-dim shard looks every id up.
  at::Tensor Embedding(const at::Tensor& ids, ModuleCall& c, const ProgramParam* entry) {
    if (!entry || entry->placement != Placement{Placement::kShard, 0}) {
      c.inputs.insert(c.inputs.begin(), ids);
      return EvalModule(c);
    }
    const std::vector<Slice>& mine = entry->ranks.at(static_cast<size_t>(rank_));
    int64_t start = mine.empty() ? 0 : mine.front().start, rows = c.params.at(0).size(0);
    if (!entry->vocab_offsets.empty()) start = entry->vocab_offsets.at(static_cast<size_t>(rank_));
    at::Tensor local = ids - start;
    at::Tensor inside = (local >= 0).logical_and(local < rows);
    if (rows == 0) {
      std::vector<int64_t> shape = ids.sizes().vec();
      shape.push_back(c.params[0].size(1));
      return at::zeros(shape, c.params[0].options());
    }
    c.inputs.insert(c.inputs.begin(), local.clamp(0, rows - 1));
    return EvalModule(c) * inside.unsqueeze(-1).to(c.params[0].scalar_type());
  }
};

Schedule MakeSchedule(const ModelGraph& g, const Program& p) {
  Schedule s;
  s.step_of.assign(g.modules().size(), -1);
  s.in_edges.assign(g.modules().size(), {});
  for (size_t i = 0; i < p.steps.size(); ++i) s.step_of.at(static_cast<size_t>(p.steps[i].module)) = static_cast<int>(i);
  for (const FlowEdge& e : p.edges) s.in_edges.at(static_cast<size_t>(e.to)).push_back(&e);
  for (const ProgramParam& e : p.params)
    if (e.kind == EntryKind::kParam) s.entry.emplace(e.tree.empty() ? e.name : e.tree, &e);
  for (const Attribute& a : p.attributes) s.attrs[a.module][a.name] = a.value;
  return s;
}

// What running `program` needs: no LoRA, an acyclic dataflow, a step for every module.
bool Runnable(const ModelGraph& g, const Program& program, std::vector<int>* order, Schedule* s, std::string* err) {
  if (program.lora) return *err = "a program with LoRA adapters is not verified (compile it without --lora)", false;
  *order = ForwardOrder(g);
  if (order->empty()) return *err = "the model's dataflow has a cycle", false;
  *s = MakeSchedule(g, program);
  for (int id : *order)
    if (s->step_of[id] < 0) return *err = "the program has no step for '" + g.at(id).name + "'", false;
  return true;
}

// One rank on a schedule Runnable made (shared by the in-process ranks).
bool RunRank(const ReferenceModel& model, const Program& program, const Schedule& s, const std::vector<int>& order,
             const StoredSource& stored, at::ScalarType dtype, const at::Tensor& ids, Communicator& comm, RankRun* out,
             std::string* err) {
  Rank rank(model, program, s, order, comm);
  std::string why;
  try {
    rank.Run(stored, dtype, ids);
  } catch (const c10::Error& e) {
    why = e.what_without_backtrace();
  } catch (const std::exception& e) {
    why = e.what();
  }
  rank.Take(out);  // what it computed, finished or not
  if (why.empty()) return true;
  out->error = "rank " + std::to_string(comm.rank()) + ", '" + rank.current() + "': " + why;
  return *err = out->error, false;
}

}  // namespace

bool RunShardedRank(const ReferenceModel& model, const Program& program, const StoredSource& stored,
                    at::ScalarType dtype, const at::Tensor& ids, Communicator& comm, RankRun* out, std::string* err) {
  std::vector<int> order;
  Schedule s;
  if (!Runnable(model.graph, program, &order, &s, err)) return out->error = *err, false;
  return RunRank(model, program, s, order, stored, dtype, ids, comm, out, err);
}

void ShardedLayouts(const ReferenceModel& model, const Program& program, ShardedRun* out) {
  const ModelGraph& g = model.graph;
  Schedule s = MakeSchedule(g, program);
  out->layouts.assign(g.modules().size(), R);
  out->ran.assign(g.modules().size(), false);
  for (int id : ForwardOrder(g)) {
    if (s.step_of[id] < 0) continue;
    out->layouts[id] = program.steps[static_cast<size_t>(s.step_of[id])].out;
    bool all = true;  // every rank computed it
    for (const RankRun& r : out->ranks)
      all &= static_cast<size_t>(id) < r.values.size() && r.values[static_cast<size_t>(id)].defined();
    out->ran[id] = all;
  }
}

bool RunShardedForward(const ReferenceModel& model, const Program& program, const StoredSource& stored,
                       at::ScalarType dtype, const at::Tensor& ids, ShardedRun* out, std::string* err) {
  std::vector<int> order;
  Schedule s;
  if (!Runnable(model.graph, program, &order, &s, err)) return false;
  // Each stored tensor is read once and shared: every rank slices the same whole tensor.
  std::mutex read_mu;
  std::map<std::string, at::Tensor> read;
  StoredSource once = [&](const std::string& name) {
    std::lock_guard<std::mutex> lock(read_mu);
    auto it = read.find(name);
    return it != read.end() ? it->second : (read[name] = stored(name));
  };
  auto comms = InProcessCommunicator::Create(program.tp, std::chrono::milliseconds(20000));
  out->ranks.assign(static_cast<size_t>(program.tp), RankRun());
  std::atomic<int> failures{0};  // the first rank to fail is the cause; the others fail waiting on it
  std::vector<std::thread> threads;
  for (int r = 0; r < program.tp; ++r)
    threads.emplace_back([&, r] {
      std::string why;  // also in the rank's error
      size_t i = static_cast<size_t>(r);
      if (!RunRank(model, program, s, order, once, dtype, ids, *comms[i], &out->ranks[i], &why)) {
        out->ranks[i].failure = failures++;
        comms[i]->Leave(out->ranks[i].stopped_at < 0 ? "" : "at '" + model.graph.at(out->ranks[i].stopped_at).name + "'");
      }
    });
  for (std::thread& t : threads) t.join();
  ShardedLayouts(model, program, out);
  for (const RankRun& r : out->ranks)
    if (r.failure == 0) return *err = r.error, false;
  return true;
}

at::Tensor GlobalView(const ShardedRun& run, int m, int64_t width) {
  std::vector<at::Tensor> parts;
  for (const RankRun& r : run.ranks) parts.push_back(r.values.at(static_cast<size_t>(m)));
  switch (run.layouts.at(static_cast<size_t>(m))) {
    case Layout::kReplicate: return parts.at(0);
    case Layout::kShardLast: {
      at::Tensor all = at::cat(parts, -1);
      int64_t k = width > 0 && all.size(-1) % width == 0 ? all.size(-1) / width : 1;
      if (k <= 1 || parts.size() % static_cast<size_t>(k) != 0) return all;
      // Replicated KV heads: ranks r*k .. r*k+k-1 hold the same heads; one of each group.
      std::vector<at::Tensor> distinct;
      for (size_t r = 0; r < parts.size(); r += static_cast<size_t>(k)) distinct.push_back(parts[r]);
      return at::cat(distinct, -1);
    }
    case Layout::kShardSeq: return at::cat(parts, 1);
    case Layout::kPartial: {
      at::Tensor sum = parts.at(0).clone();
      for (size_t i = 1; i < parts.size(); ++i) sum.add_(parts[i]);
      return sum;
    }
  }
  return at::Tensor();
}

}  // namespace tpc::verify
