#pragma once
// A search space declared in TOML, section by section like the run config:
//
//   [model]
//   n_filters = { choice = [16, 32, 64] }
//   n_conv_layers = { int = [1, 4] }           # hyperopt's uniformint: round(uniform(1, 4))
//   [train]
//   learning_rate = { loguniform = [5e-4, 1e-2] }
//   dropout = { uniform = [0.0, 0.5] }
//   batch = { quniform = [8, 64, 8] }          # low, high, q
//
// A point of the space is a set of overrides, "section.key=value", that
// Config::set accepts.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "tune/rng.h"

namespace oneshot::tune {

enum class ParamKind { choice, uniform, loguniform, quniform, integer };
const char* kind_name(ParamKind kind);

struct Param {
  std::string name;  // "section.key"
  ParamKind kind = ParamKind::uniform;
  std::vector<nlohmann::json> choices;  // choice
  double low = 0, high = 0, q = 0;      // the others (loguniform: natural units)

  // A draw from the prior (what random search and TPE's start-up trials use).
  nlohmann::json sample_prior(Rng& rng) const;
  // The value as TPE models it: the index of a choice, else the number.
  double encode(const nlohmann::json& value) const;
  nlohmann::json decode(double encoded) const;
  bool operator==(const Param&) const = default;
};

// Ordered overrides: parameter name -> value of any JSON type.
class Overrides {
 public:
  void set(const std::string& key, nlohmann::json value);
  bool contains(const std::string& key) const;
  const nlohmann::json& at(const std::string& key) const;  // Error if absent
  double number(const std::string& key) const;             // Error if absent or not a number
  std::size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

  // "section.key=value" with the value written as TOML, for Config::set.
  std::vector<std::string> assignments() const;
  void apply_to(Config& config) const;
  // The overrides as TOML sections ([model] n_filters = 32 ...).
  std::string to_toml() const;
  nlohmann::json to_json() const;  // {"model.n_filters": 32, ...}
  static Overrides from_json(const nlohmann::json& object);
  bool operator==(const Overrides&) const = default;

 private:
  std::vector<std::pair<std::string, nlohmann::json>> items_;
};

// A JSON value written as a TOML value: floats always carry '.' or an
// exponent, strings are quoted, arrays and objects become inline TOML.
std::string toml_value(const nlohmann::json& value);

class SearchSpace {
 public:
  SearchSpace() = default;
  explicit SearchSpace(std::vector<Param> params);
  static SearchSpace parse_toml(const std::string& text, const std::string& origin);
  static SearchSpace load(const std::filesystem::path& path);
  static SearchSpace from_json(const nlohmann::json& json);
  nlohmann::json to_json() const;

  const std::vector<Param>& params() const { return params_; }
  bool empty() const { return params_.empty(); }
  Overrides sample_prior(Rng& rng) const;
  // Every parameter must be a key of the run config, and each bound or choice of every parameter, set alone on `base` (the
  // study's base config), must pass Config::validate; else an Error naming
  // `origin`, the parameter and the value.
  void check_against_config(const std::string& origin, const Config& base = {}) const;
  bool operator==(const SearchSpace&) const = default;

 private:
  std::vector<Param> params_;
};

// The original project's space (configs/original-space.toml), built in so
// that `tune` works from any directory.
const std::string& original_space_toml();
// The space of the default recipe's keys (configs/default-space.toml): what
// `tune` searches when no --space is given and model.arch is not "original".
const std::string& default_space_toml();

}  // namespace oneshot::tune
