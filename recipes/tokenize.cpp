// grpo tokenize; see tokenize.h.
#include "recipes/tokenize.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "policy/tokenizer/chat_template.h"
#include "policy/tokenizer/tokenizer.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "recipes/cli_args.h"

namespace grpo::recipes {
namespace {

constexpr const char* kUsage =
    "grpo tokenize --tokenizer PATH (--text STRING | --file FILE) [--jsonl] [--decode] [--pieces] [--bos] "
    "[--chat TEMPLATE] [--repeat N] [--quiet]";

constexpr const char* kHelp =
    "  --tokenizer PATH  checkpoint directory, tokenizer.json, vocab.json+merges.txt directory, *.gguf or *.model\n"
    "  --text STRING     the input; or --file FILE (the whole file is one text)\n"
    "  --jsonl           FILE has one JSON object per line with \"text\" (or \"hex\": raw bytes in hex);\n"
    "                    prints one line of ids per input line\n"
    "  --decode          the input is ids (separated by spaces or commas); prints the text\n"
    "  --pieces          one line per token: id and the token as the vocabulary spells it (and what the\n"
    "                    tokenizer is, on stderr)\n"
    "  --bos             prepend BOS where the model's tokenizer does (add_special_tokens=True)\n"
    "  --chat TEMPLATE   render the text as one user message first (plain, qwen2, qwen2.5, qwen3, deepseek-r1, llama3)\n"
    "  --repeat N        encode everything N times and print the throughput (MB/s, one thread) to stderr\n"
    "  --quiet           print no ids (with --repeat, for benchmarks)\n";

std::string from_hex(const std::string& hex, size_t line) {
  GRPO_CHECK(hex.size() % 2 == 0, "grpo tokenize: line ", line, ": \"hex\" has an odd number of digits");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const std::string byte = hex.substr(i, 2);
    GRPO_CHECK(byte.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos, "grpo tokenize: line ", line,
               ": \"hex\" has a non-hex digit in '", byte, "'");
    out += static_cast<char>(std::stoi(byte, nullptr, 16));
  }
  return out;
}

std::vector<std::string> read_jsonl_texts(const std::string& path) {
  std::istringstream in(policy::read_text_file(path));
  std::vector<std::string> texts;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      GRPO_FAIL("grpo tokenize: ", path, ":", n, ": invalid JSON (", e.what(), ")");
    }
    if (j.is_object() && j.contains("text") && j.at("text").is_string()) texts.push_back(j.at("text"));
    else if (j.is_object() && j.contains("hex") && j.at("hex").is_string()) texts.push_back(from_hex(j.at("hex"), n));
    else GRPO_FAIL("grpo tokenize: ", path, ":", n, ": expected an object with a string \"text\" or \"hex\"");
  }
  return texts;
}

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::string tok;
  auto flush = [&] {
    if (tok.empty()) return;
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    GRPO_CHECK(used == tok.size(), "grpo tokenize --decode: '", tok, "' is not a token id");
    ids.push_back(v);
    tok.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r' || c == '[' || c == ']') flush();
    else tok += c;
  }
  flush();
  return ids;
}

void print_ids(const std::vector<int64_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

}  // namespace

int run_tokenize(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    if (std::string(argv[i]) == "--help") {
      std::printf("usage: %s\n%s", kUsage, kHelp);
      return 0;
    }
  }
  Args a = parse_args(argc, argv, "tokenize", {"--tokenizer", "--text", "--file", "--chat", "--repeat"},
                      {"--jsonl", "--decode", "--pieces", "--bos", "--quiet"}, kUsage);
  GRPO_CHECK(a.has("--tokenizer"), "grpo tokenize: --tokenizer PATH is required; usage: ", kUsage);
  GRPO_CHECK(a.has("--text") != a.has("--file"), "grpo tokenize: give exactly one of --text and --file; usage: ",
             kUsage);
  GRPO_CHECK(!a.has("--jsonl") || a.has("--file"), "grpo tokenize: --jsonl reads --file");
  const int64_t repeat = a.get_count("--repeat", 1, "tokenize");
  auto tok = policy::load_tokenizer(a.get("--tokenizer"));
  if (a.has("--pieces") || a.has("--repeat")) std::fprintf(stderr, "tokenizer: %s\n", tok->describe().c_str());

  std::vector<std::string> texts;
  if (a.has("--jsonl")) texts = read_jsonl_texts(a.get("--file"));
  else texts.push_back(a.has("--text") ? a.get("--text") : policy::read_text_file(a.get("--file")));

  if (a.has("--decode")) {
    for (const std::string& t : texts) {
      const std::string out = tok->decode(parse_ids(t));
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fputc('\n', stdout);
    }
    return 0;
  }
  if (a.has("--chat")) {
    const auto tmpl = policy::parse_chat_template(a.get("--chat"));
    for (std::string& t : texts) t = policy::render_chat(tmpl, {{"user", t}});
  }
  const bool quiet = a.has("--quiet");
  size_t bytes = 0, tokens = 0;
  for (const std::string& t : texts) bytes += t.size();
  std::vector<std::vector<int64_t>> ids(texts.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < repeat; ++r) {
    for (size_t i = 0; i < texts.size(); ++i) {
      ids[i] = a.has("--bos") ? tok->encode_with_bos(texts[i]) : tok->encode(texts[i]);
      if (r == 0) tokens += ids[i].size();
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) {
    for (const auto& v : ids) {
      if (!a.has("--pieces")) {
        print_ids(v);
        continue;
      }
      for (int64_t id : v) std::printf("%lld\t%s\n", static_cast<long long>(id), tok->id_to_token(id).c_str());
    }
  }
  if (a.has("--repeat")) {
    const double mb = static_cast<double>(bytes) * static_cast<double>(repeat) / 1e6;
    std::fprintf(stderr, "encoded %zu texts, %.3f MB, %zu tokens, %lld passes in %.3f s: %.2f MB/s\n", texts.size(),
                 static_cast<double>(bytes) / 1e6, tokens, static_cast<long long>(repeat), secs, mb / secs);
  }
  return 0;
}

}  // namespace grpo::recipes
