#include "tune/database.h"

#include <charconv>

#include "core/error.h"
#include "core/store_location.h"
#include "core/number_cast.h"

namespace oneshot::tune {

bool is_null(const SqlValue& v) { return std::holds_alternative<std::nullptr_t>(v); }

std::int64_t as_int(const SqlValue& v) {
  if (auto i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto d = std::get_if<double>(&v)) {
    if (const auto i = whole_int64(*d)) return *i;
    throw Error("database: expected an integer, got " + as_string(v));
  }
  if (auto s = std::get_if<std::string>(&v)) {
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && p == s->data() + s->size()) return out;
    throw Error("database: expected an integer, got \"" + *s + "\"");
  }
  throw Error("database: expected an integer, got NULL");
}

double as_double(const SqlValue& v) {
  if (auto d = std::get_if<double>(&v)) return *d;
  if (auto i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (auto s = std::get_if<std::string>(&v)) {
    if (*s == "Infinity") return std::numeric_limits<double>::infinity();
    if (*s == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (*s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    double out = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && p == s->data() + s->size()) return out;
    throw Error("database: expected a number, got \"" + *s + "\"");
  }
  throw Error("database: expected a number, got NULL");
}

std::string as_string(const SqlValue& v) {
  if (auto s = std::get_if<std::string>(&v)) return *s;
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&v)) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, p);
  }
  return {};
}

std::unique_ptr<Database> open_database(const std::string& url, bool read_only) {
  if (url.empty()) throw Error("study: empty URL");
  if (is_postgres_url(url)) return open_postgres(url, read_only);
  return open_sqlite(sqlite_file_of(url, "study"), read_only);  // names a file or throws
}

}  // namespace oneshot::tune
