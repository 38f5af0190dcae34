#pragma once
// Integers read back from the program's own JSON (run.json, a checkpoint's
// training state, results). nlohmann's get<int>() on a float converts it
// unchecked: 1e300 in a damaged or edited file is undefined behaviour, not an
// error. These read only JSON integers, in the target type's range.
#include <cstdint>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace oneshot {

// VALUE as a T. Throws Error "KEY: expected an integer" when VALUE is not a
// JSON integer (a float, even a whole one, is refused), or "KEY: N is out of
// range" when it does not fit T.
template <class T>
T json_integer(const nlohmann::json& value, const std::string& key) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (!std::in_range<T>(u)) throw Error(key + ": " + std::to_string(u) + " is out of range");
    return static_cast<T>(u);
  }
  if (value.is_number_integer()) {
    const auto i = value.get<std::int64_t>();
    if (!std::in_range<T>(i)) throw Error(key + ": " + std::to_string(i) + " is out of range");
    return static_cast<T>(i);
  }
  throw Error(key + ": expected an integer");
}

// OBJECT[KEY] as a T (nlohmann's out_of_range error when KEY is absent).
template <class T>
T json_integer_at(const nlohmann::json& object, const char* key) {
  return json_integer<T>(object.at(key), key);
}

}  // namespace oneshot
