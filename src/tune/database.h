#pragma once
// The little SQL a study needs, behind one interface for SQLite and
// PostgreSQL. Statements use $1, $2 ... placeholders in both (SQLite binds
// "$N" as a named parameter). Each connection belongs to one thread.
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace oneshot::tune {

using SqlValue = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
using SqlRow = std::vector<SqlValue>;

bool is_null(const SqlValue& v);
std::int64_t as_int(const SqlValue& v);
double as_double(const SqlValue& v);
std::string as_string(const SqlValue& v);

class Database {
 public:
  virtual ~Database() = default;
  virtual std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
  // Returns the number of rows changed.
  virtual std::int64_t execute(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
  // Opens a transaction that holds the write lock for `lock_name` until
  // commit or rollback: SQLite's BEGIN IMMEDIATE (one writer per file),
  // PostgreSQL's transaction-scoped advisory lock on the name's hash.
  virtual void begin_exclusive(const std::string& lock_name) = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  // An SQL expression for the database clock in seconds since 1970, so that
  // heartbeats written by different machines compare on one clock.
  virtual std::string now_sql() const = 0;
  virtual std::string describe() const = 0;  // for messages; no password
};

// "sqlite:///relative.db", "sqlite:////absolute.db" (as SQLAlchemy), a plain
// file path, or "postgresql://USER@HOST[:PORT]/DB" ("postgres://" too).
std::unique_ptr<Database> open_database(const std::string& url);
bool is_postgres_url(const std::string& url);
// The file of a SQLite URL or path; empty for PostgreSQL.
std::string sqlite_path(const std::string& url);

std::unique_ptr<Database> open_sqlite(const std::string& path);
std::unique_ptr<Database> open_postgres(const std::string& url);

// Commits on commit(), rolls back on destruction otherwise.
class Transaction {
 public:
  Transaction(Database& db, const std::string& lock_name) : db_(db) { db_.begin_exclusive(lock_name); }
  ~Transaction() {
    if (!done_) try { db_.rollback(); } catch (...) {}
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace oneshot::tune
