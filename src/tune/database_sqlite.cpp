// SQLite backend: one file, WAL journal so readers never block the writer,
// a generous busy timeout so workers queue for the write lock instead of failing.
#include <sqlite3.h>

#include <cerrno>

#include "core/atomic_file.h"  // write_error: a full disk in words
#include "core/error.h"
#include "tune/database.h"

namespace oneshot::tune {
namespace {

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(const std::string& path) : path_(path) {
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      if ((rc & 0xff) == SQLITE_FULL) throw write_error(path, ENOSPC);
      throw file_error(path, "cannot open study database: " + why);
    }
    sqlite3_busy_timeout(db_, 600000);
    try {
      execute("PRAGMA journal_mode=WAL", {});
      execute("PRAGMA synchronous=NORMAL", {});
    } catch (...) {  // a damaged file: the destructor does not run for a constructor that throws
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~SqliteDatabase() override { sqlite3_close(db_); }

  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::vector<SqlRow> rows;
    run(sql, params, &rows);
    return rows;
  }

  std::int64_t execute(const std::string& sql, const std::vector<SqlValue>& params) override {
    run(sql, params, nullptr);
    return sqlite3_changes(db_);
  }

  void begin_exclusive(const std::string&) override { execute("BEGIN IMMEDIATE", {}); }
  void commit() override { execute("COMMIT", {}); }
  void rollback() override { execute("ROLLBACK", {}); }
  std::string now_sql() const override { return "((julianday('now') - 2440587.5) * 86400.0)"; }
  std::string describe() const override { return path_; }

 private:
  [[noreturn]] void fail(const std::string& sql) const {
    // A full disk in words, naming the study (the transaction is rolled back).
    if ((sqlite3_errcode(db_) & 0xff) == SQLITE_FULL) throw write_error(path_, ENOSPC);
    throw file_error(path_, std::string("database error: ") + sqlite3_errmsg(db_) + " (in: " + sql.substr(0, 80) + ")");
  }

  void run(const std::string& sql, const std::vector<SqlValue>& params, std::vector<SqlRow>* rows) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) fail(sql);
    struct Finalize {
      sqlite3_stmt* s;
      ~Finalize() { sqlite3_finalize(s); }
    } finalize{stmt};
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string name = "$" + std::to_string(i + 1);
      const int idx = sqlite3_bind_parameter_index(stmt, name.c_str());
      if (idx == 0) continue;  // not used by this statement
      const SqlValue& p = params[i];
      int rc;
      if (is_null(p)) rc = sqlite3_bind_null(stmt, idx);
      else if (auto v = std::get_if<std::int64_t>(&p)) rc = sqlite3_bind_int64(stmt, idx, *v);
      else if (auto d = std::get_if<double>(&p)) rc = sqlite3_bind_double(stmt, idx, *d);
      else {
        const auto& s = std::get<std::string>(p);
        rc = sqlite3_bind_text(stmt, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) fail(sql);
    }
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return;
      if (rc != SQLITE_ROW) fail(sql);
      if (!rows) continue;
      SqlRow row;
      const int n = sqlite3_column_count(stmt);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL: row.emplace_back(nullptr); break;
          case SQLITE_INTEGER: row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c))); break;
          case SQLITE_FLOAT: row.emplace_back(sqlite3_column_double(stmt, c)); break;
          default: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            row.emplace_back(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, c))));
          }
        }
      }
      rows->push_back(std::move(row));
    }
  }

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path) { return std::make_unique<SqliteDatabase>(path); }

}  // namespace oneshot::tune
