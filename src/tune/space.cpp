#include "tune/space.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <toml++/toml.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/toml_read.h"
#include "tune/parzen.h"

namespace oneshot::tune {
namespace {

using nlohmann::json;

json json_from_toml(const toml::node& node, const std::string& where) {
  if (auto v = node.as_integer()) return json(v->get());
  if (auto v = node.as_floating_point()) return json(v->get());
  if (auto v = node.as_string()) return json(v->get());
  if (auto v = node.as_boolean()) return json(v->get());
  if (auto arr = node.as_array()) {
    json out = json::array();
    for (const auto& item : *arr) out.push_back(json_from_toml(item, where));
    return out;
  }
  if (auto tbl = node.as_table()) {
    json out = json::object();
    for (const auto& [k, v] : *tbl) out[std::string(k.str())] = json_from_toml(v, where);
    return out;
  }
  throw Error(where + ": unsupported value type (dates and times cannot be choices)");
}

// An int parameter's bound: a double that is an exact integer and converts to
// int64 (sampling and check_against_config cast it; 1e300 would be undefined behaviour).
bool within_int_bound(double v) { return std::abs(v) <= 9007199254740992.0; }

double number_of(const toml::node& node, const std::string& where) {
  if (const std::optional<double> number = toml_number(node)) return *number;
  throw Error(where + ": expected a number");
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string quote_toml(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

Param parse_param(const std::string& name, const toml::node& node, const std::string& origin) {
  const std::string where = origin + ":" + std::to_string(node.source().begin.line) + ": " + name;
  const toml::table* spec = node.as_table();
  if (!spec || spec->size() != 1)
    throw Error(where + ": expected one of { choice = [...] }, { uniform = [low, high] }, "
                        "{ loguniform = [low, high] }, { quniform = [low, high, q] }, { int = [low, high] }");
  // toml++ iterators own the pair they point at: keep this one alive.
  const auto entry = spec->begin();
  const std::string kind(entry->first.str());
  const toml::array* args = entry->second.as_array();
  if (!args) throw Error(where + ": " + kind + " takes a list");
  Param p;
  p.name = name;
  auto bounds = [&](std::size_t n) {
    if (args->size() != n)
      throw Error(where + ": " + kind + " takes " + std::to_string(n) + " numbers, got " + std::to_string(args->size()));
    p.low = number_of(*args->get(0), where);
    p.high = number_of(*args->get(1), where);
    if (n == 3) p.q = number_of(*args->get(2), where);
    if (!std::isfinite(p.low) || !std::isfinite(p.high)) throw Error(where + ": bounds must be finite");
    if (!(p.low < p.high)) throw Error(where + ": low must be below high");
  };
  if (kind == "choice") {
    p.kind = ParamKind::choice;
    for (const auto& item : *args) {
      json v = json_from_toml(item, where);
      if (std::find(p.choices.begin(), p.choices.end(), v) != p.choices.end())
        throw Error(where + ": choice " + json_text(v) + " is listed twice");
      p.choices.push_back(std::move(v));
    }
    if (p.choices.empty()) throw Error(where + ": choice needs at least one value");
  } else if (kind == "uniform") {
    p.kind = ParamKind::uniform;
    bounds(2);
  } else if (kind == "loguniform") {
    p.kind = ParamKind::loguniform;
    bounds(2);
    if (!(p.low > 0)) throw Error(where + ": loguniform bounds must be > 0");
  } else if (kind == "quniform") {
    p.kind = ParamKind::quniform;
    bounds(3);
    if (!(p.q > 0)) throw Error(where + ": quniform step q must be > 0");
    if (q_grid(p.low, p.high, p.q).empty()) {
      char bounds_text[96];
      std::snprintf(bounds_text, sizeof bounds_text, ": quniform [%g, %g, %g]", p.low, p.high, p.q);
      std::string message = where;
      message += bounds_text;
      message += " has no multiple of q inside [low, high]";
      throw Error(message);
    }
  } else if (kind == "int") {
    p.kind = ParamKind::integer;
    bounds(2);
    if (p.low != std::floor(p.low) || p.high != std::floor(p.high))
      throw Error(where + ": int bounds must be whole numbers");
    if (!within_int_bound(p.low) || !within_int_bound(p.high))
      throw Error(where + ": int bounds must lie within ±2^53");
  } else {
    throw Error(where + ": unknown distribution \"" + kind + "\" (choice, uniform, loguniform, quniform, int)");
  }
  return p;
}

// A parameter read back from a study: the rules parse_param applies to a
// space file (a stored space with low > high made every draw fall outside it).
void check_stored_param(const Param& p) {
  const std::string where = "stored search space: parameter " + (p.name.empty() ? std::string("\"\"") : p.name);
  if (p.name.empty() || p.name.find('.') == std::string::npos)
    throw Error(where + ": a name must be section.key");
  if (p.kind == ParamKind::choice) {
    if (p.choices.empty()) throw Error(where + ": choice needs at least one value");
    for (std::size_t i = 0; i < p.choices.size(); ++i)
      if (std::find(p.choices.begin(), p.choices.begin() + static_cast<std::ptrdiff_t>(i), p.choices[i]) !=
          p.choices.begin() + static_cast<std::ptrdiff_t>(i))
        throw Error(where + ": choice " + json_text(p.choices[i]) + " is listed twice");
    return;
  }
  if (!std::isfinite(p.low) || !std::isfinite(p.high) || !(p.low < p.high))
    throw Error(where + ": low " + format_double(p.low) + " must be below high " + format_double(p.high));
  if (p.kind == ParamKind::loguniform && !(p.low > 0)) throw Error(where + ": loguniform bounds must be > 0");
  if (p.kind == ParamKind::integer && (p.low != std::floor(p.low) || p.high != std::floor(p.high) ||
                                      !within_int_bound(p.low) || !within_int_bound(p.high)))
    throw Error(where + ": int bounds must be whole numbers within ±2^53");
  if (p.kind == ParamKind::quniform && (!std::isfinite(p.q) || !(p.q > 0) || q_grid(p.low, p.high, p.q).empty()))
    throw Error(where + ": quniform step q " + format_double(p.q) + " must be > 0 with a multiple inside [low, high]");
}

}  // namespace

const char* kind_name(ParamKind kind) {
  switch (kind) {
    case ParamKind::choice: return "choice";
    case ParamKind::uniform: return "uniform";
    case ParamKind::loguniform: return "loguniform";
    case ParamKind::quniform: return "quniform";
    case ParamKind::integer: return "int";
  }
  return "?";
}

json Param::sample_prior(Rng& rng) const {
  switch (kind) {
    case ParamKind::choice: return choices[static_cast<std::size_t>(rng.integer(0, static_cast<std::int64_t>(choices.size())))];
    case ParamKind::uniform: return rng.uniform(low, high);
    case ParamKind::loguniform: return std::exp(rng.uniform(std::log(low), std::log(high)));
    case ParamKind::quniform: return quantize_within(rng.uniform(low, high), low, high, q);
    case ParamKind::integer: return static_cast<std::int64_t>(std::nearbyint(rng.uniform(low, high)));
  }
  return {};
}

double Param::encode(const json& value) const {
  if (kind == ParamKind::choice) {
    auto it = std::find(choices.begin(), choices.end(), value);
    if (it == choices.end()) throw Error("parameter " + name + ": " + json_text(value) + " is not one of its choices");
    return static_cast<double>(it - choices.begin());
  }
  if (!value.is_number()) throw Error("parameter " + name + ": expected a number, got " + json_text(value));
  return value.get<double>();
}

json Param::decode(double encoded) const {
  switch (kind) {
    case ParamKind::choice: return choices.at(static_cast<std::size_t>(std::llround(encoded)));
    case ParamKind::integer: return static_cast<std::int64_t>(std::llround(encoded));
    default: return encoded;
  }
}

void Overrides::set(const std::string& key, json value) {
  for (auto& [k, v] : items_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  items_.emplace_back(key, std::move(value));
}

bool Overrides::contains(const std::string& key) const {
  return std::any_of(items_.begin(), items_.end(), [&](const auto& kv) { return kv.first == key; });
}

const json& Overrides::at(const std::string& key) const {
  for (const auto& [k, v] : items_)
    if (k == key) return v;
  throw Error("overrides: no parameter " + key);
}

double Overrides::number(const std::string& key) const {
  const json& v = at(key);
  if (!v.is_number()) throw Error("overrides: parameter " + key + " is not a number: " + json_text(v));
  return v.get<double>();
}

std::string toml_value(const json& value) {
  switch (value.type()) {
    case json::value_t::boolean: return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer: return std::to_string(value.get<std::int64_t>());
    case json::value_t::number_unsigned: return std::to_string(value.get<std::uint64_t>());
    case json::value_t::number_float: return format_double(value.get<double>());
    case json::value_t::string: return quote_toml(value.get<std::string>());
    case json::value_t::array: {
      std::string s = "[";
      for (std::size_t i = 0; i < value.size(); ++i) s += (i ? ", " : "") + toml_value(value[i]);
      return s + "]";
    }
    case json::value_t::object: {
      std::string s = "{ ";
      bool first = true;
      for (const auto& [k, v] : value.items()) {
        s += (first ? "" : ", ") + quote_toml(k) + " = " + toml_value(v);
        first = false;
      }
      return s + " }";
    }
    default: throw Error("cannot write " + json_text(value) + " as a TOML value");
  }
}

std::vector<std::string> Overrides::assignments() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : items_) out.push_back(k + "=" + toml_value(v));
  return out;
}

void Overrides::apply_to(Config& config) const {
  for (const auto& a : assignments()) config.set(a);
}

std::string Overrides::to_toml() const {
  // Group by section, keeping first-appearance order of sections.
  std::vector<std::string> sections;
  for (const auto& [k, v] : items_) {
    const auto dot = k.find('.');
    if (dot == std::string::npos) throw Error("override " + k + ": expected section.key");
    const std::string section = k.substr(0, dot);
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) sections.push_back(section);
  }
  std::string out;
  for (const auto& section : sections) {
    // Appended piece by piece: GCC 12's -Wrestrict misreads `"[" + string` as an overlapping copy.
    if (!out.empty()) out += '\n';
    out += '[';
    out += section;
    out += "]\n";
    for (const auto& [k, v] : items_)
      if (k.compare(0, section.size() + 1, section + ".") == 0)
        out += k.substr(section.size() + 1) + " = " + toml_value(v) + "\n";
  }
  return out;
}

json Overrides::to_json() const {
  json out = json::object();
  for (const auto& [k, v] : items_) out[k] = v;
  return out;
}

Overrides Overrides::from_json(const json& object) {
  if (!object.is_object()) throw Error("overrides: expected a JSON object, got " + json_text(object));
  Overrides o;
  for (const auto& [k, v] : object.items()) o.set(k, v);
  return o;
}

SearchSpace::SearchSpace(std::vector<Param> params) : params_(std::move(params)) {}

SearchSpace SearchSpace::parse_toml(const std::string& text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream ss;
    ss << origin << ":" << e.source().begin.line << ": " << e.description();
    throw Error(ss.str());
  }
  std::vector<Param> params;
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const toml::table* table = section_node.as_table();
    if (!table) throw Error(origin + ": [" + section + "] must be a table of parameters");
    for (const auto& [key, node] : *table) params.push_back(parse_param(section + "." + std::string(key.str()), node, origin));
  }
  if (params.empty()) throw Error(origin + ": the search space declares no parameter");
  return SearchSpace(std::move(params));
}

SearchSpace SearchSpace::load(const std::filesystem::path& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error&) {
    throw file_error(path, "cannot read search space file");
  }
  return parse_toml(text, path.string());
}

json SearchSpace::to_json() const {
  json out = json::array();
  for (const auto& p : params_) {
    json j = {{"name", p.name}, {"type", kind_name(p.kind)}};
    if (p.kind == ParamKind::choice) j["choices"] = p.choices;
    else {
      j["low"] = p.low;
      j["high"] = p.high;
      if (p.kind == ParamKind::quniform) j["q"] = p.q;
    }
    out.push_back(std::move(j));
  }
  return out;
}

SearchSpace SearchSpace::from_json(const json& j) {
  try {
    std::vector<Param> params;
    for (const auto& item : j) {
      Param p;
      p.name = item.at("name").get<std::string>();
      const std::string type = item.at("type").get<std::string>();
      if (type == "choice") {
        p.kind = ParamKind::choice;
        for (const auto& c : item.at("choices")) p.choices.push_back(c);
      } else {
        if (type == "uniform") p.kind = ParamKind::uniform;
        else if (type == "loguniform") p.kind = ParamKind::loguniform;
        else if (type == "quniform") p.kind = ParamKind::quniform;
        else if (type == "int") p.kind = ParamKind::integer;
        else throw Error("unknown parameter type " + type);
        p.low = item.at("low").get<double>();
        p.high = item.at("high").get<double>();
        if (p.kind == ParamKind::quniform) p.q = item.at("q").get<double>();
      }
      check_stored_param(p);
      if (std::any_of(params.begin(), params.end(), [&](const Param& o) { return o.name == p.name; }))
        throw Error("stored search space: parameter " + p.name + " is listed twice");
      params.push_back(std::move(p));
    }
    return SearchSpace(std::move(params));
  } catch (const json::exception& e) {
    throw Error(std::string("stored search space is malformed: ") + e.what());
  }
}

Overrides SearchSpace::sample_prior(Rng& rng) const {
  Overrides o;
  for (const auto& p : params_) o.set(p.name, p.sample_prior(rng));
  return o;
}

void SearchSpace::check_against_config(const std::string& origin, const Config& base) const {
  for (const auto& p : params_) {
    std::vector<json> values = p.choices;
    if (p.kind == ParamKind::integer) values = {json(static_cast<std::int64_t>(p.low)), json(static_cast<std::int64_t>(p.high))};
    else if (p.kind != ParamKind::choice) values = {json(p.low), json(p.high)};
    for (const auto& v : values) {
      try {
        Config c = base;
        c.set(p.name + "=" + toml_value(v));
        c.validate();
      } catch (const Error& e) {
        throw Error(origin + ": parameter " + p.name + " = " + json_text(v) + " is not a valid setting: " + e.what());
      }
    }
  }
}

const std::string& original_space_toml() {
  // Keep in step with configs/original-space.toml (a test compares them).
  static const std::string text = R"(# The original project's search space (parameter_optimization.py).
[model]
n_filters = { choice = [16, 32, 64] }
n_dense = { choice = [125, 250, 500] }
n_conv_layers = { choice = [1, 2, 3, 4] }
dropout_dense = { choice = [0.0, 0.25, 0.5] }
dropout_conv = { choice = [0.0, 0.25, 0.5] }
dist = { choice = ["l1", "l2"] }

[train]
loss = { choice = ["mse", "bce"] }
neg_pair_ratio = { choice = [1.0, 2.0] }
decay = { loguniform = [1e-7, 1e-5] }
learning_rate = { loguniform = [5e-4, 1e-2] }
)";
  return text;
}

const std::string& default_space_toml() {
  // Keep in step with configs/default-space.toml (a test compares them).
  static const std::string text = R"(# A search space for the default recipe's keys (compact encoder, prototypical
# objective, augmentation), for `oneshot-audio tune --space configs/default-space.toml`.
# Format as configs/original-space.toml.

[model]
width = { choice = [16, 24, 32, 48] }
embedding_dim = { choice = [64, 128, 256] }
dist = { choice = ["l2", "l1"] }
embedding_norm = { choice = ["none", "l2", "centered_l2"] }

[train]
learning_rate = { loguniform = [2e-4, 5e-3] }
weight_decay = { choice = [0.0, 1e-5, 1e-4] }
classes_per_batch = { choice = [5, 8, 12, 16] }
clips_per_class = { choice = [2, 3, 4, 6] }

[augment]
time_shift = { uniform = [0.0, 0.5] }
time_masks = { int = [0, 3] }
time_mask_width = { uniform = [0.0, 0.2] }
freq_masks = { int = [0, 3] }
freq_mask_width = { uniform = [0.0, 0.2] }
mixup = { choice = [0.0, 0.2, 0.4] }
)";
  return text;
}

}  // namespace oneshot::tune
