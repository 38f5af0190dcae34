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
  // Opens a read-only transaction that sees one snapshot of the database
  // until commit or rollback, whatever other connections commit meanwhile:
  // SQLite's BEGIN and a first read (WAL: writers go on), PostgreSQL's
  // REPEATABLE READ READ ONLY.
  virtual void begin_read() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  // Whether the database holds table `name` (a read; creates nothing).
  virtual bool has_table(const std::string& name) = 0;
  // SQLite: Error naming the file when it is a non-empty database of another
  // program (its application_id or its tables not a study's), so that a
  // writer never adds its tables to it; marks a new file as a study's.
  // PostgreSQL: nothing (a server database holds many things).
  virtual void claim_for_studies() {}
  // An SQL expression for the database clock in seconds since 1970, so that
  // heartbeats written by different machines compare on one clock.
  virtual std::string now_sql() const = 0;
  virtual std::string describe() const = 0;  // for messages; no password
};

// "sqlite:///relative.db", "sqlite:////absolute.db" (as SQLAlchemy), a plain
// file path, or "postgresql://USER@HOST[:PORT]/DB" ("postgres://" too).
// `read_only` (commands that only read, tune-report): a SQLite file is opened
// with SQLITE_OPEN_READONLY and a missing one is "no such file", never
// created; a PostgreSQL session is made read-only (no CREATE, no change).
std::unique_ptr<Database> open_database(const std::string& url, bool read_only = false);
// (Spellings parsed by core/store_location.h: is_postgres_url, sqlite_file_of.)

std::unique_ptr<Database> open_sqlite(const std::string& path, bool read_only = false);
std::unique_ptr<Database> open_postgres(const std::string& url, bool read_only = false);

// The application_id a SQLite study file carries ("OSTU").
inline constexpr std::int32_t kStudyApplicationId = 0x4F535455;

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
