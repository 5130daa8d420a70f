// The llama.cpp tokenizer test vectors (ids produced by Hugging Face `encode(text, add_special_tokens=False)`):
// 46 strings per vocabulary, ids must match exactly and decode(encode(x)) must give x back.
#include <catch2/catch.hpp>

#include "policy/tokenizer/tokenizer.h"
#include "tests/policy/tokenizer_test_util.h"

using grpo::policy::load_tokenizer;

namespace {

void check_vectors(const std::string& tokenizer_path, const std::string& vectors) {
  auto tok = load_tokenizer(tokenizer_path);
  const auto inputs = grpo::test::read_vector_inputs(grpo::test::tokenizer_data(vectors + ".inp"));
  const auto expected = grpo::test::read_vector_outputs(grpo::test::tokenizer_data(vectors + ".out"));
  REQUIRE(inputs.size() == 46);
  REQUIRE(expected.size() == inputs.size());
  int matched = 0, round_trips = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = tok->encode(inputs[i]);
    if (ids == expected[i]) ++matched;
    else UNSCOPED_INFO("vector " << i << " '" << inputs[i] << "' differs");
    CHECK(ids == expected[i]);
    const std::string back = tok->decode(ids);
    if (back == inputs[i]) ++round_trips;
    CHECK(back == inputs[i]);
  }
  INFO(vectors << ": " << matched << "/46 ids, " << round_trips << "/46 round trips");
  CHECK(matched == 46);
  CHECK(round_trips == 46);
}

}  // namespace

TEST_CASE("qwen2 vectors with the Qwen2 vocab.json + merges.txt", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_vectors(grpo::test::tokenizer_data("qwen2_vocab"), "ggml-vocab-qwen2.gguf");
}

TEST_CASE("deepseek-r1-qwen vectors with the Qwen2 vocabulary", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_vectors(grpo::test::tokenizer_data("qwen2_vocab"), "ggml-vocab-deepseek-r1-qwen.gguf");
}

TEST_CASE("llama-spm vectors with the Llama-2 sentencepiece model", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_vectors(grpo::test::tokenizer_data("llama2_spm/tokenizer.model"), "ggml-vocab-llama-spm.gguf");
}

TEST_CASE("gpt-2 vectors with the vocabulary inside its GGUF", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_vectors(grpo::test::tokenizer_data("ggml-vocab-gpt-2.gguf"), "ggml-vocab-gpt-2.gguf");
}

TEST_CASE("deepseek-llm vectors with the vocabulary inside its GGUF", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_vectors(grpo::test::tokenizer_data("ggml-vocab-deepseek-llm.gguf"), "ggml-vocab-deepseek-llm.gguf");
}

TEST_CASE("deepseek-coder vectors with the vocabulary inside its GGUF", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_vectors(grpo::test::tokenizer_data("ggml-vocab-deepseek-coder.gguf"), "ggml-vocab-deepseek-coder.gguf");
}
