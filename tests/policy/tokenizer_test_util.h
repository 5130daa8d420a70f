// Helpers shared by the tokenizer tests: paths into shared/data/tokenizers and the llama.cpp vector format.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/shared_data.h"

namespace grpo::test {

inline std::string tokenizer_data(const std::string& rel) {
  const std::string path = shared_data_path("tokenizers/" + rel);
  if (!std::filesystem::exists(path))
    throw std::runtime_error(path + " is missing; hint: the tests read shared/data beside the checkout "
                             "(GRPO_SHARED_DATA=DIR to point elsewhere)");
  return path;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// llama.cpp's .inp: strings joined by "\n__ggml_vocab_test__\n" (and one after the last).
inline std::vector<std::string> read_vector_inputs(const std::string& path) {
  const std::string text = slurp(path), sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t next = text.find(sep, pos);
    if (next == std::string::npos) {
      out.push_back(text.substr(pos));
      break;
    }
    out.push_back(text.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return out;
}

// .out: one line of space-separated ids per input.
inline std::vector<std::vector<int64_t>> read_vector_outputs(const std::string& path) {
  std::istringstream in(slurp(path));
  std::vector<std::vector<int64_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int64_t> ids;
    int64_t id;
    while (ls >> id) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

}  // namespace grpo::test
