#include <doctest/doctest.h>

#include <map>

#include "support/expr.h"

namespace tpc {
namespace {

double Eval(const char* text, std::map<std::string, double> vars = {}) {
  return Expr::Parse(text).Eval([&](std::string_view n) -> std::optional<double> {
    auto it = vars.find(std::string(n));
    return it == vars.end() ? std::nullopt : std::optional<double>(it->second);
  });
}

TEST_SUITE("expr") {
  TEST_CASE("arithmetic follows the usual precedence") {
    CHECK(Eval("2 + 3 * 4") == 14);
    CHECK(Eval("(2 + 3) * 4") == 20);
    CHECK(Eval("7 // 2") == 3);
    CHECK(Eval("7 / 2") == 3.5);
    CHECK(Eval("7 % 4") == 3);
    CHECK(Eval("-3 + 5") == 2);
  }

  TEST_CASE("comparisons and logic give 0 or 1") {
    CHECK(Eval("3 >= 3 && 2 < 1") == 0);
    CHECK(Eval("3 <= 2 || 4 != 5") == 1);
    CHECK(Eval("!0") == 1);
    CHECK(Eval("true") == 1);
  }

  TEST_CASE("variables may contain dots and read from the lookup") {
    CHECK(Eval("num_attention_heads * head_dim", {{"num_attention_heads", 32}, {"head_dim", 128}}) == 4096);
    CHECK(Eval("block.attention.n_heads_in_group + 1", {{"block.attention.n_heads_in_group", 8}}) == 9);
  }

  TEST_CASE("functions round and clamp") {
    CHECK(Eval("round_up(2 * 2.625 * 8192 / 3, 256)") == 14336);
    CHECK(Eval("1 / sqrt(256)") == 0.0625);  // gemma's query_pre_attn_scalar ** -0.5
    CHECK(Eval("min(3, 9)") == 3);
    CHECK(Eval("max(3, 9)") == 9);
    CHECK(Eval("floor(2.7)") == 2);
  }

  TEST_CASE("an undefined variable names itself") {
    CHECK_THROWS_WITH_AS(Eval("hidden_size * 2"), "hidden_size", ExprError);
  }

  TEST_CASE("syntax errors quote the expression") {
    CHECK_THROWS_WITH_AS(Expr::Parse("2 +"), "in expression '2 +': unexpected end", ExprError);
    CHECK_THROWS_WITH_AS(Expr::Parse("pow(2)"), "in expression 'pow(2)': unknown function 'pow'", ExprError);
    CHECK_THROWS_WITH_AS(Expr::Parse("sqrt(2, 3)"), "in expression 'sqrt(2, 3)': sqrt takes 1 arguments", ExprError);
    CHECK_THROWS_WITH_AS(Expr::Parse("(1 + 2"), "in expression '(1 + 2': missing ')'", ExprError);
  }

  TEST_CASE("nesting deeper than limits::kMaxExprDepth is an error, not a stack overflow") {
    std::string parens = std::string(10'000, '(') + "1" + std::string(10'000, ')');
    CHECK_THROWS_WITH_AS(Expr::Parse(parens), doctest::Contains("': expression nested deeper than 64"), ExprError);
    CHECK_THROWS_WITH_AS(Expr::Parse(std::string(10'000, '-') + "1"),
                         doctest::Contains("': expression nested deeper than 64"), ExprError);
    // A long flat chain is a left-deep tree that evaluation would recurse through.
    std::string chain = "1";
    for (int i = 0; i < 100'000; ++i) chain += "+1";
    CHECK_THROWS_WITH_AS(Expr::Parse(chain), doctest::Contains("': expression nested deeper than 64"), ExprError);
    // The error quotes only the ends of a long expression.
    try {
      Expr::Parse(parens);
    } catch (const ExprError& e) {
      CHECK(std::string(e.what()).size() < 300);
    }
    // Real depths still parse.
    CHECK(Eval("((((1 + 2) * 3) - -4) // 2)") == 6);
  }

  TEST_CASE("numbers are read strictly") {
    CHECK_THROWS_WITH_AS(Expr::Parse("..."), "in expression '...': malformed number '..'", ExprError);
    CHECK_THROWS_WITH_AS(Expr::Parse("1.2.3"), "in expression '1.2.3': malformed number '1.2.'", ExprError);
    CHECK_THROWS_WITH_AS(Expr::Parse("2 * " + std::string(400, '9')), doctest::Contains("' is too large"), ExprError);
    CHECK(Eval(".5 + 2.") == 2.5);
  }
}

}  // namespace
}  // namespace tpc
