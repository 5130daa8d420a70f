// The character tokenizer: special tokens first (longest match), unknown characters to <unk>, and the
// tokenizer.json it writes reads back to the same vocabulary.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "policy/tokenizer/char_tokenizer.h"

using namespace grpo::policy;

TEST_CASE("char tokenizer encodes specials as one token and round-trips ASCII", "[cpu]") {
  CharTokenizer tok;
  auto ids = tok.encode("03,15=022:<answer>15+7</answer>");
  CHECK(ids.size() == 10 + 1 + 4 + 1);
  CHECK(ids[10] == tok.token_to_id("<answer>"));
  CHECK(tok.decode(ids) == "03,15=022:<answer>15+7</answer>");
  // A '<' that starts no special token is just a character.
  CHECK(tok.decode(tok.encode("a<b<an")) == "a<b<an");
  // An unknown character is one <unk>, as `tokenizers` reads the saved tokenizer.json (found by
  // scripts/check_hf_checkpoint.py: "é~" was 3 ids here and 2 in transformers).
  CHECK(tok.encode("é") == std::vector<int64_t>{tok.unk_id()});
  CHECK(tok.encode("é~") == std::vector<int64_t>{tok.unk_id(), tok.encode("~")[0]});
  CHECK(tok.encode("naïve café, 3 €").size() == 15);
  CHECK(tok.encode("🙂a").size() == 2);
  CHECK(tok.encode(std::string("\x80a", 2)).size() == 2);  // a stray continuation byte is one unknown byte
  REQUIRE_THROWS_WITH(tok.decode({9999}), Catch::Contains("9999"));
}

TEST_CASE("char tokenizer saves a tokenizer.json that loads back", "[cpu]") {
  CharTokenizer tok({"<x>", "<yy>"}, "abc\n");
  auto dir = std::filesystem::temp_directory_path() / ("grpo_tok_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  tok.save(dir.string());
  auto back = load_tokenizer(dir.string());
  CHECK(back->vocab_size() == tok.vocab_size());
  CHECK(back->encode("a<yy>c\nb") == tok.encode("a<yy>c\nb"));
  // A corrupted file names the file.
  std::ofstream(dir / "tokenizer.json") << "{\"model\": 3}";
  REQUIRE_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("tokenizer.json") && Catch::Contains("model"));
  std::filesystem::remove_all(dir);
  REQUIRE_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("does not exist"));
}
