// Parity with the Hugging Face `tokenizers` library on the 2,120-string corpus of
// tests/fixtures/tokenizers/corpus.jsonl (scripts/make_tokenizer_fixtures.py): code, LaTeX, CJK, emoji,
// combining marks, whitespace runs, digits, special tokens in text, contractions, random code points, long
// pieces and invalid UTF-8. Ids must be identical for the Qwen2 vocabulary and GPT-2's.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

#include "policy/tokenizer/pre_tokenizer.h"
#include "policy/tokenizer/tokenizer.h"
#include "policy/tokenizer/unicode.h"
#include "tests/policy/tokenizer_test_util.h"
#include "tests/shared_data.h"

namespace {

struct CorpusLine {
  std::string input, kind;
  std::vector<int64_t> qwen2, gpt2;
  std::map<std::string, std::string> pieces;  // regex set -> FNV-1a 64 of its pieces joined by NUL, in hex
  bool post_unicode_14 = false;               // has a code point assigned after Unicode 14 (RE2's tables)
};

std::vector<CorpusLine> read_corpus() {
  std::istringstream in(grpo::test::slurp(grpo::test::source_path("tests/fixtures/tokenizers/corpus.jsonl")));
  std::vector<CorpusLine> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    CorpusLine c;
    if (j.contains("text")) {
      c.input = j.at("text").get<std::string>();
    } else {
      const std::string hex = j.at("hex");
      for (size_t i = 0; i < hex.size(); i += 2) c.input += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    c.kind = j.at("kind");
    c.qwen2 = j.at("qwen2").get<std::vector<int64_t>>();
    c.gpt2 = j.at("gpt2").get<std::vector<int64_t>>();
    c.pieces = j.at("pieces").get<std::map<std::string, std::string>>();
    c.post_unicode_14 = j.value("post_unicode_14", false);
    out.push_back(std::move(c));
  }
  return out;
}

void check_parity(const std::string& tokenizer_path, bool qwen) {
  auto tok = grpo::policy::load_tokenizer(tokenizer_path);
  const auto corpus = read_corpus();
  REQUIRE(corpus.size() >= 2000);
  std::map<std::string, std::pair<int, int>> by_kind;  // kind -> (matched, total)
  int round_trips = 0;
  for (const auto& c : corpus) {
    const auto ids = tok->encode(c.input);
    const auto& want = qwen ? c.qwen2 : c.gpt2;
    auto& k = by_kind[c.kind];
    ++k.second;
    if (ids == want) ++k.first;
    else UNSCOPED_INFO("[" << c.kind << "] '" << c.input << "' differs");
    // decode(encode(x)) is x after the repair of invalid UTF-8 (and NFC for Qwen).
    std::string repaired, nfc;
    std::string_view expect = grpo::policy::repair_utf8(c.input, repaired);
    if (qwen) expect = grpo::policy::to_nfc(expect, nfc);
    round_trips += tok->decode(ids) == expect;
  }
  int matched = 0;
  for (const auto& [kind, k] : by_kind) {
    matched += k.first;
    CHECK(k.first == k.second);
  }
  INFO(matched << "/" << corpus.size() << " identical, " << round_trips << " round trips");
  CHECK(matched == static_cast<int>(corpus.size()));
  CHECK(round_trips == static_cast<int>(corpus.size()));
}

}  // namespace

TEST_CASE("Qwen2 vocabulary gives tokenizers' ids on the parity corpus", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_parity(grpo::test::tokenizer_data("qwen2_vocab"), true);
}

TEST_CASE("GPT-2 vocabulary gives tokenizers' ids on the parity corpus", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  check_parity(grpo::test::tokenizer_data("ggml-vocab-gpt-2.gguf"), false);
}

TEST_CASE("every regex set cuts the corpus as Oniguruma does", "[cpu][tokenizer]") {
  // Covers the Llama-3 and DeepSeek-V3 regexes too, whose vocabularies are not available here.
  // NOTE: RE2's Unicode 14 tables do not know code points assigned later, which Oniguruma in `tokenizers` 0.23
  // classes as letters or symbols; lines with such code points may be cut differently and are only counted.
  const auto corpus = read_corpus();
  for (const std::string name : {"gpt-2", "qwen2", "llama3", "deepseek-v3", "deepseek-llm", "deepseek-coder"}) {
    grpo::policy::PreTokenizer pre(grpo::policy::pre_tokenizer_preset(name).patterns, name);
    int matched = 0, newer = 0, newer_differ = 0;
    std::vector<std::string_view> pieces;
    for (const auto& c : corpus) {
      std::string storage;
      pieces.clear();
      pre.split(grpo::policy::repair_utf8(c.input, storage), pieces);
      uint64_t h = 0xcbf29ce484222325ull;
      for (size_t i = 0; i < pieces.size(); ++i) {
        if (i) h = (h ^ 0u) * 0x100000001b3ull;
        for (unsigned char b : pieces[i]) h = (h ^ b) * 0x100000001b3ull;
      }
      char hex[17];
      std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
      const bool same = c.pieces.at(name) == hex;
      if (c.post_unicode_14) {
        ++newer;
        newer_differ += !same;
      } else if (same) {
        ++matched;
      } else {
        UNSCOPED_INFO(name << " [" << c.kind << "] cuts '" << c.input << "' differently");
      }
    }
    const int n = static_cast<int>(corpus.size()) - newer;
    WARN(name << ": " << matched << "/" << n << " identical; " << newer_differ << " of " << newer
              << " lines with post-Unicode-14 code points cut differently");
    CHECK(matched == n);
  }
}
