#include "ir/model_graph.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#include <iterator>


namespace tpc {
namespace {

struct RoleRow {
  Role role;
  const char* name;
  bool attention;  ///< a projection of an attention block
};

// One row per role; ParseRole, RoleName and the schema's role enum all follow it.
constexpr RoleRow kRoles[] = {
    {Role::kEmbed, "embed", false},
    {Role::kLmHead, "lm_head", false},
    {Role::kNorm, "norm", false},
    {Role::kAttnQ, "attn_q", true},
    {Role::kAttnK, "attn_k", true},
    {Role::kAttnV, "attn_v", true},
    {Role::kAttnKv, "attn_kv", true},
    {Role::kAttnQkv, "attn_qkv", true},
    {Role::kAttnO, "attn_o", true},
    {Role::kAttnLinear, "attn_linear", true},
    {Role::kMlaQA, "mla_q_a", false},
    {Role::kMlaKvA, "mla_kv_a", false},
    {Role::kMlpGate, "mlp_gate", false},
    {Role::kMlpUp, "mlp_up", false},
    {Role::kMlpGateUp, "mlp_gate_up", false},
    {Role::kMlpDown, "mlp_down", false},
    {Role::kMlpLinear, "mlp_linear", false},
    {Role::kRouter, "router", false},
    {Role::kSharedExpertGate, "shared_expert_gate", false},
    {Role::kMixer, "mixer", false},
    {Role::kGateUp, "gate_up", false},
    {Role::kDown, "down", false},
};

const RoleRow* RowOf(Role r) {
  for (const RoleRow& row : kRoles)
    if (row.role == r) return &row;
  return nullptr;
}

}  // namespace

const char* RoleName(Role r) {
  const RoleRow* row = RowOf(r);
  return row ? row->name : "";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const RoleRow& row : kRoles)
    if (name == row.name) return row.role;
  return std::nullopt;
}

std::vector<std::string> RoleNames() {
  std::vector<std::string> out;
  for (const RoleRow& row : kRoles) out.emplace_back(row.name);
  return out;
}

bool IsAttentionRole(Role r) {
  const RoleRow* row = RowOf(r);
  return row && row->attention;
}

const char* KindName(ModuleKind k) {
  switch (k) {
    case ModuleKind::kContainer: return "container module";
    case ModuleKind::kLinear: return "linear layer";
    case ModuleKind::kEmbedding: return "embedding";
    case ModuleKind::kNorm: return "norm";
    case ModuleKind::kAttention: return "attention";
    case ModuleKind::kAdd: return "residual add";
    case ModuleKind::kMul: return "elementwise product";
    case ModuleKind::kRouter: return "MoE router";
    case ModuleKind::kExperts: return "MoE experts module";
    case ModuleKind::kMixer: return "mixer";
  }
  return "?";
}

int ModelGraph::Add(Module m) {
  // Parents exist before children (named_modules() order): create the missing ones, nearest first
  // found, so a module whose parent already exists costs one lookup.
  size_t dot = m.name.rfind('.');
  if (dot != std::string::npos) {
    std::string_view parent_name = std::string_view(m.name).substr(0, dot);
    int parent = Find(parent_name);
    if (parent < 0) {
      Module c;
      c.name = std::string(parent_name);
      c.layer = m.layer;
      parent = Add(std::move(c));
    }
    m.parent = parent;
  }
  auto [it, inserted] = by_name_.try_emplace(m.name, static_cast<int>(modules_.size()));
  if (!inserted) {
    // A container created implicitly is now declared for real.
    m.parent = modules_[it->second].parent;
    modules_[it->second] = std::move(m);
    return it->second;
  }
  modules_.push_back(std::move(m));
  return it->second;
}

int ModelGraph::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

Dataflow ModelGraph::Flow() const {
  Dataflow f;
  f.users.assign(modules_.size(), {});
  if (!ForwardOrder(&f.order)) f.order.clear();  // templates are checked acyclic in tests
  for (int m : f.order)
    for (int in : modules_[m].inputs) f.users[in].push_back(m);
  return f;
}

bool ModelGraph::Inside(int m, int container) const {
  for (int p = modules_[m].parent; p >= 0; p = modules_[p].parent)
    if (p == container) return true;
  return false;
}

bool ModelGraph::ForwardOrder(std::vector<int>* order) const {
  // The expander only accepts inputs declared earlier, so ids usually are a forward order already;
  // any other graph goes through Boost's topological sort, which also detects cycles.
  bool ids_in_order = true;
  for (size_t v = 0; v < modules_.size() && ids_in_order; ++v)
    for (int u : modules_[v].inputs) ids_in_order &= u < static_cast<int>(v);
  if (ids_in_order) {
    order->clear();
    for (size_t v = 0; v < modules_.size(); ++v)
      if (modules_[v].kind != ModuleKind::kContainer) order->push_back(static_cast<int>(v));
    return true;
  }
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  Graph g(modules_.size());
  for (size_t v = 0; v < modules_.size(); ++v)
    for (int u : modules_[v].inputs) boost::add_edge(u, v, g);
  std::vector<Graph::vertex_descriptor> reversed;
  try {
    boost::topological_sort(g, std::back_inserter(reversed));
  } catch (const boost::not_a_dag&) {
    return false;
  }
  order->clear();
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it) {
    const Module& m = modules_[*it];
    if (m.kind != ModuleKind::kContainer) order->push_back(static_cast<int>(*it));
  }
  return true;
}

std::vector<Segment> PackedSegments(const Module& m, int64_t n) {
  int64_t sum = 0;
  for (const Segment& s : m.segments) sum += s.rows;
  if (!m.segments.empty() && sum == n) return m.segments;
  return {{"gate", n / 2}, {"up", n - n / 2}};
}

}  // namespace tpc
