// PostgreSQL backend over libpqxx. Parameters are written into the statement
// as properly quoted literals, which works the same with libpqxx 6 and 7.
#include <charconv>
#include <cmath>
#include <pqxx/pqxx>

#include "core/error.h"
#include "tune/database.h"

namespace oneshot::tune {
namespace {

// The URL without a password, for messages.
std::string redact(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + ":***" + url.substr(at);
}

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(const std::string& url, bool read_only) : name_(redact(url)) {
    try {
      conn_ = std::make_unique<pqxx::connection>(url);
    } catch (const std::exception& e) {
      throw Error(name_ + ": cannot connect to the study database: " + trim(e.what()));
    }
    // A reader's session: every transaction read-only (no CREATE, no change).
    if (read_only) execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", {});
  }

  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    const pqxx::result r = run(sql, params);
    std::vector<SqlRow> rows;
    for (const auto& row : r) {
      SqlRow out;
      for (const auto& field : row) {
        if (field.is_null()) out.emplace_back(nullptr);
        else out.emplace_back(std::string(field.c_str(), field.size()));
      }
      rows.push_back(std::move(out));
    }
    return rows;
  }

  std::int64_t execute(const std::string& sql, const std::vector<SqlValue>& params) override {
    return static_cast<std::int64_t>(run(sql, params).affected_rows());
  }

  void begin_exclusive(const std::string& lock_name) override {
    execute("BEGIN", {});
    execute("SELECT pg_advisory_xact_lock(hashtext($1))", {lock_name});
  }
  void begin_read() override { execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}); }
  bool has_table(const std::string& name) override {
    return !is_null(query("SELECT to_regclass($1)::text", {name})[0][0]);
  }
  void commit() override { execute("COMMIT", {}); }
  void rollback() override { execute("ROLLBACK", {}); }
  std::string now_sql() const override { return "extract(epoch from clock_timestamp())::double precision"; }
  std::string describe() const override { return name_; }

 private:
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  std::string literal(const SqlValue& v) const {
    if (is_null(v)) return "NULL";
    if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    if (auto d = std::get_if<double>(&v)) {
      if (std::isnan(*d)) return "'NaN'::double precision";
      if (std::isinf(*d)) return *d > 0 ? "'Infinity'::double precision" : "'-Infinity'::double precision";
      char buf[64];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, *d);
      return "(" + std::string(buf, p) + ")::double precision";
    }
    return conn_->quote(std::get<std::string>(v));
  }

  // Replaces $N (highest numbers first, so $1 does not eat $10) with literals.
  std::string bind(const std::string& sql, const std::vector<SqlValue>& params) const {
    std::string out;
    for (std::size_t i = 0; i < sql.size(); ++i) {
      if (sql[i] == '$' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
        std::size_t j = i + 1, n = 0;
        while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) n = n * 10 + (sql[j++] - '0');
        if (n == 0 || n > params.size()) throw Error("database: statement uses $" + std::to_string(n) + " without a value");
        out += literal(params[n - 1]);
        i = j - 1;
      } else {
        out += sql[i];
      }
    }
    return out;
  }

  pqxx::result run(const std::string& sql, const std::vector<SqlValue>& params) {
    const std::string text = bind(sql, params);
    try {
      pqxx::nontransaction tx(*conn_);
      return tx.exec(text);
    } catch (const std::exception& e) {
      throw Error(name_ + ": database error: " + trim(e.what()) + " (in: " + sql.substr(0, 80) + ")");
    }
  }

  std::string name_;
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

std::unique_ptr<Database> open_postgres(const std::string& url, bool read_only) {
  return std::make_unique<PostgresDatabase>(url, read_only);
}

}  // namespace oneshot::tune
