#include "support/expr.h"

#include <cctype>
#include <cmath>

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

  static constexpr const char* kLevels[][4] = {
      {"||", nullptr}, {"&&", nullptr}, {"==", "!=", nullptr},
      {"<=", ">=", "<", ">"}, {"+", "-", nullptr}, {"//", "*", "/", "%"}};
  static constexpr int kNumLevels = 6;

  [[noreturn]] void Fail(const std::string& why) {
    throw ExprError("in expression '" + std::string(s_) + "': " + why);
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
  int Add(Expr::Node node) {
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
    if (Eat("-")) return Add({Expr::Node::kUnary, 0, "-", {Unary()}});
    if (Eat("!")) return Add({Expr::Node::kUnary, 0, "!", {Unary()}});
    return Primary();
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
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t start = pos_;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.'))
        ++pos_;
      std::string num(s_.substr(start, pos_ - start));
      return Add({Expr::Node::kNum, std::stod(num), "", {}});
    }
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
      size_t want = (name == "floor") ? 1 : (name == "min" || name == "max" || name == "round_up") ? 2 : 0;
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
