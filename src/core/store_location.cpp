#include "core/store_location.h"

#include <cctype>

#include "core/error.h"

namespace oneshot {

bool is_postgres_url(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::string sqlite_file_of(const std::string& location, const std::string& what) {
  if (is_postgres_url(location)) return {};
  // Empty would read as "a PostgreSQL URL" to callers: no file named is an error of its own.
  if (location.empty() || location == "sqlite:///") throw Error(what + " location \"" + location + "\" names no file");
  if (location.rfind("sqlite:///", 0) == 0) return location.substr(10);
  const std::string forms = "a file path, sqlite:///PATH (sqlite:////ABSOLUTE/PATH) or postgresql://USER@HOST/DB";
  if (location.rfind("sqlite:", 0) == 0)
    throw Error(location + ": expected sqlite:///PATH (sqlite:////ABSOLUTE/PATH for an absolute path)");
  const auto sep = location.find("://");
  if (sep == std::string::npos || sep == 0 || !std::isalpha(static_cast<unsigned char>(location[0]))) return location;
  const std::string scheme = location.substr(0, sep);
  for (const char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '.' && c != '-') return location;
  throw Error(location + ": unknown " + what + " URL scheme " + scheme + ":// (" + forms +
              "; a file whose name starts so can be given as ./NAME)");
}

std::string sqlite_open_name(const std::string& path) {
  if (path == ":memory:" || path.rfind("file:", 0) == 0) return "./" + path;
  return path;
}

}  // namespace oneshot
