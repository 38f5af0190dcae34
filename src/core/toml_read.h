#pragma once
// Numbers read from TOML (config files, search spaces).
#include <optional>

#include <toml++/toml.h>

namespace oneshot {

// NODE as a double when it is a TOML integer or float; nothing otherwise.
// Not node.value<double>(): toml++ gives no value for an integer that a
// double cannot hold exactly (2^63 - 1), and dereferencing that was
// undefined behaviour.
inline std::optional<double> toml_number(const toml::node& node) {
  if (auto i = node.as_integer()) return static_cast<double>(i->get());
  if (auto f = node.as_floating_point()) return f->get();
  return std::nullopt;
}

}  // namespace oneshot
