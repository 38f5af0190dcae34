#pragma once
// Numbers as text, one way everywhere: stored settings (exact) and messages (short).
#include <cstdio>
#include <string>

namespace oneshot {

// A double that reads back to the same bits ("%.17g"): settings stored as text (SQLite meta, PostgreSQL meta).
inline std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A double as a person reads it ("%g": 6 significant digits, no trailing zeros): messages.
inline std::string short_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A double with `digits` decimals ("%.*f"): table cells and confidences.
inline std::string fixed_number(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace oneshot
