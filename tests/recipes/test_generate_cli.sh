#!/usr/bin/env bash
# grpo generate end to end (issue 10): greedy output equals transformers' greedy continuation (reference.json)
# token for token on every architecture fixture; sampling with --n gives G lines per prompt with one log-prob per
# token and is a function of the seed; bad input exits 2 with one line naming the file and line.
# The fixtures have no tokenizer, so each copy gets a 96-token character tokenizer (<pad> <eos> <unk> + 93
# characters). Its EOS is id 1 and config.json's is 2, so the reference is compared up to and including the first
# of them (deepseek_v3's continuation starts with 1, mistral's has 1 second).
# Usage: test_generate_cli.sh GRPO FIXTURE_MODELS_DIR
set -u
grpo=$1
models=$2
source "$(dirname "$0")/cli_lib.sh"

# write_char_tokenizer DIR: the tokenizer.json CharTokenizer::save writes, with the alphabet ' '..'|' (93 chars).
write_char_tokenizer() {
  local i c names=("<pad>" "<eos>" "<unk>")
  {
    printf '{"version":"1.0","truncation":null,"padding":null,"added_tokens":['
    for i in 0 1 2; do
      [ "$i" -gt 0 ] && printf ','
      printf '{"id":%d,"content":"%s","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,' \
        "$i" "${names[$i]}"
      printf '"special":true}'
    done
    printf '],"normalizer":null,"pre_tokenizer":{"type":"Split","pattern":{"Regex":"[\\\\s\\\\S]"},'
    printf '"behavior":"Isolated","invert":false},"post_processor":null,"decoder":{"type":"Fuse"},'
    printf '"model":{"type":"WordLevel","unk_token":"<unk>","vocab":{"<pad>":0,"<eos>":1,"<unk>":2'
    for i in $(seq 32 124); do
      c=$(printf "\\$(printf %o "$i")")
      case $c in '"' | '\') c="\\$c" ;; esac
      printf ',"%s":%d' "$c" $((i - 29))
    done
    printf '}}}\n'
  } >"$1/tokenizer.json"
  printf '{"tokenizer_class":"PreTrainedTokenizerFast","pad_token":"<pad>","eos_token":"<eos>","unk_token":"<unk>"}\n' \
    >"$1/tokenizer_config.json"
}

# json_list FILE KEY: the flat list of integers under KEY, comma-separated ("39,85,81,50").
json_list() { tr -d ' \n' <"$1" | grep -o "\"$2\":\[[-0-9,]*\]" | head -n 1 | sed 's/.*\[//; s/\]$//'; }

# count_items LIST: the number of comma-separated items (0 for an empty list).
count_items() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | tr ',' '\n' | wc -l | tr -d ' '; fi; }

# Greedy parity on every fixture.
n_fixtures=0
for dir in "$models"/*/; do
  name=$(basename "$dir")
  model=$work/$name
  cp -r "$dir" "$model"
  write_char_tokenizer "$model"
  prompt=$(json_list "$model/reference.json" greedy_prompt)
  want_all=$(json_list "$model/reference.json" greedy_tokens)
  [ "$(count_items "$want_all")" -eq 16 ] && [ -n "$prompt" ] ||
    fail "$name: reference.json has no greedy_prompt / 16 greedy_tokens"
  # EOS ids: config.json and generation_config.json, and the character tokenizer's <eos> (1).
  eos=" 1 $(cat "$model/config.json" "$model/generation_config.json" 2>/dev/null |
    grep -o '"eos_token_id": *[0-9]*' | sed 's/.*: *//' | sort -u | tr '\n' ' ')"
  want="" want_reason=length
  for t in $(printf '%s' "$want_all" | tr ',' ' '); do
    want=${want:+$want,}$t
    case "$eos" in *" $t "*) want_reason=stop; break ;; esac
  done
  printf '{"prompt_ids": [%s]}\n' "$prompt" >"$work/$name.jsonl"
  out=$("$grpo" generate --model "$model" --prompts "$work/$name.jsonl" --temperature 0 --max-new-tokens 16 \
    2>"$work/$name.err") || fail "$name: generate exited $?: $(cat "$work/$name.err")"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$name: want one output line, got: $out"
  got=$(printf '%s' "$out" | json_list /dev/stdin token_ids)
  [ "$got" = "$want" ] || fail "$name: greedy token_ids [$got], transformers gives [$want] (EOS ids:$eos)"
  printf '%s' "$out" | grep -q "\"finish_reason\":\"$want_reason\"" ||
    fail "$name: want finish_reason $want_reason: $out"
  printf '%s' "$out" | grep -q '"index":0,.*"sample":0,' || fail "$name: index/sample: $out"
  lp=$(printf '%s' "$out" | grep -o '"logprobs":\[[^]]*\]' | sed 's/.*\[//; s/\]$//')
  [ "$(count_items "$lp")" -eq "$(count_items "$got")" ] || fail "$name: logprobs and token_ids differ in length: $out"
  echo "ok: $name greedy [$got] ($want_reason)"
  n_fixtures=$((n_fixtures + 1))
done
[ "$n_fixtures" -ge 10 ] || fail "found only $n_fixtures fixtures in $models"

# Sampling: --n 3 at temperature 1 gives 3 lines per prompt (a "prompt_ids" line and a text line), one log-prob
# (<= 0) per token, finish_reason stop exactly when the last token is an EOS id; the same seed gives the same
# output, another seed another.
model=$work/qwen3_moe
printf '{"prompt_ids": [5, 17, 40]}\n{"prompt": "12+34="}\n' >"$work/two.jsonl"
sample() {
  "$grpo" generate --model "$model" --prompts "$work/two.jsonl" --n 3 --temperature 1 --max-new-tokens 16 \
    --seed "$1" 2>"$work/sample.err" || fail "sampling exited $?: $(cat "$work/sample.err")"
}
out=$(sample 7)
[ "$(printf '%s\n' "$out" | wc -l)" -eq 6 ] || fail "--n 3 with 2 prompts: want 6 lines, got: $out"
for i in 0 1; do
  for s in 0 1 2; do
    [ "$(printf '%s\n' "$out" | grep -c "\"index\":$i,.*\"sample\":$s,")" -eq 1 ] ||
      fail "no single line for index $i sample $s: $out"
  done
  [ "$(printf '%s\n' "$out" | grep "\"index\":$i," | grep -o '"token_ids":\[[^]]*\]' | sort -u | wc -l)" -gt 1 ] ||
    fail "index $i: the 3 samples at temperature 1 are identical: $out"
done
while IFS= read -r line; do
  ids=$(printf '%s' "$line" | json_list /dev/stdin token_ids)
  lp=$(printf '%s' "$line" | grep -o '"logprobs":\[[^]]*\]' | sed 's/.*\[//; s/\]$//')
  n=$(count_items "$ids")
  [ "$n" -ge 1 ] && [ "$n" -eq "$(count_items "$lp")" ] || fail "logprobs and token_ids differ in length: $line"
  printf '%s' "$lp" | tr ',' '\n' | grep -v '^-' | grep -qvx '0\(\.0*\)\?' && fail "a positive log-prob: $line"
  last=${ids##*,}
  case " 1 2 " in
    *" $last "*) reason=stop ;;
    *) reason=length; [ "$n" -eq 16 ] || fail "no EOS at the end but only $n tokens: $line" ;;
  esac
  printf '%s' "$line" | grep -q "\"finish_reason\":\"$reason\"" || fail "want finish_reason $reason: $line"
  case ",${ids%,*}," in *,1,* | *,2,*) [ "$n" -gt 1 ] && fail "generation went on after an EOS id: $line" ;; esac
done <<<"$out"
[ "$(sample 7)" = "$out" ] || fail "the same --seed gave different output"
[ "$(sample 8)" != "$out" ] || fail "--seed 8 gave the same output as --seed 7"
echo "ok: --n 3 sampling, 6 lines, logprobs per token, seeded"

# Bad input: exit 2, one line on stderr naming the file and line.
printf '{"prompt_ids": [5, 6]}\n{"prompt_ids": [5,\n' >"$work/notjson.jsonl"
expect_error "$work/notjson.jsonl:2" -- generate --model "$model" --prompts "$work/notjson.jsonl"
printf '{"prompt_ids": [5, 6]}\n{"text": "12+34="}\n' >"$work/noprompt.jsonl"
expect_error "$work/noprompt.jsonl:2" "prompt" -- generate --model "$model" --prompts "$work/noprompt.jsonl"
printf '{"prompt": "1"}\n{"prompt": "2"}\n{"prompt_ids": [5, 96]}\n' >"$work/range.jsonl"
expect_error "$work/range.jsonl:3" "96" -- generate --model "$model" --prompts "$work/range.jsonl"
printf '{"prompt_ids": [-1]}\n' >"$work/negative.jsonl"
expect_error "$work/negative.jsonl:1" "-1" -- generate --model "$model" --prompts "$work/negative.jsonl"
expect_error "$work/missing.jsonl" -- generate --model "$model" --prompts "$work/missing.jsonl"
mkdir "$work/notok" && cp "$models/qwen3_moe"/*.json "$models/qwen3_moe"/*.safetensors "$work/notok/" &&
  rm "$work/notok/reference.json"
expect_error "$work/notok" "tokenizer" -- generate --model "$work/notok" --prompts "$work/two.jsonl"
expect_error "--temperature" "abc" -- generate --model "$model" --prompts "$work/two.jsonl" --temperature abc
help=$("$grpo" generate --help 2>&1) || fail "generate --help exited $?"
printf '%s' "$help" | grep -q "grpo generate --model DIR --prompts" || fail "--help lacks the usage: $help"
echo "all generate checks passed"
