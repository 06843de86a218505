#ifndef TPC_SUPPORT_EXPR_H_
#define TPC_SUPPORT_EXPR_H_

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tpc {

/// Thrown by Expr on a syntax error or an unknown variable; the frontend turns it into a diagnostic.
class ExprError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Looks a variable up; nullopt when it is not defined.
using VarLookup = std::function<std::optional<double>(std::string_view)>;

/// A small arithmetic expression over config fields, as written in architecture templates:
/// `num_attention_heads * head_dim`, `layer >= first_k_dense_replace`, `round_up(2 * x / 3, 256)`.
/// Operators: + - * / (real) // (floor) % < <= > >= == != && || ! and ( ); functions min, max,
/// floor, sqrt, round_up(x, m). Identifiers may contain dots (`block.attention.no_op`).
class Expr {
 public:
  /// Parses `text`; throws ExprError on a syntax error.
  static Expr Parse(std::string_view text);
  /// A constant expression.
  static Expr Constant(double v);
  /// Evaluates with `lookup`; throws ExprError naming the first undefined variable.
  double Eval(const VarLookup& lookup) const;
  /// The variables the expression reads.
  std::vector<std::string> Variables() const;
  const std::string& text() const { return text_; }

  struct Node {
    enum Kind { kNum, kVar, kUnary, kBinary, kCall } kind;
    double num = 0;
    std::string name;  // variable, operator or function
    std::vector<int> args;
  };

 private:
  std::string text_;
  std::vector<Node> nodes_;
  int root_ = -1;
  double EvalNode(int n, const VarLookup& lookup) const;
  friend class ExprParser;
};

}  // namespace tpc

#endif  // TPC_SUPPORT_EXPR_H_
