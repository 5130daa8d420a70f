// A recipe: the TOML file plus key=value overrides, bound onto rl::TrainConfig through the one ConfigSchema.
// Every key, its type, default and meaning is registered here; nothing else in the program reads TOML.
#pragma once

#include <string>
#include <vector>

#include "recipes/config.h"
#include "rl/trainer.h"

namespace grpo::recipes {

class Recipe {
 public:
  Recipe();  // registers every key with its default
  Recipe(const Recipe&) = delete;
  Recipe& operator=(const Recipe&) = delete;

  // Loads the file, applies the overrides, validates. Errors name the file or key (grpo::Error).
  void load(const std::string& path, const std::vector<std::string>& overrides);
  std::string to_toml() const { return schema_.to_toml(); }
  std::string help() const { return schema_.help(); }
  // The keys whose values differ from those of a previously written config.toml (its path), except the ones that
  // do not change what is trained (run.resume, thread counts, checkpoint cadence, evaluation, the step count of a
  // constant schedule). Throws naming the file when it no longer loads.
  std::vector<std::string> changed_keys(const std::string& previous_config) const;
  // Each key's value as TOML text.
  std::vector<std::pair<std::string, std::string>> values() const { return schema_.values(); }

  rl::TrainConfig cfg;

 private:
  void bind();
  void finish();  // turns the string-valued choices into enums

  ConfigSchema schema_;
  std::string loss_aggregation_ = "token_mean";
};

}  // namespace grpo::recipes
