// Continuous-batching generation over a slot-based KV cache; see engine.h.
#include "rollout/engine.h"

#include <algorithm>
#include <cctype>
#include <chrono>

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
  int64_t slot = 0;          // KV cache slot
  int64_t len = 0;           // tokens already in the cache
  int64_t last_token = 0;    // sampled, not yet in the cache
  Completion completion;
};

RolloutEngine::RolloutEngine(policy::Transformer model, std::shared_ptr<const policy::Tokenizer> tokenizer,
                             EngineConfig cfg)
    : source_(std::move(model)), tokenizer_(std::move(tokenizer)), cfg_(std::move(cfg)) {
  model_ = source_->embed_tokens->weight.scalar_type() == cfg_.dtype ? source_
                                                                      : policy::copy_model(source_, cfg_.dtype);
  GRPO_CHECK(cfg_.max_batch > 0, "rollout max_batch must be > 0, got ", cfg_.max_batch);
  GRPO_CHECK(cfg_.max_seq_len > 1, "rollout max_seq_len must be > 1, got ", cfg_.max_seq_len);
  GRPO_CHECK(cfg_.n_workers >= 1, "rollout n_workers must be >= 1, got ", cfg_.n_workers);
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

void RolloutEngine::finish(Sequence& seq, FinishReason reason, std::vector<Completion>& out) {
  Completion& c = seq.completion;
  c.finish_reason = reason;
  // The text keeps a stop string such as </answer> (the verifier reads it) but not EOS.
  std::vector<int64_t> body = c.token_ids;
  if (reason == FinishReason::stop && !body.empty() &&
      std::find(eos_ids_.begin(), eos_ids_.end(), body.back()) != eos_ids_.end())
    body.pop_back();
  c.text = tokenizer_->decode(body);
  c.policy_version = version_;
  out[seq.out_index] = std::move(c);
}

void RolloutEngine::admit(Worker& w, std::vector<Sequence>& active, std::vector<int64_t>& free_slots, size_t& next,
                          const std::vector<Prompt>& prompts, int64_t n_samples, const SamplingConfig& sampling,
                          std::vector<Completion>& out) {
  const size_t total = prompts.size() * static_cast<size_t>(n_samples);
  const size_t take = std::min(free_slots.size(), total - next);
  if (take == 0) return;
  // The new sequences, and one prefill row per distinct prompt among them.
  std::vector<Sequence> fresh(take);
  std::vector<size_t> row_prompt;  // prompt index of each prefill row
  std::vector<int64_t> src_rows, dest_slots;
  for (size_t m = 0; m < take; ++m, ++next) {
    size_t p = next / static_cast<size_t>(n_samples);
    if (row_prompt.empty() || row_prompt.back() != p) row_prompt.push_back(p);
    Sequence& s = fresh[m];
    s.out_index = next;
    s.prompt = &prompts[p];
    s.slot = free_slots.back();
    free_slots.pop_back();
    s.len = static_cast<int64_t>(prompts[p].token_ids.size());
    s.completion.prompt_id = prompts[p].id;
    s.completion.sample_index = static_cast<int64_t>(next % static_cast<size_t>(n_samples));
    src_rows.push_back(static_cast<int64_t>(row_prompt.size() - 1));
    dest_slots.push_back(s.slot);
  }
  const int64_t n_rows = static_cast<int64_t>(row_prompt.size());
  int64_t p_max = 0;
  for (size_t p : row_prompt) p_max = std::max<int64_t>(p_max, prompts[p].token_ids.size());
  at::Tensor tokens = at::full({n_rows, p_max}, tokenizer_->pad_id(), at::kLong);
  std::vector<int64_t> last_pos;
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto& ids = prompts[row_prompt[static_cast<size_t>(r)]].token_ids;
    std::copy(ids.begin(), ids.end(), tokens[r].data_ptr<int64_t>());
    last_pos.push_back(static_cast<int64_t>(ids.size()) - 1);
    w.stats.prompt_tokens += static_cast<int64_t>(ids.size());
  }
  const at::Device device = model_->embed_tokens->weight.device();
  policy::KVWrite kv{&w.cache, policy::to_device(dest_slots, device), policy::to_device(src_rows, device)};
  at::Tensor hidden = model_->forward(policy::to_device(tokens, device), &kv).hidden;  // [R, P, C]
  at::Tensor last = hidden.gather(1, policy::to_device(last_pos, device).view({n_rows, 1, 1})
                                         .expand({n_rows, 1, hidden.size(2)}))
                        .squeeze(1);
  at::Tensor logp = policy::scaled_log_softmax(model_->logits(last), temperature_for_logprobs(sampling))
                        .index_select(0, kv.src_rows);  // [M, V]
  std::vector<double> u(take);
  for (size_t m = 0; m < take; ++m) {
    u[m] = stream_uniform(sampling.seed, fresh[m].completion.prompt_id, fresh[m].completion.sample_index, 0);
  }
  const SampledTokens picked = read_sampled(logp, sample_tokens(logp, u, sampling));
  ++w.stats.prefills;
  for (size_t m = 0; m < take; ++m) {
    Sequence& s = fresh[m];
    ++w.stats.generated_tokens;
    if (push_token(s, picked.tokens[m], picked.logprobs[m], sampling)) {
      finish(s, s.completion.finish_reason, out);
      free_slots.push_back(s.slot);
    } else {
      active.push_back(std::move(s));
    }
  }
}

std::vector<Completion> RolloutEngine::generate(const std::vector<Prompt>& prompts, int64_t n_samples,
                                                const SamplingConfig& sampling) {
  sampling.validate();
  GRPO_CHECK(n_samples > 0, "n_samples must be > 0, got ", n_samples);
  for (const Prompt& p : prompts) {
    GRPO_CHECK(!p.token_ids.empty(), "prompt ", p.id, " has no tokens");
    GRPO_CHECK(static_cast<int64_t>(p.token_ids.size()) < cfg_.max_seq_len, "prompt ", p.id, " has ",
               p.token_ids.size(), " tokens, more than the rollout's max_seq_len (", cfg_.max_seq_len,
               ") allows; hint: raise rollout.max_seq_len");
  }
  auto t0 = std::chrono::steady_clock::now();
  // Contiguous shares of the prompts, one per worker; samples do not depend on which worker draws them.
  // NOTE: worker threads are a CPU device's data parallelism; a GPU gets one stream of work.
  const at::Device device = model_->embed_tokens->weight.device();
  const size_t n_workers = device.is_cpu() ? std::max<size_t>(1, std::min<size_t>(cfg_.n_workers, prompts.size())) : 1;
  const int64_t slots = std::max<int64_t>(1, cfg_.max_batch / static_cast<int64_t>(n_workers));
  workers_.resize(std::max<size_t>(workers_.size(), n_workers));
  std::vector<std::vector<Prompt>> shares(n_workers);
  std::vector<std::vector<Completion>> outs(n_workers);
  for (size_t i = 0; i < n_workers; ++i) {
    Worker& w = workers_[i];
    if (w.cache.n_slot() != slots || w.cache.t_max() != cfg_.max_seq_len || w.cache.k[0].device() != device) {
      w.cache = policy::KVCache::allocate(model_->config, slots, cfg_.max_seq_len, model_->embed_tokens->weight.options());
    }
    w.stats = GenerationStats{};
    const size_t begin = prompts.size() * i / n_workers, end = prompts.size() * (i + 1) / n_workers;
    shares[i].assign(prompts.begin() + static_cast<long>(begin), prompts.begin() + static_cast<long>(end));
  }
  std::vector<std::exception_ptr> errors(n_workers);
  auto work = [&](size_t i) {
    try {
      run_worker(workers_[i], shares[i], n_samples, sampling, outs[i]);
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
    const GenerationStats& s = workers_[i].stats;
    stats_.prompt_tokens += s.prompt_tokens;
    stats_.generated_tokens += s.generated_tokens;
    stats_.decode_steps += s.decode_steps;
    stats_.prefills += s.prefills;
  }
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void RolloutEngine::run_worker(Worker& w, const std::vector<Prompt>& prompts, int64_t n_samples,
                               const SamplingConfig& sampling, std::vector<Completion>& out) {
  c10::InferenceMode inference;  // thread-local: every worker sets its own
  const at::Device device = model_->embed_tokens->weight.device();
  out.assign(prompts.size() * static_cast<size_t>(n_samples), Completion{});
  std::vector<int64_t> free_slots;
  for (int64_t s = w.cache.n_slot() - 1; s >= 0; --s) free_slots.push_back(s);
  std::vector<Sequence> active;
  size_t next = 0;
  while (true) {
    admit(w, active, free_slots, next, prompts, n_samples, sampling, out);
    if (active.empty()) break;
    const int64_t S = static_cast<int64_t>(active.size());
    std::vector<int64_t> tokens(S), positions(S), slots(S);
    std::vector<double> u(S);
    int64_t t_len = 0;
    for (int64_t i = 0; i < S; ++i) {
      Sequence& s = active[static_cast<size_t>(i)];
      tokens[i] = s.last_token;
      positions[i] = s.len;
      slots[i] = s.slot;
      t_len = std::max(t_len, s.len + 1);
      u[i] = stream_uniform(sampling.seed, s.completion.prompt_id, s.completion.sample_index,
                            s.completion.token_ids.size());
    }
    at::Tensor logits = model_->forward_decode(policy::to_device(tokens, device), policy::to_device(positions, device),
                                               policy::to_device(slots, device), w.cache, t_len);
    at::Tensor logp = policy::scaled_log_softmax(logits, temperature_for_logprobs(sampling));
    const SampledTokens picked = read_sampled(logp, sample_tokens(logp, u, sampling));
    const int64_t* tok_p = picked.tokens.data();
    const float* lp_p = picked.logprobs.data();
    ++w.stats.decode_steps;
    w.stats.generated_tokens += S;
    std::vector<Sequence> still;
    still.reserve(active.size());
    for (int64_t i = 0; i < S; ++i) {
      Sequence& s = active[static_cast<size_t>(i)];
      s.len += 1;  // last_token is now in the cache
      if (push_token(s, tok_p[i], lp_p[i], sampling)) {
        finish(s, s.completion.finish_reason, out);
        free_slots.push_back(s.slot);
      } else {
        still.push_back(std::move(s));
      }
    }
    active.swap(still);
  }
}

}  // namespace grpo::rollout
