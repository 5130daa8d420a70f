// Split placement; see split.h.
#include "rl/split.h"

#include <algorithm>
#include <chrono>
#include <map>

#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "rl/interrupt.h"

namespace grpo::rl {

Placement Placement::from(const RunConfig& run, int64_t world_size) {
  Placement p;  // run.placement and run.rollout_ranks themselves are checked by RunConfig::validate
  p.learners = world_size;
  if (run.placement != "split") return p;
  GRPO_CHECK(world_size > run.rollout_ranks, "run.placement = split with run.rollout_ranks = ", run.rollout_ranks,
             " needs at least ", run.rollout_ranks + 1, " ranks (one learner), and this job has ", world_size,
             "; hint: start it with grpo launch --nproc ", run.rollout_ranks + 1, " or torchrun");
  p.split = true;
  p.rollouts = run.rollout_ranks;
  p.learners = world_size - run.rollout_ranks;
  return p;
}

std::vector<int64_t> Placement::learner_ranks() const {
  std::vector<int64_t> r;
  for (int64_t i = 0; i < learners; ++i) r.push_back(i);
  return r;
}

std::vector<int64_t> Placement::weight_ranks() const {
  std::vector<int64_t> r = {0};
  for (int64_t i = 0; i < rollouts; ++i) r.push_back(learners + i);
  return r;
}

// ---- weights ----

WeightChannel::WeightChannel(Dist& group, policy::Transformer model) : group_(group), model_(std::move(model)) {}

std::vector<std::vector<at::Tensor>> WeightChannel::tensors_by_dtype() const {
  // One flat buffer holds one dtype on one device.
  std::map<std::pair<std::string, at::ScalarType>, std::vector<at::Tensor>> by;
  for (const auto& p : model_->parameters()) by[{p.device().str(), p.scalar_type()}].push_back(p.detach());
  for (const auto& b : model_->buffers()) by[{b.device().str(), b.scalar_type()}].push_back(b.detach());
  std::vector<std::vector<at::Tensor>> out;
  for (auto& [key, ts] : by) out.push_back(std::move(ts));
  return out;
}

namespace {

constexpr int64_t kStop = 0, kWeights = 1;

}  // namespace

double WeightChannel::send(int64_t version) {
  GRPO_CHECK(group_.is_main(), "WeightChannel::send on a receiving rank");
  const auto t0 = std::chrono::steady_clock::now();
  group_.broadcast({at::tensor(std::vector<int64_t>{version, kWeights})}, 0,
                   str("the header of weights version ", version));
  for (const auto& ts : tensors_by_dtype()) group_.broadcast(ts, 0, str("weights version ", version));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void WeightChannel::send_stop() {
  GRPO_CHECK(group_.is_main(), "WeightChannel::send_stop on a receiving rank");
  group_.broadcast({at::tensor(std::vector<int64_t>{-1, kStop})}, 0, "the end of the run");
}

std::optional<int64_t> WeightChannel::receive() {
  GRPO_CHECK(!group_.is_main(), "WeightChannel::receive on the sending rank");
  at::Tensor header = at::zeros({2}, at::kLong);
  group_.broadcast({header}, 0, "the next weights' header");
  const int64_t version = header[0].item<int64_t>(), kind = header[1].item<int64_t>();
  if (kind == kStop) return std::nullopt;
  GRPO_CHECK(kind == kWeights, "weight channel: unknown message kind ", kind);
  for (const auto& ts : tensors_by_dtype()) group_.broadcast(ts, 0, str("weights version ", version));
  return version;
}

// ---- messages ----

std::string slice_key(int64_t step, int64_t rollout_index) {
  return "rollout/" + std::to_string(step) + "/" + std::to_string(rollout_index);
}

std::string encode_slice(const RolloutSlice& s) {
  nlohmann::json completions = nlohmann::json::array(), scores = nlohmann::json::array();
  for (const auto& c : s.round.completions) {
    completions.push_back({{"prompt_id", c.prompt_id}, {"sample", c.sample_index}, {"tokens", c.token_ids},
                           {"logprobs", c.logprobs}, {"temperature", c.logprob_temperature}, {"text", c.text},
                           {"finish", static_cast<int>(c.finish_reason)}, {"version", c.policy_version},
                           {"routing", c.routing}});
  }
  for (const auto& x : s.round.scores) {
    scores.push_back({{"value", x.value}, {"components", x.components}, {"verdict", static_cast<int>(x.verdict)},
                      {"detail", x.detail}, {"answer", x.answer}});
  }
  const rollout::GenerationStats& g = s.round.stats;
  nlohmann::json j = {
      {"step", s.step}, {"version", s.version}, {"first_draw", s.first_draw}, {"prompt_ids", s.prompt_ids},
      {"completions", completions}, {"scores", scores},
      {"stats", {g.prompt_tokens, g.prefix_hit_tokens, g.generated_tokens, g.decode_steps, g.prefills, g.preemptions,
                 g.kv_blocks_peak, g.kv_block_bytes}},
      {"seconds", {g.seconds, s.round.generate_seconds, s.round.score_seconds}}};
  const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(j);
  return std::string(bytes.begin(), bytes.end());
}

RolloutSlice decode_slice(const std::string& bytes) {
  RolloutSlice s;
  try {
    const nlohmann::json j = nlohmann::json::from_msgpack(bytes);
    s.step = j.at("step"), s.version = j.at("version"), s.first_draw = j.at("first_draw");
    s.prompt_ids = j.at("prompt_ids").get<std::vector<int64_t>>();
    for (const auto& c : j.at("completions")) {
      rollout::Completion x;
      x.prompt_id = c.at("prompt_id"), x.sample_index = c.at("sample");
      x.token_ids = c.at("tokens").get<std::vector<int64_t>>();
      x.logprobs = c.at("logprobs").get<std::vector<float>>();
      x.logprob_temperature = c.at("temperature");
      x.text = c.at("text");
      x.finish_reason = static_cast<rollout::FinishReason>(c.at("finish").get<int>());
      x.policy_version = c.at("version");
      x.routing = c.at("routing").get<std::vector<std::vector<int32_t>>>();
      s.round.completions.push_back(std::move(x));
    }
    for (const auto& c : j.at("scores")) {
      rewards::Score x;
      x.value = c.at("value");
      x.components = c.at("components").get<std::map<std::string, double>>();
      x.verdict = static_cast<rewards::Verdict>(c.at("verdict").get<int>());
      x.detail = c.at("detail"), x.answer = c.at("answer");
      s.round.scores.push_back(std::move(x));
    }
    const auto st = j.at("stats").get<std::vector<int64_t>>();
    GRPO_CHECK(st.size() == 8, "8 generation counts expected");
    rollout::GenerationStats& g = s.round.stats;
    g.prompt_tokens = st[0], g.prefix_hit_tokens = st[1], g.generated_tokens = st[2], g.decode_steps = st[3];
    g.prefills = st[4], g.preemptions = st[5], g.kv_blocks_peak = st[6], g.kv_block_bytes = st[7];
    const auto secs = j.at("seconds").get<std::vector<double>>();
    GRPO_CHECK(secs.size() == 3, "3 timings expected");
    g.seconds = secs[0], s.round.generate_seconds = secs[1], s.round.score_seconds = secs[2];
  } catch (const nlohmann::json::exception& e) {
    GRPO_FAIL("a rollout slice that does not decode (", e.what(), "); hint: do all ranks run the same grpo build?");
  }
  GRPO_CHECK(s.round.completions.size() == s.round.scores.size() &&
                 s.round.completions.size() % std::max<size_t>(1, s.prompt_ids.size()) == 0,
             "a rollout slice with ", s.prompt_ids.size(), " prompts, ", s.round.completions.size(),
             " completions and ", s.round.scores.size(), " scores");
  return s;
}

// ---- the learners' side ----

RolloutFeed::RolloutFeed(Dist& world, const Placement& placement, int64_t learner_rank, int64_t prompts_per_step,
                         int64_t group_size, int64_t max_staleness)
    : world_(world), placement_(placement), learner_rank_(learner_rank), B_(prompts_per_step), G_(group_size),
      max_staleness_(max_staleness) {}

Round RolloutFeed::fetch(int64_t step, int64_t first_draw, const std::vector<rollout::Prompt>& prompts) {
  const int64_t L = placement_.learners, R = placement_.rollouts;
  const int64_t n = static_cast<int64_t>(prompts.size()), end = first_draw + n;
  const int64_t step_first = first_draw - B_ * learner_rank_ / L;  // the step's first draw
  if (learner_rank_ == 0 && last_step_ >= 0) {
    // Every learner has read them: it joined the previous step's update and metrics after reading.
    for (int64_t q = 0; q < R; ++q) world_.remove(slice_key(last_step_, q));
  }
  last_step_ = step;
  Round out;
  out.completions.resize(static_cast<size_t>(n * G_));
  out.scores.resize(static_cast<size_t>(n * G_));
  for (int64_t q = 0; q < R; ++q) {
    const int64_t qb = step_first + B_ * q / R, qe = step_first + B_ * (q + 1) / R;
    const bool mine = qb < end && qe > first_draw;
    if (!mine && learner_rank_ != 0) continue;  // learner 0 reads every slice, for the generation figures
    const int64_t rank = L + q;
    RolloutSlice s = decode_slice(world_.get(slice_key(step, q), str("rollout rank ", rank, "'s completions of step ",
                                                                    step + 1)));
    GRPO_CHECK(s.step == step && s.first_draw == qb && static_cast<int64_t>(s.prompt_ids.size()) == qe - qb &&
                   static_cast<int64_t>(s.round.completions.size()) == (qe - qb) * G_,
               "rollout rank ", rank, " sent draws [", s.first_draw, ", ", s.first_draw + s.prompt_ids.size(),
               ") of step ", s.step + 1, " where the learners expect [", qb, ", ", qe, ") of step ", step + 1,
               "; hint: were the ranks started with the same recipe and checkpoint?");
    GRPO_CHECK(s.version <= step && step - s.version <= max_staleness_, "rollout rank ", rank, " generated step ",
               step + 1, " with weights of version ", s.version, ", outside rl.max_staleness = ", max_staleness_);
    if (learner_rank_ == 0) {
      const rollout::GenerationStats& g = s.round.stats;
      out.stats.add_counts(g);
      out.stats.kv_blocks_peak = std::max(out.stats.kv_blocks_peak, g.kv_blocks_peak);
      out.stats.kv_block_bytes = g.kv_block_bytes;
      out.stats.seconds = std::max(out.stats.seconds, g.seconds);  // the rollout ranks generate side by side
      out.generate_seconds = std::max(out.generate_seconds, s.round.generate_seconds);
      out.score_seconds = std::max(out.score_seconds, s.round.score_seconds);
    }
    for (int64_t d = std::max(qb, first_draw); d < std::min(qe, end); ++d) {
      const size_t i = static_cast<size_t>(d - qb), j = static_cast<size_t>(d - first_draw);
      GRPO_CHECK(s.prompt_ids[i] == prompts[j].id, "rollout rank ", rank, " generated prompt ", s.prompt_ids[i],
                 " for draw ", d, " of step ", step + 1, " where the learners drew prompt ", prompts[j].id,
                 "; hint: were the ranks started with the same recipe and seed?");
      for (int64_t k = 0; k < G_; ++k) {
        out.completions[j * G_ + k] = std::move(s.round.completions[i * G_ + k]);
        out.scores[j * G_ + k] = std::move(s.round.scores[i * G_ + k]);
      }
    }
  }
  return out;
}

// ---- the rollout ranks' side ----

int rollout_rank_loop(TrainConfig& cfg, const std::string& dir, const at::Device& device, Dist& world, Dist& weights,
                      const Placement& placement) {
  Start start = resolve_start(dir, cfg.run, device, [&](Start& s) {
    s.init = resolve_model_path(cfg, "train");
    s.policy = policy::load_policy(s.init, device);
  });
  policy::Policy& pol = start.policy;
  for (auto& p : pol.model->parameters()) p.set_requires_grad(false);
  data::TaskData data = load_data(cfg, pol, /*with_train=*/true);
  rollout::RolloutEngine engine(pol.model, pol.tokenizer,
                                engine_config(cfg, pol, data, cfg.sampling.max_new_tokens, [](const std::string&) {}));
  auto pool = make_pool(cfg);
  data::TaskData::Stream stream(data, stream_seed(cfg, "grpo"));
  rollout::SamplingConfig sampling = cfg.sampling;
  sampling.seed = stream_seed(cfg, "grpo");
  WeightChannel channel(weights, pol.model);
  int64_t version = start.step;
  engine.sync_weights(version);
  const int64_t B = cfg.grpo.prompts_per_step, G = cfg.grpo.group_size;
  const int64_t q = world.rank() - placement.learners, R = placement.rollouts;
  int64_t cursor = start.data_cursor >= 0 ? start.data_cursor : start.step * B;
  // Ctrl-C reaches every rank: this one goes on until rank 0, having checkpointed, sends the stop.
  install_interrupt_handler();
  auto take_next = [&]() {
    std::optional<int64_t> v = channel.receive();
    if (!v) return false;
    GRPO_CHECK(*v == version + 1, "rollout rank ", world.rank(), ": weights of version ", *v, " after version ",
               version, "; the learners and this rank are out of step");
    version = *v;
    engine.sync_weights(version);
    return true;
  };
  for (int64_t step = start.step; step < cfg.grpo.steps; ++step, cursor += B) {
    while (version < step - cfg.grpo.max_staleness) {
      if (!take_next()) return interrupt_requested() ? 130 : 0;
    }
    RolloutSlice slice;
    slice.step = step;
    slice.version = version;
    slice.first_draw = cursor + B * q / R;
    std::vector<rollout::Prompt> prompts;
    for (int64_t i = B * q / R; i < B * (q + 1) / R; ++i) {
      prompts.push_back(stream.prompt(cursor + i));
      slice.prompt_ids.push_back(prompts.back().id);
    }
    slice.round = generate_and_score(engine, *pool, cfg.reward, sampling, prompts, G, cfg.grpo.stream_scoring);
    world.put(slice_key(step, q), encode_slice(slice));
  }
  while (take_next()) {
  }
  return interrupt_requested() ? 130 : 0;
}

}  // namespace grpo::rl
