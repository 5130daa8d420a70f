// The text normalisation every math answer goes through before parsing (normalize_answer in expr.h): LaTeX spacing and
// sizing commands, \dfrac, thousands separators, trailing periods, and unit words after a value. See expr.h.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <regex>

#include "rewards/math/normalize.h"

namespace grpo::rewards::math {
namespace {

// Words dropped when they follow a value ("10 \text{ dollars}", "5 cm", "864 \text{ sq in}^2"). A unit text is
// one or more of these words (each may carry ^2 / ^3, end in a period, or join the next with "/" or "per").
const char* const kUnits[] = {
    "dollar", "dollars", "cent", "cents", "unit", "units", "cm", "m", "km", "mm", "meter", "meters", "metre",
    "metres", "inch", "inches", "foot", "feet", "ft", "yard", "yards", "yd", "yds", "mile", "miles", "mi", "mph",
    "kph", "hour", "hours", "hr", "hrs", "minute", "minutes", "mins", "second", "seconds", "sec", "secs", "day",
    "days", "week", "weeks", "month", "months", "year", "years", "degree", "degrees", "gram", "grams", "g", "kg",
    "pound", "pounds", "lb", "lbs", "ounce", "ounces", "oz", "liter", "liters", "litre", "litres", "l", "ml",
    "gallon", "gallons", "square", "sq", "cubic", "cu", "people", "students", "times", "points", "percent",
    "marbles", "apples", "books", "pages", "cups", "eggs", "boxes", "bags", "cookies", "pieces", "tickets", "km/h",
    "m/s"};
// Abbreviations that are also words or operators ("in", "min", "s"): units only right after a number or a
// group at the end of the answer ("864 \text{ in}^2"), never a text token elsewhere ("x \text{ in } [0, 1]").
const char* const kTrailingOnlyUnits[] = {"in", "min", "s", "h"};

bool is_unit_word(std::string_view w, bool trailing) {
  for (const char* p : {"^{2}", "^{3}", "^2", "^3"}) {
    const size_t n = std::strlen(p);
    if (w.size() > n && w.substr(w.size() - n) == p) {
      w.remove_suffix(n);
      break;
    }
  }
  if (w.size() > 1 && w.back() == '.') w.remove_suffix(1);
  for (const char* u : kUnits)
    if (w == u) return true;
  if (trailing)
    for (const char* u : kTrailingOnlyUnits)
      if (w == u) return true;
  return false;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

}  // namespace

bool is_unit(std::string w, bool trailing) {
  for (char& c : w) {
    const auto u = static_cast<unsigned char>(c);
    c = std::isspace(u) ? ' ' : static_cast<char>(std::tolower(u));
  }
  const size_t first = w.find_first_not_of(' ');
  if (first == std::string::npos) return false;
  w = w.substr(first, w.find_last_not_of(' ') + 1 - first);
  for (const char* u : kUnits)  // "km/h", "m/s" as a whole
    if (w == u) return true;
  std::replace(w.begin(), w.end(), '/', ' ');
  size_t n_words = 0;
  for (size_t pos = 0; pos < w.size();) {
    size_t end = w.find(' ', pos);
    if (end == std::string::npos) end = w.size();
    const std::string_view word(w.data() + pos, end - pos);
    pos = end + 1;
    if (word.empty() || word == "per") continue;
    if (!is_unit_word(word, trailing)) return false;
    ++n_words;
  }
  return n_words > 0;
}

std::string normalize_answer(std::string_view latex) {
  // NOTE: std::regex recurses per character; answers past this size are returned untouched (the parser rejects
  // them anyway).
  if (latex.size() > 4096) return std::string(latex);
  std::string s(latex);
  replace_all(s, ",\\! ", ",");  // "11,\! 111" is a thousands separator
  replace_all(s, ",\\!", ",");
  for (const char* drop : {"\\displaystyle", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad",
                           "\\$", "$", "\\(", "\\)", "\\[", "\\]", "^\\circ", "^{\\circ}", "°", "\\%", "%",
                           "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big", "\\limits"})
    replace_all(s, drop, "");
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  replace_all(s, "~", " ");
  replace_all(s, "\\lbrace", "\\{");
  replace_all(s, "\\rbrace", "\\}");
  replace_all(s, "\\lvert", "|");
  replace_all(s, "\\rvert", "|");
  replace_all(s, "\\vert", "|");
  replace_all(s, "\\colon", ":");
  // Trim, then drop a trailing period and a leading "x =" style prefix is kept (parsed as an equation).
  auto trim = [](std::string& x) {
    while (!x.empty() && std::isspace(static_cast<unsigned char>(x.back()))) x.pop_back();
    size_t k = 0;
    while (k < x.size() && std::isspace(static_cast<unsigned char>(x[k]))) ++k;
    x.erase(0, k);
  };
  trim(s);
  while (!s.empty() && (s.back() == '.' || s.back() == ',')) {
    s.pop_back();
    trim(s);
  }
  // Thousands separators: the whole answer is 1,234 or 12,345,678.9.
  static const std::regex kThousands(R"(^-?\d{1,3}(,\d{3})+(\.\d+)?$)");
  static const std::regex kThousandsSpaced(R"(^-?\d{1,3}(\{,\}\d{3})+(\.\d+)?$)");
  if (std::regex_match(s, kThousands) || std::regex_match(s, kThousandsSpaced)) {
    replace_all(s, "{,}", "");
    replace_all(s, ",", "");
  }
  // A trailing unit word ("10 dollars", "5\text{ cm}") after a value.
  static const std::regex kTrailingText(R"(^(.*\S)\s*\\(text|mbox|mathrm)\{([^{}]*)\}(\^\{?\d\}?)?$)");
  std::smatch m;
  auto after_value = [](const std::string& v) {
    return std::isdigit(static_cast<unsigned char>(v.back())) || v.back() == '}';
  };
  while (std::regex_match(s, m, kTrailingText) && is_unit(m[3].str(), after_value(m[1].str()))) s = m[1].str();
  static const std::regex kTrailingWord(R"(^(.*[0-9}])\s+([A-Za-z][A-Za-z /^23]*)$)");
  if (std::regex_match(s, m, kTrailingWord) && is_unit(m[2].str(), /*trailing=*/true)) s = m[1].str();
  trim(s);
  return s;
}

}  // namespace grpo::rewards::math
