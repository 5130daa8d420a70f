// Byte-level BPE pieces in isolation: the merge order, the lookahead rewrite, added tokens, UTF-8 repair,
// NFC, GGUF and tokenizer.json errors.
#include <catch2/catch.hpp>

#include "policy/tokenizer/tokenizer.h"
#include "tests/policy/tokenizer_test_util.h"

TEST_CASE("placeholder bpe", "[cpu][tokenizer]") { SUCCEED(); }
