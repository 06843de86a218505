// --dot: one decoder block as Graphviz, written by Boost.Graph's write_graphviz_dp. Modules are
// boxes labelled with their weight placement, edges carry the activation layout, collectives are
// red nodes on the edges where they run.
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graphviz.hpp>
#include <map>
#include <set>
#include <sstream>

#include "backend/emit_program.h"
#include "backend/explain_rows.h"

namespace tpc {
namespace {

struct Vertex {
  std::string label;
  std::string shape = "box";
  std::string color = "black";
};
struct Edge {
  std::string label;
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, Vertex, Edge>;
using VertexId = Graph::vertex_descriptor;

class BlockGraph {
 public:
  BlockGraph(const Program& p, const ModelGraph& model) : p_(p), model_(model) {}

  std::string Render() {
    int layer = FirstLayer(p_, model_);
    std::vector<char> in_block(model_.modules().size(), 0);
    for (const ModuleStep& s : p_.steps)
      if (model_.at(s.module).layer == layer && layer >= 0) in_block[s.module] = 1;
    std::map<int, std::vector<int>> inner;  // module -> collectives that run right after it
    for (const ModuleStep& s : p_.steps) {
      if (!in_block[s.module]) continue;
      modules_[s.module] = Add({ModuleLabel(p_, model_, s), "box", "black"});
      for (int c : s.collectives)
        if (!OnInputEdge(s.module, c)) inner[s.module].push_back(c);
    }
    // Chain each module through the collectives after it: m -> c1 -> c2 -> consumers.
    std::map<int, std::pair<VertexId, Layout>> exit;
    for (const ModuleStep& s : p_.steps) {
      if (!in_block[s.module]) continue;
      VertexId v = modules_[s.module];
      Layout l = s.out;
      for (int c : inner[s.module]) {
        VertexId cv = Collective(c);
        boost::add_edge(v, cv, Edge{LayoutName(p_.collectives[c].from)}, g_);
        v = cv;
      }
      exit[s.module] = {v, l};
    }
    VertexId input = 0, output = 0;
    bool has_input = false, has_output = false;
    for (const FlowEdge& e : p_.edges) {
      bool from_in = e.from >= 0 && in_block[e.from], to_in = in_block[e.to];
      if (!from_in && !to_in) continue;
      VertexId src;
      if (from_in) {
        src = exit[e.from].first;
      } else {
        if (!has_input) input = Add({"block input", "ellipse", "gray40"}), has_input = true;
        src = input;
      }
      VertexId dst;
      if (to_in) {
        dst = modules_[e.to];
      } else {
        if (!has_output) output = Add({"block output", "ellipse", "gray40"}), has_output = true;
        dst = output;
      }
      if (e.collective >= 0) {
        VertexId cv = Collective(e.collective);
        if (!linked_.count({src, cv})) {
          boost::add_edge(src, cv, Edge{LayoutName(p_.collectives[e.collective].from)}, g_);
          linked_.insert({src, cv});
        }
        src = cv;
      }
      boost::add_edge(src, dst, Edge{LayoutName(e.layout)}, g_);
    }
    boost::dynamic_properties dp;
    dp.property("node_id", boost::get(boost::vertex_index, g_));
    dp.property("label", boost::get(&Vertex::label, g_));
    dp.property("shape", boost::get(&Vertex::shape, g_));
    dp.property("color", boost::get(&Vertex::color, g_));
    dp.property("label", boost::get(&Edge::label, g_));
    std::ostringstream out;
    boost::write_graphviz_dp(out, g_, dp);
    return out.str();
  }

 private:
  const Program& p_;
  const ModelGraph& model_;
  Graph g_;
  std::map<int, VertexId> modules_;
  std::map<int, VertexId> collectives_;
  std::set<std::pair<VertexId, VertexId>> linked_;

  VertexId Add(Vertex v) { return boost::add_vertex(std::move(v), g_); }

  VertexId Collective(int c) {
    if (auto it = collectives_.find(c); it != collectives_.end()) return it->second;
    return collectives_[c] = Add({CollectiveLabel(p_.collectives[c]), "octagon", "red"});
  }

  bool OnInputEdge(int m, int c) const {
    for (const FlowEdge& e : p_.edges)
      if (e.to == m && e.collective == c) return true;
    return false;
  }
};

}  // namespace

std::string EmitBlockDot(const Program& p, const ModelGraph& model) { return BlockGraph(p, model).Render(); }

}  // namespace tpc
