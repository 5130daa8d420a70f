// load_tokenizer: picks the implementation that matches a checkpoint's tokenizer files.
#include "policy/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "kernels/check.h"
#include "policy/tokenizer/char_tokenizer.h"

namespace grpo::policy {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  std::string path = dir + "/tokenizer.json";
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in.good(), "cannot open ", path, "; hint: a checkpoint directory holds tokenizer.json");
  std::stringstream ss;
  ss << in.rdbuf();
  // NOTE: only the character tokenizer exists so far; from_json names the field that does not match it.
  return CharTokenizer::from_json(ss.str(), path);
}

}  // namespace grpo::policy
