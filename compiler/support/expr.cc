#include "support/expr.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "support/limits.h"
#include "support/strings.h"

namespace tpc {

// Recursive descent, lowest precedence first: || && (== !=) (< <= > >=) (+ -) (* / // %) unary.
class ExprParser {
 public:
  ExprParser(std::string_view text, Expr& out) : s_(text), e_(out) {}

  int ParseAll() {
    int n = Binary(0);
    Skip();
    if (pos_ != s_.size()) Fail("unexpected '" + std::string(s_.substr(pos_, 1)) + "'");
    return n;
  }

 private:
  std::string_view s_;
  Expr& e_;
  size_t pos_ = 0;
  int depth_ = 0;                 ///< current recursion through Unary
  std::vector<int> node_depth_;  ///< height of each node's subtree, parallel to e_.nodes_

  static constexpr const char* kLevels[][4] = {
      {"||", nullptr}, {"&&", nullptr}, {"==", "!=", nullptr},
      {"<=", ">=", "<", ">"}, {"+", "-", nullptr}, {"//", "*", "/", "%"}};
  static constexpr int kNumLevels = 6;

  [[noreturn]] void Fail(const std::string& why) {
    throw ExprError("in expression '" + Shorten(s_, limits::kMaxQuotedLine) + "': " + why);
  }
  [[noreturn]] void TooDeep() {
    Fail("expression nested deeper than " + std::to_string(limits::kMaxExprDepth));
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(std::string_view tok) {
    Skip();
    if (s_.substr(pos_, tok.size()) != tok) return false;
    pos_ += tok.size();
    return true;
  }
  // Parsing and evaluation both recurse, so both the nesting (`((((x))))`, `----x`) and the height
  // of the tree (`1+1+...+1` is left-deep) are bounded.
  int Add(Expr::Node node) {
    int height = 1;
    for (int a : node.args) height = std::max(height, node_depth_[a] + 1);
    if (height > limits::kMaxExprDepth) TooDeep();
    node_depth_.push_back(height);
    e_.nodes_.push_back(std::move(node));
    return static_cast<int>(e_.nodes_.size()) - 1;
  }
  int Binary(int level) {
    if (level == kNumLevels) return Unary();
    int lhs = Binary(level + 1);
    while (true) {
      const char* matched = nullptr;
      for (const char* op : kLevels[level]) {
        if (!op) break;
        // Do not read the first '/' of '//' as division, nor '<' of '<='.
        if (Eat(op)) {
          matched = op;
          break;
        }
      }
      if (!matched) return lhs;
      int rhs = Binary(level + 1);
      lhs = Add({Expr::Node::kBinary, 0, matched, {lhs, rhs}});
    }
  }
  int Unary() {
    // Every nesting passes here: a parenthesis or an argument list through Primary, a sign directly.
    if (++depth_ > limits::kMaxExprDepth) TooDeep();
    int n;
    if (Eat("-")) n = Add({Expr::Node::kUnary, 0, "-", {Unary()}});
    else if (Eat("!")) n = Add({Expr::Node::kUnary, 0, "!", {Unary()}});
    else n = Primary();
    --depth_;
    return n;
  }
  // digits, optionally a '.' and more digits: `3`, `2.625`, `.5`.
  int Number() {
    size_t start = pos_;
    auto digits = [&] {
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    };
    digits();
    if (pos_ < s_.size() && s_[pos_] == '.') ++pos_, digits();
    std::string_view num = s_.substr(start, pos_ - start);
    if (pos_ < s_.size() && (s_[pos_] == '.' || std::isalpha(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
      Fail("malformed number '" + Shorten(s_.substr(start, pos_ + 1 - start), 40) + "'");
    if (num == ".") Fail("malformed number '.'");
    double v = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec == std::errc::result_out_of_range) Fail("number '" + Shorten(num, 40) + "' is too large");
    if (ec != std::errc() || end != num.data() + num.size()) Fail("malformed number '" + Shorten(num, 40) + "'");
    return Add({Expr::Node::kNum, v, "", {}});
  }
  int Primary() {
    Skip();
    if (pos_ >= s_.size()) Fail("unexpected end");
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      int n = Binary(0);
      if (!Eat(")")) Fail("missing ')'");
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return Number();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' || s_[pos_] == '.'))
        ++pos_;
      std::string name(s_.substr(start, pos_ - start));
      if (name == "true") return Add({Expr::Node::kNum, 1, "", {}});
      if (name == "false") return Add({Expr::Node::kNum, 0, "", {}});
      if (!Eat("(")) return Add({Expr::Node::kVar, 0, name, {}});
      std::vector<int> args;
      if (!Eat(")")) {
        do args.push_back(Binary(0));
        while (Eat(","));
        if (!Eat(")")) Fail("missing ')' after arguments of " + name);
      }
      size_t want = (name == "floor" || name == "sqrt") ? 1 : (name == "min" || name == "max" || name == "round_up") ? 2 : 0;
      if (want == 0) Fail("unknown function '" + name + "'");
      if (args.size() != want) Fail(name + " takes " + std::to_string(want) + " arguments");
      return Add({Expr::Node::kCall, 0, name, args});
    }
    Fail("unexpected '" + std::string(1, c) + "'");
  }
};

Expr Expr::Parse(std::string_view text) {
  Expr e;
  e.text_ = std::string(text);
  ExprParser p(text, e);
  e.root_ = p.ParseAll();
  return e;
}

Expr Expr::Constant(double v) {
  Expr e;
  e.text_ = std::to_string(v);
  e.nodes_.push_back({Node::kNum, v, "", {}});
  e.root_ = 0;
  return e;
}

double Expr::Eval(const VarLookup& lookup) const { return EvalNode(root_, lookup); }

double Expr::EvalNode(int n, const VarLookup& lookup) const {
  const Node& node = nodes_[n];
  switch (node.kind) {
    case Node::kNum:
      return node.num;
    case Node::kVar: {
      std::optional<double> v = lookup(node.name);
      if (!v) throw ExprError(node.name);
      return *v;
    }
    case Node::kUnary: {
      double a = EvalNode(node.args[0], lookup);
      return node.name == "-" ? -a : (a == 0 ? 1 : 0);
    }
    case Node::kCall: {
      double a = EvalNode(node.args[0], lookup);
      if (node.name == "floor") return std::floor(a);
      if (node.name == "sqrt") return std::sqrt(a);
      double b = EvalNode(node.args[1], lookup);
      if (node.name == "min") return std::min(a, b);
      if (node.name == "max") return std::max(a, b);
      return b == 0 ? a : std::ceil(a / b) * b;  // round_up
    }
    case Node::kBinary:
      break;
  }
  const std::string& op = node.name;
  double a = EvalNode(node.args[0], lookup);
  // Short-circuit so `has_x && x > 0` does not need x.
  if (op == "&&") return a != 0 && EvalNode(node.args[1], lookup) != 0;
  if (op == "||") return a != 0 || EvalNode(node.args[1], lookup) != 0;
  double b = EvalNode(node.args[1], lookup);
  if (op == "+") return a + b;
  if (op == "-") return a - b;
  if (op == "*") return a * b;
  if (op == "/") return b == 0 ? 0 : a / b;
  if (op == "//") return b == 0 ? 0 : std::floor(a / b);
  if (op == "%") return b == 0 ? 0 : std::fmod(a, b);
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  if (op == ">=") return a >= b;
  if (op == "==") return a == b;
  return a != b;  // "!="
}

std::vector<std::string> Expr::Variables() const {
  std::vector<std::string> out;
  for (const Node& n : nodes_)
    if (n.kind == Node::kVar) out.push_back(n.name);
  return out;
}

}  // namespace tpc
