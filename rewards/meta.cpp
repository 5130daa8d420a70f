// JSON value -> meta string; see meta.h.
#include "rewards/meta.h"

#include <cmath>
#include <cstdint>

namespace grpo::rewards {
namespace {

template <class Json>
std::string number_text(const Json& v) {
  if (v.is_number_float()) {
    const double d = v.template get<double>();
    // NOTE: 2^63 bounds the cast; larger integral floats keep their JSON form ("1e+300").
    if (std::isfinite(d) && std::fabs(d) < 9.2e18 && d == std::trunc(d)) {
      return std::to_string(static_cast<long long>(d));
    }
  }
  return v.dump();
}

template <class Json>
std::optional<std::string> meta_from(const Json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.template get<std::string>();
  if (v.is_number()) return number_text(v);
  if (v.is_array() && !v.empty()) {
    bool numbers = true;
    for (const auto& x : v) numbers = numbers && x.is_number();
    if (numbers) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ",") + number_text(x);
      return s;
    }
  }
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::optional<std::string> meta_from_json(const nlohmann::json& value) { return meta_from(value); }
std::optional<std::string> meta_from_json(const nlohmann::ordered_json& value) { return meta_from(value); }

}  // namespace grpo::rewards
