// LaTeX / plain-text answers -> Expr: a tokenizer and a recursive-descent parser over the normalised text
// (normalize.cpp). See expr.h.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "rewards/math/expr.h"
#include "rewards/math/normalize.h"

namespace grpo::rewards::math {
namespace {

// ---------------------------------------------------------------- tokens

enum class Tok { kEnd, kNum, kLetter, kCmd, kChar, kText };
struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
};

class Lexer {
 public:
  explicit Lexer(const std::string& s) : s_(s) {}
  std::vector<Token> run() {
    std::vector<Token> out;
    while (true) {
      skip_space();
      if (i_ >= s_.size()) break;
      const char c = s_[i_];
      if (std::isdigit(static_cast<unsigned char>(c)) ||
          (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
        size_t j = i_;
        while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) ++j;
        if (j < s_.size() && s_[j] == '.' && j + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j + 1]))) {
          ++j;
          while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) ++j;
        }
        out.push_back({Tok::kNum, s_.substr(i_, j - i_)});
        i_ = j;
      } else if (std::isalpha(static_cast<unsigned char>(c))) {
        out.push_back({Tok::kLetter, std::string(1, c)});
        ++i_;
      } else if (c == '\\') {
        size_t j = i_ + 1;
        while (j < s_.size() && std::isalpha(static_cast<unsigned char>(s_[j]))) ++j;
        std::string name = s_.substr(i_ + 1, j - i_ - 1);
        if (name.empty() && j < s_.size()) name = std::string(1, s_[j++]);  // \{ \} \, \\ ...
        i_ = j;
        if (name.size() == 1 && std::isspace(static_cast<unsigned char>(name[0]))) continue;  // "\ ": a space
        if (name == "text" || name == "textbf" || name == "mathrm" || name == "mathbf" || name == "mbox" ||
            name == "textit" || name == "mathit" || name == "operatorname" || name == "rm") {
          out.push_back({Tok::kText, group()});
        } else {
          out.push_back({Tok::kCmd, name});
        }
      } else if (static_cast<unsigned char>(c) >= 0x80) {
        // Non-ASCII: a few symbols have meanings; the rest is kept as one character of text.
        size_t j = i_ + 1;
        while (j < s_.size() && (static_cast<unsigned char>(s_[j]) & 0xC0) == 0x80) ++j;
        const std::string ch = s_.substr(i_, j - i_);
        i_ = j;
        if (ch == "π") out.push_back({Tok::kCmd, "pi"});
        else if (ch == "∞") out.push_back({Tok::kCmd, "infty"});
        else if (ch == "√") out.push_back({Tok::kCmd, "sqrt"});
        else if (ch == "≤") out.push_back({Tok::kCmd, "le"});
        else if (ch == "≥") out.push_back({Tok::kCmd, "ge"});
        else if (ch == "≠") out.push_back({Tok::kCmd, "ne"});
        else if (ch == "×" || ch == "·") out.push_back({Tok::kChar, "*"});
        else if (ch == "−") out.push_back({Tok::kChar, "-"});
        else out.push_back({Tok::kText, ch});
      } else {
        out.push_back({Tok::kChar, std::string(1, c)});
        ++i_;
      }
    }
    return out;
  }

 private:
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  // The {...} after a text command (nested braces kept), or the next character.
  std::string group() {
    skip_space();
    if (i_ >= s_.size() || s_[i_] != '{') return "";
    int depth = 0;
    size_t start = i_ + 1;
    for (; i_ < s_.size(); ++i_) {
      if (s_[i_] == '{') ++depth;
      else if (s_[i_] == '}' && --depth == 0) break;
    }
    std::string g = s_.substr(start, i_ - start);
    if (i_ < s_.size()) ++i_;
    return g;
  }
  const std::string& s_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------- parser

Expr leaf(Op op, std::string text = "") {
  Expr e;
  e.op = op;
  e.text = std::move(text);
  return e;
}
Expr node(Op op, std::vector<Expr> args, std::string text = "") {
  Expr e;
  e.op = op;
  e.args = std::move(args);
  e.text = std::move(text);
  return e;
}

bool is_func(const std::string& c) {
  static const char* const f[] = {"sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh",
                                  "cosh", "tanh", "ln", "log", "exp"};
  for (const char* x : f)
    if (c == x) return true;
  return false;
}

bool is_greek(const std::string& c) {
  static const char* const g[] = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
                                  "theta", "vartheta", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau",
                                  "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta",
                                  "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega"};
  for (const char* x : g)
    if (c == x) return true;
  return false;
}

class Parser {
 public:
  Parser(std::vector<Token> toks, const ParseLimits& lim) : t_(std::move(toks)), lim_(lim) {}

  Expr top() {
    Expr e = list(/*top_level=*/true);
    if (!at_end()) fail("unexpected '" + peek().text + "'");
    return e;
  }

 private:
  [[noreturn]] void fail(const std::string& why) { throw ParseError{why}; }
  const Token& peek(size_t k = 0) const {
    static const Token end;
    return p_ + k < t_.size() ? t_[p_ + k] : end;
  }
  bool at_end() const { return p_ >= t_.size(); }
  bool is_char(const char* c, size_t k = 0) const { return peek(k).kind == Tok::kChar && peek(k).text == c; }
  bool is_cmd(const char* c, size_t k = 0) const { return peek(k).kind == Tok::kCmd && peek(k).text == c; }
  void expect_char(const char* c) {
    if (!is_char(c)) fail(std::string("expected '") + c + "'");
    ++p_;
  }
  struct Depth {
    Parser& p;
    explicit Depth(Parser& parser) : p(parser) {
      if (++p.depth_ > p.lim_.max_depth) p.fail("nested too deeply");
    }
    ~Depth() { --p.depth_; }
  };
  Expr counted(Expr e) {
    if (++nodes_ > lim_.max_nodes) fail("expression too large");
    return e;
  }

  // a, b, c  (a list at the top level is a set, as math-verify reads "1, 2")
  Expr list(bool top_level) {
    Depth d(*this);
    std::vector<Expr> items{relation()};
    while (is_char(",") || is_char(";")) {
      ++p_;
      if (at_end()) break;
      items.push_back(relation());
    }
    if (items.size() == 1) return std::move(items[0]);
    return counted(node(top_level ? Op::kSet : Op::kTuple, std::move(items)));
  }

  std::string rel_op() {
    if (is_char("=")) return "=";
    if (is_char("<") && is_char("=", 1)) return "<=";
    if (is_char(">") && is_char("=", 1)) return ">=";
    if (is_char("<")) return "<";
    if (is_char(">")) return ">";
    if (is_cmd("le") || is_cmd("leq") || is_cmd("leqslant")) return "<=";
    if (is_cmd("ge") || is_cmd("geq") || is_cmd("geqslant")) return ">=";
    if (is_cmd("lt")) return "<";
    if (is_cmd("gt")) return ">";
    if (is_cmd("ne") || is_cmd("neq")) return "!=";
    if (is_cmd("in")) return "in";
    return "";
  }

  Expr relation() {
    Expr lhs = union_expr();
    std::string op = rel_op();
    if (op.empty()) return lhs;
    p_ += (op == "<=" || op == ">=") && peek().kind == Tok::kChar ? 2 : 1;
    Expr rhs = relation();
    return counted(node(Op::kRel, {std::move(lhs), std::move(rhs)}, op));
  }

  Expr union_expr() {
    Expr e = sum();
    if (!is_cmd("cup")) return e;
    std::vector<Expr> parts{std::move(e)};
    while (is_cmd("cup")) {
      ++p_;
      parts.push_back(sum());
    }
    return counted(node(Op::kUnion, std::move(parts)));
  }

  Expr sum() {
    Depth d(*this);
    std::vector<Expr> terms;
    if (is_char("-")) {
      ++p_;
      terms.push_back(counted(node(Op::kNeg, {term()})));
    } else {
      if (is_char("+")) ++p_;
      terms.push_back(term());
    }
    while (is_char("+") || is_char("-")) {
      const bool minus = is_char("-");
      ++p_;
      Expr t = term();
      terms.push_back(minus ? counted(node(Op::kNeg, {std::move(t)})) : std::move(t));
    }
    if (terms.size() == 1) return std::move(terms[0]);
    return counted(node(Op::kAdd, std::move(terms)));
  }

  bool starts_primary() const {
    const Token& t = peek();
    if (t.kind == Tok::kNum || t.kind == Tok::kLetter) return true;
    if (t.kind == Tok::kCmd)
      return t.text == "frac" || t.text == "sqrt" || t.text == "pi" || t.text == "infty" || t.text == "binom" ||
             is_func(t.text) || is_greek(t.text) || t.text == "{" || t.text == "lfloor" || t.text == "lceil";
    if (t.kind == Tok::kChar) return t.text == "(" || (t.text == "|" && abs_depth_ == 0) || t.text == "{";
    return false;
  }

  Expr term() {
    Depth d(*this);
    std::vector<Expr> factors{unary()};
    while (true) {
      if (is_char("*") || is_cmd("cdot") || is_cmd("times")) {
        ++p_;
        factors.push_back(unary());
      } else if (is_char("/") || is_cmd("div")) {
        ++p_;
        factors.push_back(counted(node(Op::kInv, {unary()})));
      } else if (starts_primary()) {
        // Mixed number: an integer directly followed by \frac of two integers ("2\frac{1}{2}", "5\frac12").
        if (factors.size() == 1 && factors[0].op == Op::kNum && factors[0].text.find('.') == std::string::npos &&
            is_cmd("frac") && mixed_fraction_follows()) {
          Expr frac = power();
          return counted(node(Op::kAdd, {std::move(factors[0]), std::move(frac)}));
        }
        factors.push_back(power());
      } else {
        break;
      }
    }
    if (factors.size() == 1) return std::move(factors[0]);
    return counted(node(Op::kMul, std::move(factors)));
  }

  // An integer fraction next: \frac{12}{7}, or the shorthand \frac12 (two digits), \frac1{2}, \frac{1}2?
  bool mixed_fraction_follows() const {
    auto integer = [&](size_t k) { return peek(k).kind == Tok::kNum && peek(k).text.find('.') == std::string::npos; };
    if (integer(1) && peek(1).text.size() == 2) return true;  // \frac12
    auto arg = [&](size_t& k) {  // {digits} or one digit
      if (is_char("{", k) && integer(k + 1) && is_char("}", k + 2)) {
        k += 3;
        return true;
      }
      if (integer(k) && peek(k).text.size() == 1) {
        k += 1;
        return true;
      }
      return false;
    };
    size_t k = 1;
    return arg(k) && arg(k);
  }

  Expr unary() {
    Depth d(*this);
    if (is_char("-")) {
      ++p_;
      return counted(node(Op::kNeg, {unary()}));
    }
    if (is_char("+")) {
      ++p_;
      return unary();
    }
    return power();
  }

  Expr power() {
    Depth d(*this);
    Expr base = postfix(primary());
    if (!is_char("^")) return base;
    ++p_;
    Expr exp = exponent();
    return counted(node(Op::kPow, {std::move(base), std::move(exp)}));
  }

  // The exponent after '^': a {group}, or a single digit / letter / command.
  Expr exponent() {
    if (is_char("{")) return braced();
    if (is_char("-")) {
      ++p_;
      return counted(node(Op::kNeg, {exponent()}));
    }
    if (peek().kind == Tok::kNum) {
      // "x^23" in LaTeX is x^2 * 3; keep the first digit as the exponent.
      Token& t = t_[p_];
      if (t.text.size() > 1 && t.text.find('.') == std::string::npos) {
        Expr first = leaf(Op::kNum, t.text.substr(0, 1));
        t.text = t.text.substr(1);
        return counted(first);
      }
      ++p_;
      return counted(leaf(Op::kNum, t.text));
    }
    return postfix(primary());
  }

  Expr postfix(Expr e) {
    while (is_char("!")) {
      ++p_;
      e = counted(node(Op::kFunc, {std::move(e)}, "fact"));
    }
    return e;
  }

  Expr braced() {
    expect_char("{");
    Expr e = list(false);
    expect_char("}");
    return e;
  }

  Expr group_arg() {  // {x} or a single primary (\frac12, \sqrt2)
    if (is_char("{")) return braced();
    if (peek().kind == Tok::kNum && peek().text.size() > 1 && peek().text.find('.') == std::string::npos) {
      Token& t = t_[p_];
      Expr first = leaf(Op::kNum, t.text.substr(0, 1));
      t.text = t.text.substr(1);
      return counted(first);
    }
    return primary();
  }

  Expr bracketed(const char* open_char) {
    // ( ... ) or [ ... ] possibly an interval: the closing bracket decides closedness.
    const bool lo_closed = std::strcmp(open_char, "[") == 0;
    ++p_;
    Expr inner = list(false);
    if (!is_char(")") && !is_char("]")) fail("unclosed bracket");
    const bool hi_closed = is_char("]");
    ++p_;
    if (inner.op == Op::kTuple && inner.args.size() == 2 && (lo_closed || hi_closed)) {
      Expr iv = node(Op::kInterval, std::move(inner.args));
      iv.lo_closed = lo_closed;
      iv.hi_closed = hi_closed;
      return counted(iv);
    }
    if (inner.op == Op::kTuple) {
      inner.parenthesised = !lo_closed && !hi_closed;
      return inner;
    }
    return inner;
  }

  Expr primary() {
    Depth d(*this);
    const Token t = peek();
    switch (t.kind) {
      case Tok::kEnd: fail("unexpected end");
      case Tok::kNum:
        ++p_;
        if (is_char("_")) {  // a numeral in a base, "52_8": compared as written
          Expr based = subscripted(t.text);
          based.op = Op::kText;
          return counted(based);
        }
        return counted(leaf(Op::kNum, t.text));
      case Tok::kLetter: {
        ++p_;
        if (t.text == "e" && !is_char("_")) return counted(leaf(Op::kE));
        if (t.text == "i" && !is_char("_")) return counted(leaf(Op::kI));
        return counted(subscripted(t.text));
      }
      case Tok::kText: {
        ++p_;
        return counted(leaf(Op::kText, t.text));
      }
      case Tok::kChar:
        if (t.text == "(" || t.text == "[") return bracketed(t.text.c_str());
        if (t.text == "{") return braced();
        if (t.text == "|") {
          ++p_;
          ++abs_depth_;
          Expr inner = sum();
          --abs_depth_;
          expect_char("|");
          return counted(node(Op::kFunc, {std::move(inner)}, "abs"));
        }
        fail("unexpected '" + t.text + "'");
      case Tok::kCmd: return command();
    }
    fail("unexpected token");
  }

  Expr subscripted(std::string name) {
    if (!is_char("_")) return leaf(Op::kSym, name);
    ++p_;
    if (is_char("{")) {
      ++p_;
      std::string sub;
      while (!at_end() && !is_char("}")) sub += t_[p_++].text;
      expect_char("}");
      return leaf(Op::kSym, name + "_" + sub);
    }
    if (at_end()) fail("dangling _");
    return leaf(Op::kSym, name + "_" + t_[p_++].text);
  }

  Expr command() {
    const std::string c = peek().text;
    ++p_;
    if (c == "frac" || c == "dfrac" || c == "tfrac" || c == "cfrac") {
      Expr num = group_arg();
      Expr den = group_arg();
      return counted(node(Op::kMul, {std::move(num), counted(node(Op::kInv, {std::move(den)}))}));
    }
    if (c == "sqrt") {
      if (is_char("[")) {
        ++p_;
        Expr n = list(false);
        expect_char("]");
        Expr x = group_arg();
        return counted(node(Op::kPow, {std::move(x), counted(node(Op::kInv, {std::move(n)}))}));
      }
      return counted(node(Op::kFunc, {group_arg()}, "sqrt"));
    }
    if (c == "binom" || c == "dbinom" || c == "tbinom") {
      Expr n = group_arg();
      Expr k = group_arg();
      return counted(node(Op::kFunc, {std::move(n), std::move(k)}, "binom"));
    }
    if (c == "pi") return counted(leaf(Op::kPi));
    if (c == "infty" || c == "infin") return counted(leaf(Op::kInf));
    if (c == "{") {  // \{ ... \}
      std::vector<Expr> items;
      if (!is_cmd("}")) {
        items.push_back(relation());
        while (is_char(",") || is_char(";")) {
          ++p_;
          items.push_back(relation());
        }
      }
      if (!is_cmd("}")) fail("unclosed \\{");
      ++p_;
      return counted(node(Op::kSet, std::move(items)));
    }
    if (c == "lfloor" || c == "lceil") {
      Expr inner = sum();
      if (!is_cmd(c == "lfloor" ? "rfloor" : "rceil")) fail("unclosed " + c);
      ++p_;
      return counted(node(Op::kFunc, {std::move(inner)}, c == "lfloor" ? "floor" : "ceil"));
    }
    if (c == "begin") return matrix();
    if (is_greek(c)) return counted(subscripted("\\" + c));
    if (is_func(c)) {
      std::string name = c;
      Expr power_of;  // \sin^2 x
      bool has_power = false;
      if (is_char("^")) {
        ++p_;
        power_of = exponent();
        has_power = true;
      }
      Expr arg;
      if (is_char("(")) arg = bracketed("(");
      else if (is_char("{")) arg = braced();
      else arg = power();
      Expr f = counted(node(Op::kFunc, {std::move(arg)}, name));
      if (has_power) f = counted(node(Op::kPow, {std::move(f), std::move(power_of)}));
      return f;
    }
    fail("unknown command \\" + c);
  }

  // \begin{pmatrix} a & b \\ c & d \end{pmatrix} (also bmatrix, matrix, array without the column spec).
  Expr matrix() {
    expect_char("{");
    std::string env;
    while (!at_end() && !is_char("}")) env += t_[p_++].text;
    expect_char("}");
    if (env == "array" && is_char("{")) {  // column spec
      while (!at_end() && !is_char("}")) ++p_;
      expect_char("}");
    }
    std::vector<std::vector<Expr>> rows(1);
    while (!at_end() && !is_cmd("end")) {
      if (is_char("&")) {
        ++p_;
        continue;
      }
      if (is_cmd("\\")) {
        ++p_;
        rows.emplace_back();
        continue;
      }
      rows.back().push_back(relation());
    }
    if (!is_cmd("end")) fail("unclosed \\begin{" + env + "}");
    ++p_;
    expect_char("{");
    while (!at_end() && !is_char("}")) ++p_;
    expect_char("}");
    while (!rows.empty() && rows.back().empty()) rows.pop_back();
    if (rows.empty()) fail("empty matrix");
    Expr m;
    m.op = Op::kMatrix;
    m.rows = static_cast<int>(rows.size());
    m.cols = static_cast<int>(rows[0].size());
    for (auto& r : rows) {
      if (static_cast<int>(r.size()) != m.cols) fail("ragged matrix");
      for (auto& x : r) m.args.push_back(std::move(x));
    }
    return counted(m);
  }

  std::vector<Token> t_;
  const ParseLimits& lim_;
  size_t p_ = 0;
  int depth_ = 0, abs_depth_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

Expr parse_answer(std::string_view latex, const ParseLimits& limits) {
  if (latex.size() > limits.max_chars) throw ParseError{"answer longer than " + std::to_string(limits.max_chars)};
  const std::string s = normalize_answer(latex);
  if (s.empty()) throw ParseError{"empty answer"};
  Lexer lex(s);
  std::vector<Token> toks = lex.run();
  // A whole answer that is text ("\text{Evelyn}", "(C)") stays text.
  if (toks.size() == 1 && toks[0].kind == Tok::kText) {
    std::string inner = toks[0].text;
    try {  // \text{5} is the number 5
      Parser p(Lexer(inner).run(), limits);
      Expr e = p.top();
      if (e.op != Op::kText && e.op != Op::kSym && e.op != Op::kMul) return e;
    } catch (const ParseError&) {
    }
    return leaf(Op::kText, inner);
  }
  // Drop text tokens that are unit words or connectives ("x = 1 \text{ or } x = 2").
  std::vector<Token> kept;
  for (auto& t : toks) {
    if (t.kind == Tok::kText) {
      std::string w = t.text;
      w.erase(std::remove_if(w.begin(), w.end(), [](unsigned char c) { return std::isspace(c); }), w.end());
      if (w.empty() || is_unit(t.text)) continue;
      if (w == "or" || w == "and") {
        kept.push_back({Tok::kChar, ","});
        continue;
      }
    }
    kept.push_back(std::move(t));
  }
  // "a \pm b": the set of both signs (one \pm only).
  size_t pm = 0, pm_at = 0;
  for (size_t k = 0; k < kept.size(); ++k)
    if (kept[k].kind == Tok::kCmd && (kept[k].text == "pm" || kept[k].text == "mp")) ++pm, pm_at = k;
  if (pm == 1) {
    std::vector<Expr> both;
    for (const char* sign : {"+", "-"}) {
      std::vector<Token> t = kept;
      t[pm_at] = {Tok::kChar, sign};
      Parser p(std::move(t), limits);
      both.push_back(p.top());
    }
    return node(Op::kSet, std::move(both));
  }
  Parser p(std::move(kept), limits);
  return p.top();
}

std::string to_string(const Expr& e) {
  auto join = [&](const char* sep) {
    std::string s;
    for (size_t i = 0; i < e.args.size(); ++i) s += (i ? sep : "") + to_string(e.args[i]);
    return s;
  };
  switch (e.op) {
    case Op::kNum: case Op::kSym: return e.text;
    case Op::kPi: return "pi";
    case Op::kE: return "e";
    case Op::kI: return "i";
    case Op::kInf: return "oo";
    case Op::kAdd: return "(" + join(" + ") + ")";
    case Op::kMul: return "(" + join("*") + ")";
    case Op::kNeg: return "-" + to_string(e.args[0]);
    case Op::kInv: return "1/" + to_string(e.args[0]);
    case Op::kPow: return to_string(e.args[0]) + "^" + to_string(e.args[1]);
    case Op::kFunc: return e.text + "(" + join(", ") + ")";
    case Op::kTuple: return "(" + join(", ") + ")";
    case Op::kSet: return "{" + join(", ") + "}";
    case Op::kInterval:
      return std::string(e.lo_closed ? "[" : "(") + join(", ") + (e.hi_closed ? "]" : ")");
    case Op::kUnion: return join(" U ");
    case Op::kMatrix: return "matrix" + std::to_string(e.rows) + "x" + std::to_string(e.cols) + "[" + join(", ") + "]";
    case Op::kRel: return to_string(e.args[0]) + " " + e.text + " " + to_string(e.args[1]);
    case Op::kText: return "\"" + e.text + "\"";
  }
  return "?";
}

}  // namespace grpo::rewards::math
