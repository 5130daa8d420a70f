// Byte-level BPE pieces in isolation: UTF-8 repair, the RE2 rewrite of the lookahead, the merge order on a
// hand-made vocabulary, added-token options, save -> load round trips, and malformed or hostile files (each
// error must name the file and field).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "kernels/check.h"
#include "tests/temp_dir.h"
#include "policy/tokenizer/bpe_tokenizer.h"
#include "policy/tokenizer/gguf_vocab.h"
#include "policy/tokenizer/pre_tokenizer.h"
#include "policy/tokenizer/tokenizer.h"
#include "policy/tokenizer/unicode.h"
#include "tests/policy/tokenizer_test_util.h"

using namespace grpo::policy;
namespace fs = std::filesystem;

namespace {

using TempDir = grpo::test::TempDir;

// 256 byte tokens (ids 0..255 in byte order) plus the given merges; no regex split.
BpeTokenizerSpec tiny_spec(const std::vector<std::pair<std::string, std::string>>& merges) {
  BpeTokenizerSpec s;
  s.label = "tiny";
  for (int b = 0; b < 256; ++b) s.vocab.push_back(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
  for (const auto& [a, b] : merges) {
    s.merges.push_back({bytes_to_byte_level(a), bytes_to_byte_level(b)});
    s.vocab.push_back(bytes_to_byte_level(a + b));
  }
  return s;
}

std::string repaired(const std::string& in) {
  std::string storage;
  return std::string(repair_utf8(in, storage));
}

}  // namespace

TEST_CASE("invalid UTF-8 becomes U+FFFD per maximal subpart, as Python's errors='replace'", "[cpu][tokenizer]") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(repaired("plain ascii") == "plain ascii");
  CHECK(repaired("caf\xC3\xA9") == "caf\xC3\xA9");
  CHECK(repaired("a\xFF" "b") == "a" + r + "b");
  CHECK(repaired("\xE2\x82") == r);                    // truncated 3-byte sequence: one replacement
  CHECK(repaired("\xF0\x80\x80") == r + r + r);        // F0 needs 90..BF next: three replacements
  CHECK(repaired("\xED\xA0\x80") == r + r + r);        // an encoded surrogate
  CHECK(repaired("\xC0\x80") == r + r);                // overlong NUL
  CHECK(repaired("\xF4\x90\x80\x80") == r + r + r + r);  // above U+10FFFF
  CHECK(repaired("\xF0\x9F\x98") == r);                // an emoji cut short
  std::string storage;
  const std::string valid = "日本 🚀";
  CHECK(repair_utf8(valid, storage).data() == valid.data());  // valid input is not copied
}

TEST_CASE("the lookahead alternative is removed and \\s spelled out for RE2", "[cpu][tokenizer]") {
  bool give_back = false;
  const std::string re2 = to_re2_pattern(R"( ?\p{L}+|\s+(?!\S)|\s+)", &give_back, "t");
  CHECK(give_back);
  CHECK(re2.find("(?!") == std::string::npos);
  CHECK(re2.find(R"(\p{Z})") != std::string::npos);
  CHECK_THROWS_WITH(to_re2_pattern(R"(a(?=b))", &give_back, "file.json: pre_tokenizer"),
                    Catch::Contains("file.json: pre_tokenizer") && Catch::Contains("lookaround"));
  // "   Hello": the run of three spaces leaves its last one to the word, as the lookahead would.
  PreTokenizer pre({pre_tokenizer_preset("qwen2").patterns}, "qwen2");
  std::vector<std::string_view> pieces;
  pre.split("   Hello\u3000\u3000x\n\n  y", pieces);
  std::vector<std::string> got(pieces.begin(), pieces.end());
  CHECK(got == std::vector<std::string>{"  ", " Hello", "\u3000", "\u3000x", "\n\n", " ", " y"});
}

TEST_CASE("smollm (GGUF tokenizer.ggml.pre) splits digits one by one, then GPT-2's regex", "[cpu][tokenizer]") {
  // SmolLM2's tokenizer.json: Digits(individual_digits=true), then ByteLevel(use_regex=true).
  PreTokenizer pre(pre_tokenizer_preset("smollm").patterns, "smollm");
  std::vector<std::string_view> pieces;
  pre.split("Ben has 36 coins, x2=3.5", pieces);
  std::vector<std::string> got(pieces.begin(), pieces.end());
  CHECK(got == std::vector<std::string>{"Ben", " has", " ", "3", "6", " coins", ",", " x", "2", "=", "3", ".", "5"});
  pieces.clear();
  PreTokenizer gpt2(pre_tokenizer_preset("gpt-2").patterns, "gpt-2");
  gpt2.split("Ben has 36", pieces);
  CHECK(std::vector<std::string>(pieces.begin(), pieces.end()) == std::vector<std::string>{"Ben", " has", " 36"});
}

TEST_CASE("BPE merges the lowest rank first, leftmost on ties", "[cpu][tokenizer]") {
  {
    BpeTokenizer tok(tiny_spec({{"a", "a"}}));
    CHECK(tok.encode("aaa") == std::vector<int64_t>{256, 'a'});  // [aa, a], not [a, aa]
  }
  {
    BpeTokenizer tok(tiny_spec({{"b", "c"}, {"a", "b"}}));  // "bc" has rank 0, so "ab" never forms in "abc"
    CHECK(tok.encode("abc") == std::vector<int64_t>{'a', 256});
    CHECK(tok.encode("abd") == std::vector<int64_t>{257, 'd'});
  }
  {
    // A 100,000-byte piece: the heap loop merges it in one pass (a quadratic rescan would take minutes).
    BpeTokenizer tok(tiny_spec({{"a", "a"}, {"aa", "aa"}}));
    const auto ids = tok.encode(std::string(100000, 'a'));
    REQUIRE(ids.size() == 25000);
    CHECK(std::all_of(ids.begin(), ids.end(), [](int64_t id) { return id == 257; }));
    CHECK(tok.decode(ids) == std::string(100000, 'a'));
  }
}

TEST_CASE("a byte without a token is dropped and its neighbours still merge, as tokenizers does", "[cpu][tokenizer]") {
  // SmolLM2's vocabulary has no token for 21 bytes (0x04, 0xff, ...); tokenizers 0.23 with the same vocabulary and
  // merge encodes "!\x04!" as ["!!"], "\x04" as nothing and "!!\x04" as ["!!"].
  BpeTokenizerSpec s = tiny_spec({{"!", "!"}});
  s.vocab[0x04] = s.vocab[0xff] = "";
  BpeTokenizer tok(std::move(s));
  CHECK(tok.encode("!\x04!") == std::vector<int64_t>{256});
  CHECK(tok.encode("\x04").empty());
  CHECK(tok.encode("!!\x04") == std::vector<int64_t>{256});
  CHECK(tok.encode("a\x04" "b") == std::vector<int64_t>{'a', 'b'});
  BpeTokenizerSpec no_ascii = tiny_spec({});
  no_ascii.vocab['q'] = "";
  CHECK_THROWS_WITH(BpeTokenizer(std::move(no_ascii)), Catch::Contains("tiny") && Catch::Contains("byte 0x71"));
}

TEST_CASE("added tokens: leftmost-longest, lstrip, rstrip, single_word", "[cpu][tokenizer]") {
  BpeTokenizerSpec s = tiny_spec({});
  s.added = {{"<a>", 300}, {"<a><b>", 301}, {"[L]", 302, true, true}, {"[R]", 303, true, false, true},
             {"cat", 304, false, false, false, true}};
  BpeTokenizer tok(std::move(s));
  CHECK(tok.encode("x<a><b>y") == std::vector<int64_t>{'x', 301, 'y'});
  CHECK(tok.encode("<a>") == std::vector<int64_t>{300});
  CHECK(tok.encode("x  [L]y") == std::vector<int64_t>{'x', 302, 'y'});   // swallows the spaces on its left
  CHECK(tok.encode("x[R]  y") == std::vector<int64_t>{'x', 303, 'y'});   // ... on its right
  CHECK(tok.encode("a cat") == std::vector<int64_t>{'a', ' ', 304});
  CHECK(tok.encode("concat") == std::vector<int64_t>{'c', 'o', 'n', 'c', 'a', 't'});  // inside a word: no match
  CHECK(tok.decode({'x', 301}) == "x<a><b>");
  CHECK(tok.token_to_id("<a><b>") == 301);
  CHECK_THROWS_WITH(tok.decode({305}), Catch::Contains("outside the vocabulary"));
}

TEST_CASE("a saved tokenizer.json loads back with the same ids", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  const std::vector<std::string> texts = {"Hello world<|im_end|>", "  x = 3.14159\n\n", "日本語テキスト 🚀", "e\u0301"};
  for (const std::string src : {"qwen2_vocab", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-coder.gguf"}) {
    auto tok = load_tokenizer(grpo::test::tokenizer_data(src));
    TempDir dir;
    tok->save(dir.path.string());
    auto back = load_tokenizer(dir.path.string());
    INFO(src);
    CHECK(back->vocab_size() == tok->vocab_size());
    CHECK(back->eos_id() == tok->eos_id());
    CHECK(back->adds_bos() == tok->adds_bos());
    for (const auto& t : texts) CHECK(back->encode(t) == tok->encode(t));
  }
}

TEST_CASE("malformed tokenizer files stop with the file and field named", "[cpu][tokenizer]") {
  TempDir d;
  nlohmann::json full = nlohmann::json::object();  // the 256 byte tokens and "ab"
  for (int b = 0; b < 256; ++b) full[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = b;
  full["ab"] = 256;
  const std::string vocab = full.dump(), partial_vocab = R"({"a": 0, "b": 1, "ab": 2})";
  auto tj = [&](const std::string& model, const std::string& rest = "") {
    return d.file("tokenizer.json", R"({"model": )" + model + rest +
                                        R"(, "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}})");
  };
  CHECK_THROWS_WITH(load_tokenizer(d.file("tokenizer.json", "{\"model\": {")),
                    Catch::Contains("tokenizer.json") && Catch::Contains("invalid JSON"));
  CHECK_THROWS_WITH(load_tokenizer(tj(R"({"type": "WordPiece", "vocab": {}})")),
                    Catch::Contains("tokenizer.json") && Catch::Contains("model.type"));
  CHECK_THROWS_WITH(load_tokenizer(tj(R"({"type": "BPE", "vocab": )" + vocab + R"(, "merges": ["a zz"]})")),
                    Catch::Contains("tokenizer.json") && Catch::Contains("merge 0") && Catch::Contains("not in the vocabulary"));
  CHECK_THROWS_WITH(load_tokenizer(tj(R"({"type": "BPE", "vocab": )" + vocab + R"(, "merges": ["a b", "b a"]})")),
                    Catch::Contains("merge 1") && Catch::Contains("makes 'ba'"));
  CHECK_THROWS_WITH(load_tokenizer(tj(R"({"type": "BPE", "vocab": )" + vocab + R"(, "merges": ["a  b c"]})")),
                    Catch::Contains("model.merges[0]"));
  CHECK_THROWS_WITH(load_tokenizer(tj(R"({"type": "BPE", "vocab": {"a": -1}, "merges": []})")),
                    Catch::Contains("model.vocab"));
  CHECK_THROWS_WITH(load_tokenizer(tj(R"({"type": "BPE", "byte_fallback": true, "vocab": )" + vocab + R"(, "merges": []})")),
                    Catch::Contains("byte_fallback"));
  // A byte-level vocabulary without the printable ASCII bytes.
  CHECK_THROWS_WITH(load_tokenizer(tj(R"({"type": "BPE", "vocab": )" + partial_vocab + R"(, "merges": []})")),
                    Catch::Contains("no token for byte"));
  CHECK_THROWS_WITH(load_tokenizer(d.file("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "ByteLevel"}})")),
                    Catch::Contains("normalizer") && Catch::Contains("NFKC"));
  CHECK_THROWS_WITH(load_tokenizer(d.file("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Removed"}})")),
                    Catch::Contains("pre_tokenizer") && Catch::Contains("Removed"));
  CHECK_THROWS_WITH(load_tokenizer(d.file("tokenizer.json", R"({"model": {"type": "BPE", "vocab": )" + vocab + R"(,
      "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(["},
      "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}})")),
                    Catch::Contains("cannot compile pattern"));
  // vocab.json + merges.txt.
  TempDir v;
  v.file("vocab.json", vocab);
  v.file("merges.txt", "#version: 0.2\na b\nbroken\n");
  v.file("tokenizer_config.json", R"({"tokenizer_class": "Qwen2Tokenizer"})");
  CHECK_THROWS_WITH(load_tokenizer(v.path.string()), Catch::Contains("merges.txt:3"));
  v.file("merges.txt", "a b\n");
  v.file("tokenizer_config.json", R"({"tokenizer_class": "BertTokenizer"})");
  CHECK_THROWS_WITH(load_tokenizer(v.path.string()), Catch::Contains("tokenizer_class") && Catch::Contains("BertTokenizer"));
  TempDir empty;
  CHECK_THROWS_WITH(load_tokenizer(empty.path.string()), Catch::Contains("holds no tokenizer"));
  CHECK_THROWS_WITH(load_tokenizer(empty.file("x.model", "not a model")), Catch::Contains("x.model"));
}

TEST_CASE("truncated, corrupt and hostile GGUF files throw, never crash", "[cpu][tokenizer][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers");
  const std::string good = grpo::test::slurp(grpo::test::tokenizer_data("ggml-vocab-gpt-2.gguf"));
  TempDir d;
  CHECK_THROWS_WITH(read_gguf_vocab(d.file("a.gguf", "GGML" + good.substr(4))), Catch::Contains("bad magic"));
  CHECK_THROWS_WITH(read_gguf_vocab(d.file("b.gguf", good.substr(0, good.size() / 2))),
                    Catch::Contains("b.gguf") && Catch::Contains("truncated"));
  CHECK_THROWS_WITH(read_gguf_vocab(d.file("c.gguf", "")), Catch::Contains("truncated"));
  // Every truncation point and random byte flips in the header: an error or a vocabulary, nothing else.
  std::mt19937 rng(7);
  int errors = 0, loaded = 0;
  for (int i = 0; i < 60; ++i) {
    std::string bad = i < 30 ? good.substr(0, rng() % good.size()) : good;
    if (i >= 30)
      for (int k = 0; k < 4; ++k) bad[rng() % 2048] = static_cast<char>(rng());
    try {
      const GgufVocab v = read_gguf_vocab(d.file("f.gguf", bad));
      CHECK(!v.tokens.empty());
      ++loaded;
    } catch (const grpo::Error&) {
      ++errors;
    }
  }
  CHECK(errors + loaded == 60);
  CHECK(errors >= 30);
}
