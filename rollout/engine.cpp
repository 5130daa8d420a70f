// Continuous-batching generation over a slot-based KV cache; see engine.h.
#include "rollout/engine.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <map>
#include <set>

#include <c10/core/InferenceMode.h>

#include "kernels/check.h"
#include "policy/device.h"
#include "policy/logprobs.h"

namespace grpo::rollout {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::abort: return "abort";
  }
  return "?";
}

struct RolloutEngine::Sequence {
  size_t out_index = 0;      // where the completion goes in the result
  const Prompt* prompt = nullptr;
  int64_t admitted = 0;      // admission order: the largest is the youngest, preempted first
  int64_t len = 0;           // tokens in the cache
  int64_t last_token = 0;    // sampled, not yet in the cache
  std::vector<int64_t> blocks;  // block table: position t lives in blocks[t / block_size]
  Completion completion;
};

struct RolloutEngine::Batch {
  const std::vector<Prompt>* prompts = nullptr;
  int64_t n_samples = 0;
  const SamplingConfig* sampling = nullptr;
  std::vector<Completion>* out = nullptr;
  size_t first_index = 0;                 // of this worker's first completion in the whole result
  const FinishCallback* on_finish = nullptr;
  std::deque<size_t> waiting;      // out indices not yet running (preempted ones go back to the front)
  std::vector<Sequence> running;   // in admission order
  int64_t max_running = 0;
  int64_t next_admission = 0;
};

RolloutEngine::RolloutEngine(policy::Transformer model, std::shared_ptr<const policy::Tokenizer> tokenizer,
                             EngineConfig cfg)
    : source_(std::move(model)), tokenizer_(std::move(tokenizer)), cfg_(std::move(cfg)) {
  model_ = source_->embed_tokens->weight.scalar_type() == cfg_.dtype ? source_
                                                                      : policy::copy_model(source_, cfg_.dtype);
  GRPO_CHECK(cfg_.max_batch > 0, "rollout max_batch must be > 0, got ", cfg_.max_batch);
  GRPO_CHECK(cfg_.max_seq_len > 1, "rollout max_seq_len must be > 1, got ", cfg_.max_seq_len);
  GRPO_CHECK(cfg_.n_workers >= 1, "rollout n_workers must be >= 1, got ", cfg_.n_workers);
  GRPO_CHECK(cfg_.block_size >= 1, "rollout.block_size must be >= 1, got ", cfg_.block_size);
  GRPO_CHECK(cfg_.kv_cache_mb >= 0, "rollout.kv_cache_mb must be >= 0 (0 = auto), got ", cfg_.kv_cache_mb);
  GRPO_CHECK(cfg_.kv_blocks >= 0, "rollout kv_blocks must be >= 0 (0 = from kv_cache_mb), got ", cfg_.kv_blocks);
  GRPO_CHECK(cfg_.max_prefill_tokens >= 1, "rollout.max_prefill_tokens must be >= 1, got ", cfg_.max_prefill_tokens);
  eos_ids_ = cfg_.eos_ids.empty() ? std::vector<int64_t>{tokenizer_->eos_id()} : cfg_.eos_ids;
  for (int64_t id : eos_ids_) {
    GRPO_CHECK(id >= 0 && id < tokenizer_->vocab_size(), "rollout: EOS id ", id, " is outside the tokenizer's ",
               tokenizer_->vocab_size(), " tokens");
  }
  bool last_is_space = false;
  std::string last_bytes;
  for (const std::string& s : cfg_.stop) {
    GRPO_CHECK(!s.empty(), "rollout.stop holds an empty string; hint: remove it");
    stop_tail_tokens_ = std::max(stop_tail_tokens_, s.size() + 1);
    last_bytes += s.back();
    last_is_space = last_is_space || std::isspace(static_cast<unsigned char>(s.back()));
  }
  // NOTE: a stop string completed by the newest token ends with a byte of that token, so only tokens whose text
  // holds one of the stop strings' last bytes need the decode of the tail. A token's text alone can lose a leading
  // space (sentencepiece), so stop strings ending in whitespace check every token.
  if (!cfg_.stop.empty() && !last_is_space) {
    const int64_t V = tokenizer_->vocab_size();
    may_end_stop_.assign(static_cast<size_t>(V), false);
    for (int64_t id = 0; id < V; ++id) {
      may_end_stop_[static_cast<size_t>(id)] =
          tokenizer_->decode({id}).find_first_of(last_bytes) != std::string::npos;
    }
  }
}

void RolloutEngine::sync_weights(int64_t version) {
  if (model_.get() != source_.get()) policy::copy_weights(source_, model_);
  version_ = version;
}

namespace {
double temperature_for_logprobs(const SamplingConfig& s) { return s.temperature > 0 ? s.temperature : 1.0; }

// Per row of the routes (per MoE layer [rows, K], on the device), the K experts of every layer, on the host:
// out[row] = {layer 0's K experts, layer 1's, ...}. Empty for a dense model.
std::vector<std::vector<int32_t>> read_routes(const std::vector<at::Tensor>& routes) {
  if (routes.empty()) return {};
  at::Tensor all = at::stack(routes, 1).to(at::kInt).to(at::kCPU).contiguous();  // [rows, layers, K]
  const int64_t rows = all.size(0), per_row = all.size(1) * all.size(2);
  const int32_t* p = all.data_ptr<int32_t>();
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) out[static_cast<size_t>(r)].assign(p + r * per_row, p + (r + 1) * per_row);
  return out;
}

struct SampledTokens {
  std::vector<int64_t> tokens;
  std::vector<float> logprobs;
};

// The sampled ids [S] and their log-probs under logp [S, V], read to the host in one copy: the decode loop's only
// wait on the device. NOTE: ids travel as doubles, exact below 2^53.
SampledTokens read_sampled(const at::Tensor& logp, const at::Tensor& tok) {
  at::Tensor both = at::stack({tok.to(at::kDouble), logp.gather(1, tok.unsqueeze(1)).squeeze(1).to(at::kDouble)})
                        .to(at::kCPU)
                        .contiguous();
  const int64_t S = tok.size(0);
  const double* p = both.data_ptr<double>();
  SampledTokens out{std::vector<int64_t>(static_cast<size_t>(S)), std::vector<float>(static_cast<size_t>(S))};
  for (int64_t i = 0; i < S; ++i) {
    out.tokens[static_cast<size_t>(i)] = static_cast<int64_t>(p[i]);
    out.logprobs[static_cast<size_t>(i)] = static_cast<float>(p[S + i]);
  }
  return out;
}
}  // namespace

bool RolloutEngine::completes_stop_string(const Sequence& seq) const {
  if (cfg_.stop.empty()) return false;
  const auto& ids = seq.completion.token_ids;
  if (!may_end_stop_.empty() && !may_end_stop_[static_cast<size_t>(ids.back())]) return false;
  // NOTE: every token decodes to at least one byte, so a stop string completed by the newest token lies within the
  // last (its length + 1) tokens; it is checked at every step, so it cannot have been complete before.
  const size_t from = ids.size() > stop_tail_tokens_ ? ids.size() - stop_tail_tokens_ : 0;
  const std::string tail = tokenizer_->decode(std::vector<int64_t>(ids.begin() + static_cast<long>(from), ids.end()));
  for (const std::string& s : cfg_.stop) {
    if (tail.find(s) != std::string::npos) return true;
  }
  return false;
}

bool RolloutEngine::push_token(Sequence& seq, int64_t token, float logprob, const SamplingConfig& sampling) {
  seq.completion.token_ids.push_back(token);
  seq.completion.logprobs.push_back(logprob);
  seq.last_token = token;
  if ((!cfg_.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end()) ||
      completes_stop_string(seq)) {
    seq.completion.finish_reason = FinishReason::stop;
    return true;
  }
  // Length: the token budget is spent, or the slot has no room to take this token into the cache.
  if (static_cast<int64_t>(seq.completion.token_ids.size()) >= sampling.max_new_tokens ||
      seq.len >= cfg_.max_seq_len) {
    seq.completion.finish_reason = FinishReason::length;
    return true;
  }
  return false;
}

void RolloutEngine::finish(Sequence& seq, FinishReason reason, Batch& b) {
  Completion& c = seq.completion;
  c.finish_reason = reason;
  // The text keeps a stop string such as </answer> (the verifier reads it) but not EOS.
  std::vector<int64_t> body = c.token_ids;
  if (reason == FinishReason::stop && !body.empty() &&
      std::find(eos_ids_.begin(), eos_ids_.end(), body.back()) != eos_ids_.end())
    body.pop_back();
  c.text = tokenizer_->decode(body);
  c.policy_version = version_;
  c.logprob_temperature = temperature_for_logprobs(*b.sampling);
  Completion& done = (*b.out)[seq.out_index];
  done = std::move(c);
  if (*b.on_finish) (*b.on_finish)(b.first_index + seq.out_index, done);
}

at::Tensor RolloutEngine::block_table(const std::vector<const std::vector<int64_t>*>& tables, int64_t nb) const {
  std::vector<int64_t> flat(tables.size() * static_cast<size_t>(nb), BlockPool::kScratch);
  for (size_t r = 0; r < tables.size(); ++r) {
    GRPO_CHECK(static_cast<int64_t>(tables[r]->size()) <= nb, "block table of ", tables[r]->size(), " blocks in ", nb,
               " columns");
    std::copy(tables[r]->begin(), tables[r]->end(), flat.begin() + static_cast<long>(r * static_cast<size_t>(nb)));
  }
  return policy::to_device(at::tensor(flat, at::kLong).view({static_cast<int64_t>(tables.size()), nb}),
                           model_->embed_tokens->weight.device());
}

void RolloutEngine::release(Worker& w, Sequence& seq) {
  for (int64_t b : seq.blocks) w.pool->release(b);
  seq.blocks.clear();
}

void RolloutEngine::preempt(Worker& w, Batch& b, Sequence& seq) {
  // NOTE: the sequence starts over from its prompt: its tokens come from its own random stream, so the redo gives
  // the same completion (recomputing the generated tokens in a prefill would round differently than decoding did).
  release(w, seq);
  b.waiting.push_front(seq.out_index);
  ++w.stats.preemptions;
}

void RolloutEngine::admit(Worker& w, Batch& b) {
  const int64_t bs = cfg_.block_size, G = b.n_samples;
  // Who fits: running slots, and blocks for every prompt block (shared ones counted once) plus each sample's copy
  // of a partial last block.
  std::vector<Sequence> fresh;
  std::map<size_t, size_t> leader_of_prompt;  // prompt index -> the admitted sequence that prefills it
  std::set<std::vector<int64_t>> first_blocks;  // the first block's tokens of each prompt prefilled now
  int64_t reserved = 0;
  while (!b.waiting.empty() && static_cast<int64_t>(b.running.size() + fresh.size()) < b.max_running) {
    const size_t idx = b.waiting.front();
    const size_t p = idx / static_cast<size_t>(G);
    const int64_t P = static_cast<int64_t>((*b.prompts)[p].token_ids.size());
    const bool sibling = cfg_.share_prefix && leader_of_prompt.count(p) > 0;
    // A prompt whose first block another prompt admitted now also starts with waits one step: that one's blocks are
    // then in the prefix index (published after its prefill) and this one reuses them instead of computing them.
    const auto& ids = (*b.prompts)[p].token_ids;
    if (cfg_.share_prefix && !sibling && P > bs) {
      std::vector<int64_t> head(ids.begin(), ids.begin() + bs);
      if (!first_blocks.insert(std::move(head)).second) break;
    }
    const int64_t need = sibling ? (P % bs != 0 ? 1 : 0) : (P + bs - 1) / bs;
    if (reserved + need > w.pool->n_free()) break;
    reserved += need;
    b.waiting.pop_front();
    Sequence s;
    s.out_index = idx;
    s.prompt = &(*b.prompts)[p];
    s.admitted = b.next_admission++;
    s.completion.prompt_id = s.prompt->id;
    s.completion.sample_index = static_cast<int64_t>(idx % static_cast<size_t>(G));
    if (!sibling) leader_of_prompt[p] = fresh.size();
    fresh.push_back(std::move(s));
  }
  if (fresh.empty()) {
    const size_t p = b.waiting.empty() ? 0 : b.waiting.front() / static_cast<size_t>(G);
    GRPO_CHECK(!b.running.empty() || b.waiting.empty(), "rollout: a prompt of ", (*b.prompts)[p].token_ids.size(),
               " tokens needs more KV blocks than the pool has (", w.pool->capacity(), " of ", bs,
               " tokens); hint: raise rollout.kv_cache_mb");
    return;
  }

  // Leaders: the prefix index first (whole blocks before the prompt's last token, which is always computed, since
  // its logits give the first sample), then fresh blocks for the rest of the prompt.
  std::vector<size_t> leaders;
  std::vector<int64_t> cached;  // per leader: prompt tokens already in the cache
  for (size_t i = 0; i < fresh.size(); ++i) {
    const size_t p = fresh[i].out_index / static_cast<size_t>(G);
    if (cfg_.share_prefix && leader_of_prompt.at(p) != i) continue;
    Sequence& s = fresh[i];
    const auto& ids = s.prompt->token_ids;
    const int64_t P = static_cast<int64_t>(ids.size());
    int64_t parent = -1;
    while (cfg_.share_prefix && (static_cast<int64_t>(s.blocks.size()) + 1) * bs <= P - 1) {
      const auto from = ids.begin() + static_cast<long>(s.blocks.size()) * bs;
      auto hit = w.pool->lookup(parent, std::vector<int64_t>(from, from + bs));
      if (!hit) break;
      s.blocks.push_back(*hit);
      parent = *hit;
    }
    cached.push_back(static_cast<int64_t>(s.blocks.size()) * bs);
    w.stats.prefix_hit_tokens += cached.back();
    while (static_cast<int64_t>(s.blocks.size()) * bs < P) {
      auto blk = w.pool->allocate();
      GRPO_CHECK(blk.has_value(), "rollout: the KV pool ran out during admission (a bug in the reservation)");
      s.blocks.push_back(*blk);
    }
    leaders.push_back(i);
  }

  // Prefill the leaders' uncached prompt tokens, in chunks so a forward holds at most max_prefill_tokens new tokens.
  const at::Device device = model_->embed_tokens->weight.device();
  const int64_t R = static_cast<int64_t>(leaders.size());
  std::vector<at::Tensor> last_hidden(leaders.size());
  std::vector<std::vector<int32_t>> last_routes(leaders.size());  // routing of each leader's last prompt token
  const int64_t chunk = std::max<int64_t>(1, cfg_.max_prefill_tokens / R);
  for (int64_t off = 0;; off += chunk) {
    std::vector<size_t> rows;  // leader positions with tokens left at this offset
    int64_t n = 0, t_len = 0;
    for (size_t j = 0; j < leaders.size(); ++j) {
      const int64_t P = static_cast<int64_t>(fresh[leaders[j]].prompt->token_ids.size());
      const int64_t from = cached[j] + off;
      if (from >= P) continue;
      rows.push_back(j);
      n = std::max(n, std::min(chunk, P - from));
    }
    if (rows.empty()) break;
    const int64_t rn = static_cast<int64_t>(rows.size());
    std::vector<int64_t> tokens(static_cast<size_t>(rn * n)), pos(static_cast<size_t>(rn * n));
    std::vector<const std::vector<int64_t>*> tables;
    std::vector<int64_t> last_col(static_cast<size_t>(rn), -1);
    for (int64_t r = 0; r < rn; ++r) {
      const Sequence& s = fresh[leaders[rows[static_cast<size_t>(r)]]];
      const auto& ids = s.prompt->token_ids;
      const int64_t P = static_cast<int64_t>(ids.size()), from = cached[rows[static_cast<size_t>(r)]] + off;
      const int64_t m = std::min(n, P - from);
      for (int64_t c = 0; c < n; ++c) {
        // Padding repeats the last token at the following positions: written to the row's own or the scratch blocks,
        // never read before being overwritten.
        tokens[static_cast<size_t>(r * n + c)] = ids[static_cast<size_t>(from + std::min(c, m - 1))];
        pos[static_cast<size_t>(r * n + c)] = from + c;
      }
      if (from + m == P) last_col[static_cast<size_t>(r)] = m - 1;
      t_len = std::max(t_len, from + n);
      tables.push_back(&s.blocks);
      w.stats.prompt_tokens += m;
    }
    int64_t nb = (t_len + cfg_.block_size - 1) / cfg_.block_size;
    for (const auto* t : tables) nb = std::max(nb, static_cast<int64_t>(t->size()));  // a chunk sees the whole prompt's
    policy::PagedView view{&w.pool->kv(), block_table(tables, nb), t_len};
    std::vector<at::Tensor> routes;
    at::Tensor hidden = model_->forward_paged(policy::to_device(at::tensor(tokens, at::kLong).view({rn, n}), device),
                                              policy::to_device(at::tensor(pos, at::kLong).view({rn, n}), device),
                                              view, cfg_.record_routing ? &routes : nullptr);  // [rn, n, C]
    ++w.stats.prefills;
    std::vector<std::vector<int32_t>> chosen = read_routes(routes);  // [rn * n] rows
    for (int64_t r = 0; r < rn; ++r) {
      const int64_t col = last_col[static_cast<size_t>(r)];
      if (col < 0) continue;
      last_hidden[rows[static_cast<size_t>(r)]] = hidden[r][col];
      if (!chosen.empty()) last_routes[rows[static_cast<size_t>(r)]] = chosen[static_cast<size_t>(r * n + col)];
    }
  }
  // Leaders publish their full prompt blocks; the other samples of a prompt take them and a copy of the partial one.
  std::vector<int64_t> row_of(fresh.size(), 0);
  for (size_t j = 0; j < leaders.size(); ++j) {
    Sequence& s = fresh[leaders[j]];
    row_of[leaders[j]] = static_cast<int64_t>(j);
    const auto& ids = s.prompt->token_ids;
    const int64_t full = static_cast<int64_t>(ids.size()) / bs;
    int64_t parent = -1;
    for (int64_t k = 0; cfg_.share_prefix && k < full; ++k) {
      const auto from = ids.begin() + k * bs;
      w.pool->publish(parent, std::vector<int64_t>(from, from + bs), s.blocks[static_cast<size_t>(k)]);
      parent = s.blocks[static_cast<size_t>(k)];
    }
  }
  for (size_t i = 0; i < fresh.size(); ++i) {
    Sequence& s = fresh[i];
    s.len = static_cast<int64_t>(s.prompt->token_ids.size());
    if (!s.blocks.empty()) continue;  // a leader
    const size_t li = leader_of_prompt.at(s.out_index / static_cast<size_t>(G));
    const Sequence& lead = fresh[li];
    row_of[i] = row_of[li];
    const int64_t full = s.len / bs;
    for (int64_t k = 0; k < full; ++k) {
      w.pool->retain(lead.blocks[static_cast<size_t>(k)]);
      s.blocks.push_back(lead.blocks[static_cast<size_t>(k)]);
    }
    if (s.len % bs != 0) {
      auto blk = w.pool->allocate();
      GRPO_CHECK(blk.has_value(), "rollout: the KV pool ran out during admission (a bug in the reservation)");
      w.pool->copy_block(lead.blocks[static_cast<size_t>(full)], *blk);
      s.blocks.push_back(*blk);
    }
  }

  // First tokens: each sample draws from its leader's last-position distribution with its own stream.
  const SamplingConfig& sampling = *b.sampling;
  at::Tensor logp = policy::scaled_log_softmax(model_->logits(at::stack(last_hidden)), temperature_for_logprobs(sampling))
                        .index_select(0, policy::to_device(row_of, device));  // [M, V]
  std::vector<double> u(fresh.size());
  for (size_t m = 0; m < fresh.size(); ++m) {
    u[m] = stream_uniform(sampling.seed, fresh[m].completion.prompt_id, fresh[m].completion.sample_index, 0);
  }
  const SampledTokens picked = read_sampled(logp, sample_tokens(logp, u, sampling));
  for (size_t m = 0; m < fresh.size(); ++m) {
    Sequence& s = fresh[m];
    ++w.stats.generated_tokens;
    if (cfg_.record_routing && !last_routes[static_cast<size_t>(row_of[m])].empty()) {
      s.completion.routing.push_back(last_routes[static_cast<size_t>(row_of[m])]);
    }
    if (push_token(s, picked.tokens[m], picked.logprobs[m], sampling)) {
      finish(s, s.completion.finish_reason, b);
      release(w, s);
    } else {
      b.running.push_back(std::move(s));
    }
  }
}

void RolloutEngine::reserve_next_blocks(Worker& w, Batch& b) {
  for (size_t i = 0; i < b.running.size(); ++i) {
    Sequence& s = b.running[i];
    if (s.len / cfg_.block_size < static_cast<int64_t>(s.blocks.size())) continue;
    std::optional<int64_t> blk;
    while (!(blk = w.pool->allocate())) {
      // The youngest goes first; when that is this sequence itself, it waits for the others to finish.
      const bool self = i + 1 == b.running.size();
      GRPO_CHECK(!(self && i == 0), "rollout: one sequence of ", s.len + 1, " tokens needs more KV blocks than the pool "
                 "has (", w.pool->capacity(), " of ", cfg_.block_size, " tokens); hint: raise rollout.kv_cache_mb");
      preempt(w, b, b.running.back());
      b.running.pop_back();
      if (self) return;
    }
    s.blocks.push_back(*blk);
  }
}

void RolloutEngine::decode_step(Worker& w, Batch& b) {
  const at::Device device = model_->embed_tokens->weight.device();
  const SamplingConfig& sampling = *b.sampling;
  const int64_t S = static_cast<int64_t>(b.running.size());
  std::vector<int64_t> tokens(static_cast<size_t>(S)), positions(static_cast<size_t>(S));
  std::vector<const std::vector<int64_t>*> tables;
  std::vector<double> u(static_cast<size_t>(S));
  int64_t t_len = 0, nb = 0;
  for (int64_t i = 0; i < S; ++i) {
    Sequence& s = b.running[static_cast<size_t>(i)];
    tokens[static_cast<size_t>(i)] = s.last_token;
    positions[static_cast<size_t>(i)] = s.len;
    tables.push_back(&s.blocks);
    t_len = std::max(t_len, s.len + 1);
    nb = std::max(nb, static_cast<int64_t>(s.blocks.size()));
    u[static_cast<size_t>(i)] = stream_uniform(sampling.seed, s.completion.prompt_id, s.completion.sample_index,
                                               s.completion.token_ids.size());
  }
  nb = std::max(nb, (t_len + cfg_.block_size - 1) / cfg_.block_size);
  policy::PagedView view{&w.pool->kv(), block_table(tables, nb), t_len};
  std::vector<at::Tensor> routes;
  at::Tensor hidden = model_->forward_paged(policy::to_device(at::tensor(tokens, at::kLong).view({S, 1}), device),
                                            policy::to_device(at::tensor(positions, at::kLong).view({S, 1}), device),
                                            view, cfg_.record_routing ? &routes : nullptr);  // [S, 1, C]
  at::Tensor logp = policy::scaled_log_softmax(model_->logits(hidden.select(1, 0)), temperature_for_logprobs(sampling));
  const SampledTokens picked = read_sampled(logp, sample_tokens(logp, u, sampling));
  std::vector<std::vector<int32_t>> chosen = read_routes(routes);  // [S] rows
  ++w.stats.decode_steps;
  w.stats.generated_tokens += S;
  std::vector<Sequence> still;
  still.reserve(b.running.size());
  for (int64_t i = 0; i < S; ++i) {
    Sequence& s = b.running[static_cast<size_t>(i)];
    s.len += 1;  // last_token is now in the cache
    if (!chosen.empty()) s.completion.routing.push_back(std::move(chosen[static_cast<size_t>(i)]));
    if (push_token(s, picked.tokens[static_cast<size_t>(i)], picked.logprobs[static_cast<size_t>(i)], sampling)) {
      finish(s, s.completion.finish_reason, b);
      release(w, s);
    } else {
      still.push_back(std::move(s));
    }
  }
  b.running.swap(still);
}

std::vector<Completion> RolloutEngine::generate(const std::vector<Prompt>& prompts, int64_t n_samples,
                                                const SamplingConfig& sampling, const FinishCallback& on_finish) {
  sampling.validate();
  GRPO_CHECK(n_samples > 0, "n_samples must be > 0, got ", n_samples);
  for (const Prompt& p : prompts) {
    GRPO_CHECK(!p.token_ids.empty(), "prompt ", p.id, " has no tokens");
    GRPO_CHECK(static_cast<int64_t>(p.token_ids.size()) < cfg_.max_seq_len, "prompt ", p.id, " has ",
               p.token_ids.size(), " tokens, more than the rollout's max_seq_len (", cfg_.max_seq_len,
               ") allows; hint: raise rollout.max_seq_len");
  }
  auto t0 = std::chrono::steady_clock::now();
  // NOTE: worker threads are a CPU device's data parallelism; a GPU gets one stream of work.
  const at::Device device = model_->embed_tokens->weight.device();
  const size_t n_workers = device.is_cpu() ? std::max<size_t>(1, std::min<size_t>(cfg_.n_workers, prompts.size())) : 1;
  const int64_t slots = std::max<int64_t>(1, cfg_.max_batch / static_cast<int64_t>(n_workers));
  // The pool of each worker: the budget's share, or room for every running sequence at full length.
  const int64_t block_bytes = policy::PagedKV::bytes_per_token(
                                  model_->config, static_cast<int64_t>(model_->embed_tokens->weight.element_size())) *
                              cfg_.block_size;
  const int64_t n_block = cfg_.kv_blocks > 0 ? 1 + cfg_.kv_blocks
                        : 1 + (cfg_.kv_cache_mb > 0
                                   ? (cfg_.kv_cache_mb << 20) / static_cast<int64_t>(n_workers) / block_bytes
                                   : slots * ((cfg_.max_seq_len + cfg_.block_size - 1) / cfg_.block_size));
  GRPO_CHECK(n_block >= 2, "rollout.kv_cache_mb = ", cfg_.kv_cache_mb, " holds no block of ", block_bytes,
             " bytes per worker; hint: raise it");
  workers_.resize(std::max<size_t>(workers_.size(), n_workers));
  std::vector<std::vector<Prompt>> shares(n_workers);
  std::vector<std::vector<Completion>> outs(n_workers);
  std::vector<size_t> first(n_workers, 0);
  for (size_t i = 0; i < n_workers; ++i) {
    Worker& w = workers_[i];
    const policy::PagedKV* kv = w.pool ? &w.pool->kv() : nullptr;
    if (kv == nullptr || kv->n_block() != n_block || kv->block_size() != cfg_.block_size ||
        kv->k[0].device() != device) {
      w.pool.reset();  // the old pool's memory goes before the new one is taken
      w.pool = std::make_unique<BlockPool>(model_->config, n_block, cfg_.block_size,
                                           model_->embed_tokens->weight.options());
    }
    w.pool->reset_peak();
    w.slots = slots;
    w.stats = GenerationStats{};
    const size_t begin = prompts.size() * i / n_workers, end = prompts.size() * (i + 1) / n_workers;
    shares[i].assign(prompts.begin() + static_cast<long>(begin), prompts.begin() + static_cast<long>(end));
    first[i] = begin * static_cast<size_t>(n_samples);
  }
  std::vector<std::exception_ptr> errors(n_workers);
  auto work = [&](size_t i) {
    try {
      run_worker(workers_[i], shares[i], n_samples, sampling, outs[i], first[i], on_finish);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n_workers; ++i) threads.emplace_back(work, i);
  work(0);
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  std::vector<Completion> out;
  out.reserve(prompts.size() * static_cast<size_t>(n_samples));
  stats_ = GenerationStats{};
  for (size_t i = 0; i < n_workers; ++i) {
    for (auto& c : outs[i]) out.push_back(std::move(c));
    stats_.add_counts(workers_[i].stats);
    stats_.kv_blocks_peak += workers_[i].pool->peak_used();
  }
  stats_.kv_block_bytes = block_bytes;
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void RolloutEngine::run_worker(Worker& w, const std::vector<Prompt>& prompts, int64_t n_samples,
                               const SamplingConfig& sampling, std::vector<Completion>& out, size_t first_index,
                               const FinishCallback& on_finish) {
  c10::InferenceMode inference;  // thread-local: every worker sets its own
  out.assign(prompts.size() * static_cast<size_t>(n_samples), Completion{});
  Batch b;
  b.prompts = &prompts;
  b.n_samples = n_samples;
  b.sampling = &sampling;
  b.out = &out;
  b.first_index = first_index;
  b.on_finish = &on_finish;
  b.max_running = w.slots;
  for (size_t i = 0; i < out.size(); ++i) b.waiting.push_back(i);
  while (true) {
    admit(w, b);
    if (b.running.empty()) {
      if (b.waiting.empty()) break;
      continue;  // everything was preempted or finished at admission: admit again
    }
    reserve_next_blocks(w, b);
    if (b.running.empty()) continue;
    decode_step(w, b);
  }
  GRPO_CHECK(w.pool->n_used() == 0, "rollout: ", w.pool->n_used(), " KV blocks still held after generation (a bug)");
}

}  // namespace grpo::rollout
