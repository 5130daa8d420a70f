// TensorBoard event files written directly, beside metrics.jsonl: `tensorboard --logdir runs/` shows a run without
// any Python in the training process. The format is TensorFlow's: a file events.out.tfevents.<time>.<host> of records
// (length, masked CRC32C of the length, an Event protobuf, masked CRC32C of it), the first Event naming the file
// version, then one Event per step whose Summary holds a simple_value per scalar. The few protobuf fields needed
// are encoded by hand (no protobuf library). Each record is flushed, so a crash loses at most the one being written.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace grpo::rl {

// CRC-32C (Castagnoli) and TensorFlow's masking of it.
uint32_t crc32c(std::string_view data);
uint32_t masked_crc32c(std::string_view data);

// Protobuf bytes of an Event with scalars (tag, value): wall_time (field 1), step (2), summary (5) { value (1)
// { tag (1), simple_value (2) } }. The file-version Event: file_version (3) instead of the summary.
std::string scalar_event(double wall_time, int64_t step, const std::vector<std::pair<std::string, float>>& scalars);
std::string file_version_event(double wall_time);
// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
std::string tf_record(std::string_view data);

// The numbers of a metrics.jsonl record as (tag, value): nested objects joined with '/' ("time/generate",
// "reward_components/countdown"), booleans as 0/1; strings, arrays, nulls and "step" left out.
std::vector<std::pair<std::string, float>> flatten_scalars(const nlohmann::json& record);

class TensorBoardWriter {
 public:
  // A new event file in `dir` (each run segment its own, as TensorFlow's writers do).
  explicit TensorBoardWriter(const std::string& dir);
  // The record's numbers at its "step".
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace grpo::rl
