// SQLite backend: one file, WAL journal so readers never block the writer,
// a generous busy timeout so workers queue for the write lock instead of failing.
#include <sqlite3.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "core/atomic_file.h"  // write_error: a full disk in words
#include "core/error.h"
#include "core/store_location.h"
#include "tune/database.h"

namespace oneshot::tune {
namespace {

// For tests: ONESHOT_TEST_STUDY_FAULT=N[:kill] makes the N-th statement of
// this process that writes to a study (counted from 1) fail after it ran, or
// with ":kill" kills the process with SIGKILL there, so that a test can check
// that every change is whole or absent at each of its steps.
void injected_fault(const std::string& sql) {
  const std::pair<long, bool> spec = [] {  // read each time: a forked test child sets it
    std::pair<long, bool> s{0, false};
    if (const char* v = std::getenv("ONESHOT_TEST_STUDY_FAULT"); v && *v) {
      char* end = nullptr;
      s.first = std::strtol(v, &end, 10);
      s.second = end && std::string(end) == ":kill";
    }
    return s;
  }();
  static long count = 0;
  if (spec.first <= 0) return;
  for (const char* head : {"SELECT", "BEGIN", "COMMIT", "ROLLBACK", "PRAGMA"})
    if (sql.rfind(head, 0) == 0) return;
  if (++count != spec.first) return;
  if (spec.second) ::raise(SIGKILL);
  throw Error("injected study fault at writing statement " + std::to_string(count) + " (ONESHOT_TEST_STUDY_FAULT)");
}

// PATH as a file: URI's path (RFC 3986 escapes for the characters a URI gives meaning to).
std::string uri_path(const std::string& path) {
  std::string out;
  for (unsigned char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#' || c <= ' ' || c >= 0x7f) {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(const std::string& path, bool read_only) : path_(path), read_only_(read_only) {
    if (read_only) {  // a reader creates nothing: a misspelt path is named, not made a study
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) throw file_error(path, "no such file (a study is created by tune)");
      if (std::filesystem::is_directory(path, ec)) throw file_error(path, "is a directory, not a study database");
    }
    // A reader opens read-write (never creating) with query_only on: a
    // SQLITE_OPEN_READONLY connection to a WAL study cannot checkpoint, so it
    // left the -wal and -shm files it made beside the study; the last
    // connection to close (a reader too) now removes them. A file the user
    // cannot write is opened read-only by SQLite itself.
    // In a directory nobody can write (a read-only file system, a mounted
    // archive), no writer can exist and SQLite could not make the -shm file a
    // WAL study's reader needs ("unable to open database file"): the study is
    // opened immutable, read as the file stands.
    const bool immutable = read_only && ::access(std::filesystem::absolute(path).parent_path().c_str(), W_OK) != 0;
    const std::string name = immutable ? "file:" + uri_path(path) + "?immutable=1" : sqlite_open_name(path);
    const int flags = immutable ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
                                : SQLITE_OPEN_READWRITE | (read_only ? 0 : SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(name.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      if ((rc & 0xff) == SQLITE_FULL) throw write_error(path, ENOSPC);
      throw file_error(path, "cannot open study database: " + why);
    }
    sqlite3_busy_timeout(db_, 600000);
    try {
      if (read_only) execute("PRAGMA query_only = ON", {});  // no change through this connection, whatever runs
      // Not a SQLite file, or one of another program: said now, before the
      // journal mode (which a writer sets in the file's header) changes it.
      check_ours();
      if (!read_only) {
        execute("PRAGMA journal_mode=WAL", {});
        execute("PRAGMA synchronous=NORMAL", {});
      }
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

  void begin_exclusive(const std::string&) override {
    if (read_only_) throw file_error(path_, "study database opened read-only cannot be changed");
    execute("BEGIN IMMEDIATE", {});
  }
  void begin_read() override {
    execute("BEGIN", {});
    query("SELECT COUNT(*) FROM sqlite_master", {});  // the snapshot starts at the first read
  }
  bool has_table(const std::string& name) override {
    return !query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1", {name}).empty();
  }
  void claim_for_studies() override {
    check_ours();
    if (!read_only_ && as_int(query("PRAGMA application_id", {})[0][0]) == 0)
      execute("PRAGMA application_id = " + std::to_string(kStudyApplicationId), {});
  }

 private:
  // Error naming the file when it is a SQLite database of another program:
  // another application_id, or tables and none of a study's.
  void check_ours() {
    const std::int64_t id = as_int(query("PRAGMA application_id", {})[0][0]);
    if (id == kStudyApplicationId) return;
    if (id != 0) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(id));
      throw file_error(path_, std::string("is a SQLite database of another program (application_id 0x") + hex +
                                  "), not a tuning study; give --study a new file");
    }
    std::string tables;
    for (const auto& r : query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", {}))
      tables += (tables.empty() ? "" : ", ") + as_string(r[0]);
    const bool ours = tables.empty() || has_table("tune_studies");
    if (!ours)
      throw file_error(path_, "is a SQLite database of another program (tables " + tables +
                                  "), not a tuning study: its tables are left alone; give --study a new file");
  }

 public:
  void commit() override { execute("COMMIT", {}); }
  void rollback() override { execute("ROLLBACK", {}); }
  std::string now_sql() const override { return "((julianday('now') - 2440587.5) * 86400.0)"; }
  std::string describe() const override { return path_; }

 private:
  [[noreturn]] void fail(const std::string& sql) const {
    // A full disk in words, naming the study (the transaction is rolled back).
    // SQLite calls a full disk met while growing its -shm or -wal file a
    // "disk I/O error"; the operating system's errno says what it was.
    if ((sqlite3_errcode(db_) & 0xff) == SQLITE_FULL || sqlite3_system_errno(db_) == ENOSPC)
      throw write_error(path_, ENOSPC);
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
      std::string name = std::to_string(i + 1);  // not "$" + ...: GCC 12's -Wrestrict misreads it
      name.insert(0, 1, '$');
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
      if (rc == SQLITE_DONE) {
        injected_fault(sql);
        return;
      }
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
  bool read_only_ = false;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path, bool read_only) {
  return std::make_unique<SqliteDatabase>(path, read_only);
}

}  // namespace oneshot::tune
