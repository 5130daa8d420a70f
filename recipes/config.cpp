// ConfigSchema: TOML files and key=value overrides applied to bound Config fields, strictly typed,
// and the resolved config written back as TOML. Only this file includes toml++; it validates
// nothing about the values themselves (that is what add_check is for).
#include "recipes/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/check.h"

namespace grpo::recipes {
namespace {

using Field = ConfigSchema::Field;

// Exponent without '+' and leading zeros: "1e-04" -> "1e-4", "1e+30" -> "1e30"; integral text
// gets ".0" so it stays a float.
std::string tidy_real(std::string s) {
  auto e = s.find('e');
  if (e == std::string::npos) return s.find('.') == std::string::npos ? s + ".0" : s;
  std::string exponent = s.substr(e + 2);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return s.substr(0, e) + "e" + (s[e + 1] == '-' ? "-" : "") + exponent;
}

// Shortest text that reads back to the same value (to float precision when `single`), in TOML
// float syntax: 0.1, 1e-4, 3e-7, 2.0, 123456789.0, inf, nan.
std::string format_real(double v, bool single) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  int digits = 1;
  for (; digits < 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    double back = std::strtod(buf, nullptr);
    if (single ? static_cast<float>(back) == static_cast<float>(v) : back == v) break;
  }
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  std::string general = tidy_real(buf);
  // NOTE: %g writes 0.0001; the same digits in scientific form (1e-4) win when shorter.
  std::snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
  std::string scientific = tidy_real(buf);
  return scientific.size() < general.size() ? scientific : general;
}

// A TOML basic string: "text" with \" \\ and control characters escaped.
std::string quote_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string format_field(const Field& field) {
  if (auto p = std::get_if<int64_t*>(&field)) return std::to_string(**p);
  if (auto p = std::get_if<int*>(&field)) return std::to_string(**p);
  if (auto p = std::get_if<double*>(&field)) return format_real(**p, false);
  if (auto p = std::get_if<float*>(&field)) return format_real(**p, true);
  if (auto p = std::get_if<bool*>(&field)) return **p ? "true" : "false";
  if (auto p = std::get_if<std::string*>(&field)) return quote_string(**p);
  if (auto p = std::get_if<std::vector<std::string>*>(&field)) {
    std::string out = "[";
    for (size_t i = 0; i < (*p)->size(); ++i) out += (i ? ", " : "") + quote_string((**p)[i]);
    return out + "]";
  }
  if (auto p = std::get_if<std::map<std::string, double>*>(&field)) {
    std::string out = "{";
    for (const auto& [k, v] : **p) {
      const bool bare = !k.empty() && k.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                                          std::string::npos;
      out += (out.size() > 1 ? ", " : " ") + (bare ? k : quote_string(k)) + " = " + format_real(v, false);
    }
    return out + (out.size() > 1 ? " }" : "}");
  }
  const auto& values = *std::get<std::vector<int64_t>*>(field);
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

const char* type_name(const Field& field) {
  static const char* const kNames[] = {"int", "int", "float", "float", "bool", "string", "int[]", "string[]",
                                       "{name: float}"};
  return kNames[field.index()];
}

// What a value read from TOML looks like, for messages.
std::string describe(const toml::node& node) {
  if (auto v = node.as_integer()) return std::to_string(v->get());
  if (auto v = node.as_floating_point()) return format_real(v->get(), false);
  if (auto v = node.as_boolean()) return v->get() ? "true" : "false";
  if (auto v = node.as_string()) return quote_string(v->get());
  if (node.is_array()) return "an array";
  if (node.is_table()) return "a table";
  return "a date/time";
}

[[noreturn]] void fail_type(const std::string& key, const std::string& expected,
                            const std::string& got, const std::string& where,
                            const std::string& hint) {
  GRPO_FAIL("key '", key, "' expects ", expected, ", got ", got, " (", where, "); ", hint);
}

// Stores `node` into `field` under the type rules in config.h, or throws naming `key`.
void assign(const Field& field, const toml::node& node, const std::string& key,
            const std::string& where) {
  const char* kWhole = "write a whole number such as 8";
  const char* kNumber = "write a number such as 1e-4";
  if (auto p = std::get_if<int64_t*>(&field)) {
    if (!node.is_integer()) fail_type(key, "an integer", describe(node), where, kWhole);
    **p = node.as_integer()->get();
  } else if (auto p = std::get_if<int*>(&field)) {
    if (!node.is_integer()) fail_type(key, "an integer", describe(node), where, kWhole);
    int64_t v = node.as_integer()->get();
    if (v < INT_MIN || v > INT_MAX) {
      fail_type(key, str("an integer in [", INT_MIN, ", ", INT_MAX, "]"), describe(node), where,
                "use a smaller value");
    }
    **p = static_cast<int>(v);
  } else if (std::holds_alternative<double*>(field) || std::holds_alternative<float*>(field)) {
    double v = 0;
    if (auto i = node.as_integer()) {
      v = static_cast<double>(i->get());
    } else if (auto f = node.as_floating_point()) {
      v = f->get();
    } else {
      fail_type(key, "a number", describe(node), where, kNumber);
    }
    if (auto p = std::get_if<double*>(&field)) {
      **p = v;
    } else {
      // NOTE: the bound is FLT_MAX plus half an ulp: anything below rounds to a finite float
      // (the shortest text for FLT_MAX, 3.4028235e38, is itself a little above FLT_MAX).
      if (std::isfinite(v) && std::fabs(v) >= 0x1.ffffffp127) {
        fail_type(key, "a number in 32-bit float range (|x| < 3.4e38)", describe(node), where,
                  "use a smaller value");
      }
      *std::get<float*>(field) = static_cast<float>(v);
    }
  } else if (auto p = std::get_if<bool*>(&field)) {
    if (!node.is_boolean()) fail_type(key, "true or false", describe(node), where,
                                      "write true or false without quotes");
    **p = node.as_boolean()->get();
  } else if (auto p = std::get_if<std::string*>(&field)) {
    if (!node.is_string()) fail_type(key, "a string", describe(node), where,
                                     "put the value in double quotes");
    **p = node.as_string()->get();
  } else if (auto p = std::get_if<std::vector<std::string>*>(&field)) {
    const char* kArray = "write an array of strings such as [\"a\", \"b\"]";
    const toml::array* array = node.as_array();
    if (!array) fail_type(key, "an array of strings", describe(node), where, kArray);
    std::vector<std::string> values;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      if (!item.is_string()) {
        fail_type(key, "an array of strings", str(describe(item), " at index ", i), where, kArray);
      }
      values.push_back(item.as_string()->get());
    }
    **p = std::move(values);
  } else if (auto p = std::get_if<std::map<std::string, double>*>(&field)) {
    const char* kTable = "write a table of numbers such as { math = 1.0, format = 0.1 }";
    const toml::table* table = node.as_table();
    if (!table) fail_type(key, "a table of numbers", describe(node), where, kTable);
    std::map<std::string, double> values;
    for (const auto& [name, item] : *table) {
      const std::string entry = key + "." + std::string(name.str());
      if (auto i = item.as_integer()) {
        values[std::string(name.str())] = static_cast<double>(i->get());
      } else if (auto f = item.as_floating_point()) {
        values[std::string(name.str())] = f->get();
      } else {
        // The entry's own line, when the table spans several ("in x.toml:1" -> "in x.toml:2").
        std::string at = where;
        const auto colon = where.rfind(':');
        if (where.rfind("in ", 0) == 0 && colon != std::string::npos && item.source().begin.line > 0)
          at = where.substr(0, colon + 1) + std::to_string(item.source().begin.line);
        fail_type(entry, "a number", describe(item), at, kTable);
      }
    }
    **p = std::move(values);
  } else {
    const char* kArray = "write an array such as [1, 2]";
    const toml::array* array = node.as_array();
    if (!array) fail_type(key, "an array of integers", describe(node), where, kArray);
    std::vector<int64_t> values;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      if (!item.is_integer()) {
        fail_type(key, "an array of integers", str(describe(item), " at index ", i), where, kArray);
      }
      values.push_back(item.as_integer()->get());
    }
    *std::get<std::vector<int64_t>*>(field) = std::move(values);
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string last_segment(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string trim(const std::string& s) {
  auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

void ConfigSchema::add_entry(const std::string& key, Field field, std::string help) {
  bool well_formed = !key.empty() && key.front() != '.' && key.back() != '.' &&
                     key.find("..") == std::string::npos &&
                     key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") ==
                         std::string::npos;
  GRPO_CHECK(well_formed, "config key '", key,
             "' is malformed; use lower_snake_case segments joined by dots, e.g. rl.group_size");
  GRPO_CHECK(!find(key) && !is_group(key), "config key '", key,
             "' is registered twice; give each field its own key");
  for (auto dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
    GRPO_CHECK(!find(key.substr(0, dot)), "config key '", key, "' nests under the value key '",
               key.substr(0, dot), "'; a key cannot be both a value and a group");
  }
  GRPO_CHECK(!help.empty() && help.find('\n') == std::string::npos, "config key '", key,
             "' needs one line of help; say what it means, its unit and where it comes from");
  std::string default_text = format_field(field);
  entries_.push_back({key, field, std::move(help), std::move(default_text)});
}

void ConfigSchema::add(const std::string& key, int64_t* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, int* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, double* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, float* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, bool* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, std::string* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, std::vector<int64_t>* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, std::vector<std::string>* field, std::string help) {
  add_entry(key, field, std::move(help));
}
void ConfigSchema::add(const std::string& key, std::map<std::string, double>* field, std::string help) {
  add_entry(key, field, std::move(help));
}

void ConfigSchema::add_check(std::function<void()> check) { checks_.push_back(std::move(check)); }

const ConfigSchema::Entry* ConfigSchema::find(const std::string& key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

bool ConfigSchema::is_group(const std::string& path) const {
  for (const Entry& e : entries_) {
    if (e.key.size() > path.size() && e.key.compare(0, path.size(), path) == 0 &&
        e.key[path.size()] == '.') {
      return true;
    }
  }
  return false;
}

bool ConfigSchema::has_key(const std::string& key) const { return find(key) != nullptr; }

void ConfigSchema::fail_unknown(const std::string& key, const std::string& where) const {
  if (is_group(key)) {
    auto inside = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return e.key.compare(0, key.size() + 1, key + ".") == 0;
    });
    GRPO_FAIL("key '", key, "' ", where, " is a group of keys, not a value; set a key inside it, ",
              "e.g. '", inside->key, "'");
  }
  // The closest key by edit distance when close; else a key with the same last segment
  // ("lr" given at top level when "rl.lr" exists).
  const Entry* best = nullptr;
  size_t best_distance = std::max<size_t>(2, key.size() / 4) + 1;
  for (const Entry& e : entries_) {
    size_t d = edit_distance(key, e.key);
    if (d < best_distance) best = &e, best_distance = d;
  }
  for (const Entry& e : entries_) {
    if (!best && last_segment(e.key) == last_segment(key)) best = &e;
  }
  if (best) GRPO_FAIL("unknown key '", key, "' ", where, "; did you mean '", best->key, "'?");
  GRPO_FAIL("unknown key '", key, "' ", where, "; run `grpo help` to list the keys");
}

void ConfigSchema::load_toml_file(const std::string& path) {
  std::error_code ec;
  GRPO_CHECK(std::filesystem::is_regular_file(path, ec), "config file '", path,
             "' not found; check the path (recipes live in recipes/*.toml)");
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in.good(), "cannot read config file '", path, "'; check its permissions");
  std::ostringstream text;
  text << in.rdbuf();
  load_toml_string(text.str(), path);
}

void ConfigSchema::load_toml_string(const std::string& text, const std::string& label) {
  toml::table root;
  try {
    root = toml::parse(std::string_view(text), std::string_view(label));
  } catch (const toml::parse_error& e) {
    std::string what(e.description());
    std::replace(what.begin(), what.end(), '\n', ' ');
    GRPO_FAIL("TOML syntax error in ", label, ":", e.source().begin.line, ":",
              e.source().begin.column, ": ", what, "; fix the file (syntax: https://toml.io)");
  }
  std::function<void(const toml::table&, const std::string&)> walk =
      [&](const toml::table& table, const std::string& prefix) {
        for (const auto& [name, node] : table) {
          std::string path = prefix + std::string(name.str());
          std::string where = str("in ", label, ":", node.source().begin.line);
          if (const Entry* e = find(path)) {
            assign(e->field, node, path, where);
          } else if (node.is_table() && (is_group(path) || !node.as_table()->empty())) {
            walk(*node.as_table(), path + ".");  // unknown leaves below are named in full
          } else {
            fail_unknown(path, where);
          }
        }
      };
  walk(root, "");
}

void ConfigSchema::apply_override(const std::string& key_eq_value) {
  const std::string where = "on the command line";
  auto eq = key_eq_value.find('=');
  GRPO_CHECK(eq != std::string::npos, "override '", key_eq_value,
             "' has no '='; write key=value, e.g. rl.lr=1e-4");
  std::string key = trim(key_eq_value.substr(0, eq));
  std::string value = trim(key_eq_value.substr(eq + 1));
  GRPO_CHECK(!key.empty(), "override '", key_eq_value,
             "' has no key before '='; write key=value, e.g. rl.lr=1e-4");
  const Entry* entry = find(key);
  if (!entry) {
    // One entry of a name -> float table: reward.weights.math=0.5.
    const auto dot = key.rfind('.');
    const Entry* table = dot == std::string::npos ? nullptr : find(key.substr(0, dot));
    if (table && std::holds_alternative<std::map<std::string, double>*>(table->field)) {
      const std::string name = key.substr(dot + 1);
      toml::table parsed;
      try {
        const std::string doc = "v = " + value;
        parsed = toml::parse(std::string_view(doc), std::string_view("command line"));
      } catch (const toml::parse_error&) {
      }
      const toml::node* v = parsed.get("v");
      if (v == nullptr || !(v->is_integer() || v->is_floating_point())) {
        fail_type(key, "a number", "'" + value + "'", where, "write a number such as 0.5");
      }
      (*std::get<std::map<std::string, double>*>(table->field))[name] =
          v->is_integer() ? static_cast<double>(v->as_integer()->get()) : v->as_floating_point()->get();
      return;
    }
    fail_unknown(key, where);
  }
  if (auto p = std::get_if<std::string*>(&entry->field)) {
    if (value.empty() || (value[0] != '"' && value[0] != '\'')) {
      **p = value;  // bare text: name=x, model.path=/a/b
      return;
    }
  }
  // NOTE: the value is read as a TOML value so the command line obeys exactly the file's rules.
  toml::table parsed;
  std::string problem;
  try {
    const std::string doc = "v = " + value;
    parsed = toml::parse(std::string_view(doc), std::string_view("command line"));
    if (parsed.size() != 1) problem = "more than one value";
  } catch (const toml::parse_error& e) {
    problem = std::string(e.description());
    std::replace(problem.begin(), problem.end(), '\n', ' ');
  }
  if (!problem.empty()) {
    fail_type(key, str("a value of type ", type_name(entry->field)), "'" + value + "'",
              str(where, ": ", problem), "write it like the default, " + entry->default_text);
  }
  assign(entry->field, *parsed.get("v"), key, where);
}

void ConfigSchema::apply_overrides(const std::vector<std::string>& args) {
  for (const std::string& arg : args) apply_override(arg);
}

void ConfigSchema::validate() const {
  for (const auto& check : checks_) check();
}

std::vector<std::pair<std::string, std::string>> ConfigSchema::values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Entry& e : entries_) out.emplace_back(e.key, format_field(e.field));
  return out;
}

std::string ConfigSchema::to_toml() const {
  // Top-level keys first (TOML puts them before any [table]), then tables in order of appearance.
  std::vector<std::string> groups = {""};
  for (const Entry& e : entries_) {
    auto dot = e.key.rfind('.');
    std::string group = dot == std::string::npos ? "" : e.key.substr(0, dot);
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
  }
  std::ostringstream out;
  for (const std::string& group : groups) {
    std::vector<std::pair<std::string, const Entry*>> lines;
    size_t width = 0;
    for (const Entry& e : entries_) {
      auto dot = e.key.rfind('.');
      if ((dot == std::string::npos ? "" : e.key.substr(0, dot)) != group) continue;
      lines.emplace_back(last_segment(e.key) + " = " + format_field(e.field), &e);
      width = std::max(width, lines.back().first.size());
    }
    if (lines.empty()) continue;
    if (!group.empty()) out << (out.tellp() > 0 ? "\n" : "") << "[" << group << "]\n";
    for (const auto& [line, e] : lines) {
      size_t column = std::min<size_t>(width, 40);  // comments aligned, unless a value is long
      out << line << std::string(line.size() < column ? column - line.size() + 2 : 2, ' ') << "# "
          << e->help << "\n";
    }
  }
  return out.str();
}

std::string ConfigSchema::help() const {
  size_t key_width = 0, default_width = 0;
  for (const Entry& e : entries_) {
    key_width = std::max(key_width, e.key.size());
    default_width = std::max(default_width, std::min<size_t>(e.default_text.size(), 24));
  }
  std::ostringstream out;
  for (const Entry& e : entries_) {
    auto pad = [](const std::string& s, size_t w) {
      return s + std::string(w > s.size() ? w - s.size() : 0, ' ');
    };
    out << pad(e.key, key_width) << "  " << pad(type_name(e.field), 6) << "  "
        << pad(e.default_text, default_width) << "  " << e.help << "\n";
  }
  return out.str();
}

}  // namespace grpo::recipes
