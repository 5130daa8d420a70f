// ConfigSchema: binds dotted keys ("rl.lr") to fields of the plain Config structs that live in
// each component, and is the only parser of recipe TOML files and key=value overrides.
// It owns no config values and knows no component; recipes/ registers the keys.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace grpo::recipes {

// Type rules, the same for files and overrides (an override's value is read as a TOML value):
//   int / int64  a TOML integer only: 2.5, 3.0, 1e30, "3", true are errors; out of range for the
//                field (3000000000 into an int) is an error.
//   float/double a TOML integer or float (1e-4, 3, inf, nan); out of float range is an error.
//   bool         true or false only (not 1/0, not "true").
//   string       a TOML string; on the command line also bare text: name=x, model.path=/a/b.
//                A value starting with '"' or '\'' is read as a quoted TOML string.
//   int array    a TOML array of integers: task.sizes=[1,2].
//   string array a TOML array of strings: rollout.stop=["</answer>"].
//   name -> float a TOML table of numbers: [reward.weights] math = 1.0, or inline {math = 1.0, format = 0.1};
//                on the command line reward.weights={math=1,format=0.1} replaces the table and
//                reward.weights.math=0.5 sets one entry.
// A table or array where a scalar is expected is an error. Every error is one line naming the key
// and where it came from, ending with a hint. On error some fields may already be updated; errors
// are meant to be fatal.
class ConfigSchema {
 public:
  // A pointer to one bound field, of one of the supported types.
  using Field = std::variant<int64_t*, int*, double*, float*, bool*, std::string*,
                             std::vector<int64_t>*, std::vector<std::string>*, std::map<std::string, double>*>;

  // Binds `key` to `field`. The field's current value is the default. `help` is one line: meaning,
  // unit, origin ("upper clip epsilon; DAPO"). REQUIRES: `field` outlives the schema.
  void add(const std::string& key, int64_t* field, std::string help);
  void add(const std::string& key, int* field, std::string help);
  void add(const std::string& key, double* field, std::string help);
  void add(const std::string& key, float* field, std::string help);
  void add(const std::string& key, bool* field, std::string help);
  void add(const std::string& key, std::string* field, std::string help);
  void add(const std::string& key, std::vector<int64_t>* field, std::string help);
  void add(const std::string& key, std::vector<std::string>* field, std::string help);
  void add(const std::string& key, std::map<std::string, double>* field, std::string help);

  // A check run by validate(), after files and overrides are applied; it throws via GRPO_CHECK.
  void add_check(std::function<void()> check);

  // Applies every key of a TOML document. Nested tables ([rl] lr = 1e-4) and dotted keys
  // (rl.lr = 1e-4) name the same key. `label` names the source in messages (usually the path).
  void load_toml_file(const std::string& path);
  void load_toml_string(const std::string& text, const std::string& label);

  // Applies "key=value" (split at the first '='). Later overrides of a key win.
  void apply_override(const std::string& key_eq_value);
  void apply_overrides(const std::vector<std::string>& args);

  void validate() const;

  // The resolved config as TOML: top-level keys first, then one [table] per key prefix, each key
  // with its help as a trailing comment. load_toml_string(to_toml()) reproduces every value exactly.
  std::string to_toml() const;
  // Every key with its type, default and help (for `grpo help`).
  std::string help() const;
  bool has_key(const std::string& key) const;
  // Every key with its current value formatted as TOML, in registration order (for comparing two configs).
  std::vector<std::pair<std::string, std::string>> values() const;

 private:
  struct Entry {
    std::string key;
    Field field;
    std::string help;
    std::string default_text;  // the field's value at add(), formatted as TOML
  };

  void add_entry(const std::string& key, Field field, std::string help);
  const Entry* find(const std::string& key) const;
  bool is_group(const std::string& path) const;  // some key starts with path + "."
  // Throws "unknown key ..." with the closest known key as a hint; `where` is " in x.toml:3".
  [[noreturn]] void fail_unknown(const std::string& key, const std::string& where) const;

  std::vector<Entry> entries_;
  std::vector<std::function<void()>> checks_;
};

}  // namespace grpo::recipes
