#include "enroll/library.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include "core/atomic_file.h"  // write_error: a full disk in words
#include "core/error.h"
#include "core/store_location.h"
#include "core/number_cast.h"
#include "core/number_text.h"
#include "core/utf8.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

// The newest schema this program reads. Version 3 adds the domain table and is
// written only with a domain (set_domain), so that a program that would ignore
// the domain refuses the library rather than score it uncentred; version 4
// adds the domain's cohort (domain_cohort) and is written only with one, so
// that a version-3 program does not normalise against the training cohort
// a calibration made against the domain's.
constexpr int kSchemaVersion = 4;
constexpr std::int64_t kLibraryApplicationId = 0x4F534C42;  // "OSLB": PRAGMA application_id of a class library

using Value = std::variant<std::monostate, std::int64_t, double, std::string, std::vector<float>>;

// A row's columns as read: NULL, integer, real, text or blob.
struct Row {
  std::vector<Value> cols;
  // Embedding blobs whose size is no whole number of floats (column -> bytes;
  // the column reads as NULL): named by stored_embedding, which knows the row.
  std::map<std::size_t, std::size_t> odd_blobs;
  bool null(std::size_t i) const { return std::holds_alternative<std::monostate>(cols[i]); }
  std::int64_t i64(std::size_t i) const {
    if (auto* v = std::get_if<std::int64_t>(&cols[i])) return *v;
    // A REAL where an integer belongs (a damaged or foreign write): its whole
    // value when it has one that fits, else -1, which no id, count or flag
    // of a library takes (never the unchecked conversion of 1e300 or inf).
    if (auto* d = std::get_if<double>(&cols[i])) return whole_int64(*d).value_or(-1);
    return 0;
  }
  double f64(std::size_t i) const {
    if (auto* d = std::get_if<double>(&cols[i])) return *d;
    if (auto* v = std::get_if<std::int64_t>(&cols[i])) return static_cast<double>(*v);
    return std::nan("");
  }
  std::string text(std::size_t i) const {
    if (auto* s = std::get_if<std::string>(&cols[i])) return *s;
    if (auto* v = std::get_if<std::int64_t>(&cols[i])) return std::to_string(*v);
    if (auto* d = std::get_if<double>(&cols[i])) return short_number(*d);  // "inf" in a message, not ""
    return {};
  }
  const std::vector<float>* blob(std::size_t i) const { return std::get_if<std::vector<float>>(&cols[i]); }
  bool number(std::size_t i) const {
    return std::holds_alternative<std::int64_t>(cols[i]) || std::holds_alternative<double>(cols[i]);
  }
};

std::function<void(const std::string&)>& statement_hook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}

// A statement that changes the library (not a read, a transaction boundary or a pragma).
bool writes(const std::string& sql) {
  for (const char* head : {"SELECT", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"})
    if (sql.rfind(head, 0) == 0) return false;
  return true;
}

// ONESHOT_TEST_LIBRARY_FAULT=N[:kill]: the N-th writing statement of this process fails (or kills it).
void injected_fault(const std::string& sql) {
  const auto spec = [] {  // read each time: a forked test child may set it
    std::pair<long, bool> s{0, false};
    if (const char* v = std::getenv("ONESHOT_TEST_LIBRARY_FAULT"); v && *v) {
      char* end = nullptr;
      s.first = std::strtol(v, &end, 10);
      s.second = end && std::strcmp(end, ":kill") == 0;
    }
    return s;
  }();
  static long count = 0;
  if (spec.first <= 0 || !writes(sql)) return;
  if (++count != spec.first) return;
  if (spec.second) ::raise(SIGKILL);
  throw Error("injected library fault at writing statement " + std::to_string(count) + " (ONESHOT_TEST_LIBRARY_FAULT)");
}

// ONESHOT_TEST_LIBRARY_PAUSE=S: each change waits S seconds (at most 60)
// before its transaction, so a test can commit another process's change
// between a command's plan and its change.
void injected_pause() {
  const char* v = std::getenv("ONESHOT_TEST_LIBRARY_PAUSE");
  if (!v || !*v) return;
  const double s = std::strtod(v, nullptr);
  if (s > 0 && s <= 60) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

}  // namespace

void set_library_statement_hook(std::function<void(const std::string& sql)> hook) {
  statement_hook() = std::move(hook);
}

struct ClassLibrary::Impl {
  fs::path path;
  sqlite3* db = nullptr;
  bool read_only = false;
  mutable int depth = 0;      // open transactions: 0 none, 1 the outer one, more: savepoints within it
  mutable bool writing = false;  // the outer transaction is a change (not a read)
  // open_or_create_on_commit of a missing library: the temporary file the
  // connection holds (`path` names the library in messages) and the model to
  // create it with, until the first change links it into place.
  fs::path creating;
  LibraryModel creating_model;

  ~Impl() {
    if (db) sqlite3_close(db);
    if (!creating.empty()) {
      std::error_code ec;
      fs::remove(creating, ec);
      fs::remove(creating.string() + "-journal", ec);
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    // A full disk in words, naming the library (the change is rolled back: the library is as it was).
    if (db && (sqlite3_errcode(db) & 0xff) == SQLITE_FULL) throw write_error(path, ENOSPC);
    throw file_error(path, "class library: " + what + ": " + (db ? sqlite3_errmsg(db) : "cannot open"));
  }

  std::vector<Row> query(const std::string& sql, const std::vector<Value>& params = {}) const {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK)
      fail("cannot run \"" + sql.substr(0, 60) + "\"");
    struct Finalize {
      sqlite3_stmt* s;
      ~Finalize() { sqlite3_finalize(s); }
    } finalize{stmt};
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int idx = static_cast<int>(i + 1);
      const Value& p = params[i];
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(p)) rc = sqlite3_bind_null(stmt, idx);
      else if (auto* v = std::get_if<std::int64_t>(&p)) rc = sqlite3_bind_int64(stmt, idx, *v);
      else if (auto* d = std::get_if<double>(&p)) rc = sqlite3_bind_double(stmt, idx, *d);
      else if (auto* s = std::get_if<std::string>(&p))
        rc = sqlite3_bind_text(stmt, idx, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
      else if (auto* b = std::get_if<std::vector<float>>(&p))
        rc = sqlite3_bind_blob(stmt, idx, b->data(), static_cast<int>(b->size() * sizeof(float)), SQLITE_TRANSIENT);
      if (rc != SQLITE_OK) fail("cannot bind a value");
    }
    std::vector<Row> rows;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail("\"" + sql.substr(0, 60) + "\" failed");
      Row row;
      const int n = sqlite3_column_count(stmt);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL: row.cols.emplace_back(std::monostate{}); break;
          case SQLITE_INTEGER: row.cols.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c))); break;
          case SQLITE_FLOAT: row.cols.emplace_back(sqlite3_column_double(stmt, c)); break;
          case SQLITE_BLOB: {
            // Only embeddings are blobs: one elsewhere (a source, a date, a
            // name) was called "a stored embedding of N bytes", or read as
            // empty text when its size was a multiple of 4.
            if (const char* name = sqlite3_column_name(stmt, c); !name || std::string(name) != "embedding")
              throw file_error(path, std::string("class library: column \"") + (name ? name : "?") +
                                         "\" holds a blob where text or a number belongs (in \"" + sql.substr(0, 60) +
                                         "\"): the library is damaged; restore it from a copy, or `library --remove` "
                                         "the class the row belongs to and enroll it again");
            const auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(stmt, c));
            if (bytes % sizeof(float) != 0) {
              row.odd_blobs[static_cast<std::size_t>(c)] = bytes;
              row.cols.emplace_back(std::monostate{});
              break;
            }
            std::vector<float> v(bytes / sizeof(float));
            if (!v.empty()) std::memcpy(v.data(), sqlite3_column_blob(stmt, c), bytes);
            row.cols.emplace_back(std::move(v));
            break;
          }
          default: {
            const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            row.cols.emplace_back(std::string(t ? t : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, c))));
          }
        }
      }
      rows.push_back(std::move(row));
    }
    injected_fault(sql);
    if (statement_hook()) statement_hook()(sql);
    return rows;
  }

  void exec(const std::string& sql, const std::vector<Value>& params = {}) const { query(sql, params); }

  // Runs `body` in one IMMEDIATE transaction: the write lock is taken at the
  // start, so two enrolling processes queue instead of failing half-way.
  // Inside another change it is a savepoint of that change: an exception
  // undoes this part and propagates; the outer change decides.
  void transaction(const std::function<void()>& body) const {
    if (read_only)
      throw file_error(path, "class library opened read-only cannot be changed (a command that only reads it)");
    if (depth > 0) {
      if (!writing) throw file_error(path, "class library: a change inside a read (a bug)");
      const std::string name = "s" + std::to_string(depth);
      exec("SAVEPOINT " + name);
      ++depth;
      try {
        body();
      } catch (...) {
        --depth;
        sqlite3_exec(db, ("ROLLBACK TO " + name + "; RELEASE " + name).c_str(), nullptr, nullptr, nullptr);
        throw;
      }
      --depth;
      exec("RELEASE " + name);
      return;
    }
    exec("BEGIN IMMEDIATE");
    depth = 1;
    writing = true;
    try {
      body();
      exec("COMMIT");
    } catch (...) {
      depth = 0;
      writing = false;
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    depth = 0;
    writing = false;
  }

  // Runs `body` in one read transaction (its snapshot taken by the first
  // SELECT, held until the end); inside any other transaction, in that one.
  void read(const std::function<void()>& body) const {
    if (depth > 0) {
      body();
      return;
    }
    exec("BEGIN");
    depth = 1;
    try {
      exec("SELECT COUNT(*) FROM sqlite_master");  // the shared lock: the snapshot starts here
      body();
      exec("COMMIT");
    } catch (...) {
      depth = 0;
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    depth = 0;
  }

  std::map<std::string, std::string> meta() const {
    std::map<std::string, std::string> m;
    for (const Row& r : query("SELECT key, value FROM meta")) m[r.text(0)] = r.text(1);
    return m;
  }
  void set_meta(const std::string& key, const std::string& value) const {
    exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
         {key, value});
  }

  std::optional<std::int64_t> class_id(const std::string& name, bool* negative = nullptr) const {
    const auto rows = query("SELECT id, negative FROM classes WHERE name = ?", {name});
    if (rows.empty()) return std::nullopt;
    if (negative) *negative = rows[0].i64(1) != 0;
    return rows[0].i64(0);
  }
};

namespace {

std::unique_ptr<ClassLibrary::Impl> connect(const fs::path& path, bool create, bool read_only = false) {
  auto impl = std::make_unique<ClassLibrary::Impl>();
  impl->path = path;
  impl->read_only = read_only;
  if (!create) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw file_error(path, "no such file (a class library is created by enroll)");
    if (fs::is_directory(path, ec)) throw file_error(path, "is a directory, not a class library");
  }
  auto open = [&](int flags) {
    if (impl->db) sqlite3_close(impl->db);
    impl->db = nullptr;
    if (sqlite3_open_v2(sqlite_open_name(path.string()).c_str(), &impl->db, flags, nullptr) != SQLITE_OK)
      impl->fail("cannot open");
    sqlite3_busy_timeout(impl->db, 120000);
    sqlite3_extended_result_codes(impl->db, 1);
  };
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)) |
                    SQLITE_OPEN_NOMUTEX;
  open(flags);
  // A non-SQLite file fails here with "file is not a database".
  const char* pragmas = "PRAGMA foreign_keys = ON; SELECT COUNT(*) FROM sqlite_master;";
  char* err = nullptr;
  int rc = sqlite3_exec(impl->db, pragmas, nullptr, nullptr, &err);
  if (read_only && (rc & 0xff) != SQLITE_OK && (rc & 0xff) != SQLITE_NOTADB) {
    // A change killed before its commit left a hot journal, which a read-only
    // connection cannot roll back: a read-write one (creating nothing) does,
    // restoring the library as it was, and the read-only one opens again.
    sqlite3_free(err);
    err = nullptr;
    open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    sqlite3_exec(impl->db, "SELECT COUNT(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    open(flags);
    rc = sqlite3_exec(impl->db, pragmas, nullptr, nullptr, &err);
  }
  if (rc != SQLITE_OK) {
    const std::string why = err ? err : sqlite3_errmsg(impl->db);
    sqlite3_free(err);
    if ((rc & 0xff) == SQLITE_FULL) throw write_error(path, ENOSPC);
    // A truncated or overwritten library: damage, not another kind of file.
    if ((rc & 0xff) == SQLITE_CORRUPT)
      throw file_error(path, "the class library is damaged (" + why +
                                 "): restore it from a copy, or enrol its classes again into a new library");
    throw file_error(path, "not a class library: " + why);
  }
  // Another program's SQLite file: named, and left exactly as it is (before
  // any pragma that writes, a journal mode in its header included).
  const std::int64_t app = impl->query("PRAGMA application_id")[0].i64(0);
  if (app == 0x4F534152)  // "OSAR", archive/sqlite_archive.cpp's: this program's, but another kind of file
    throw file_error(path, "is a sound archive (made by `oneshot-audio index`, read by `search`), not a class "
                           "library (made by `oneshot-audio enroll`)");
  if (app != 0 && app != kLibraryApplicationId) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "%08llx", static_cast<unsigned long long>(app) & 0xffffffffULL);
    throw file_error(path, std::string("is a SQLite database of another program (application_id 0x") + hex +
                               "), not a class library");
  }
  std::string tables;
  bool has_meta = false;
  for (const Row& r : impl->query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) {
    if (!tables.empty()) tables += ", ";
    tables += r.text(0);
    has_meta = has_meta || r.text(0) == "meta";
  }
  if (!tables.empty() && !has_meta)
    throw file_error(path, "is a SQLite database of another program (tables " + tables +
                               "), not a class library: it is left as it is");
  if (!read_only && sqlite3_exec(impl->db, "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr) != SQLITE_OK)
    impl->fail("cannot set the journal mode");
  return impl;
}

bool has_table(const ClassLibrary::Impl& impl, const std::string& table) {
  return !impl.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", {table}).empty();
}

// Version 1 -> 2: the cohort table. Inside a transaction. A version-3
// library stays 3.
void upgrade_schema(const ClassLibrary::Impl& impl) {
  if (!has_table(impl, "cohort"))
    impl.exec(
        "CREATE TABLE cohort(id INTEGER PRIMARY KEY, source TEXT NOT NULL, class_name TEXT NOT NULL, "
        "embedding BLOB NOT NULL)");
  const auto meta = impl.meta();
  const auto it = meta.find("schema_version");
  if (it == meta.end() || it->second == "1") impl.set_meta("schema_version", "2");
}

bool has_schema(const ClassLibrary::Impl& impl) {
  return !impl.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").empty();
}

void check_schema(const ClassLibrary::Impl& impl) {
  if (!has_schema(impl)) throw file_error(impl.path, "not a class library (no meta table)");
  const auto meta = impl.meta();
  const auto it = meta.find("schema_version");
  if (it == meta.end()) throw file_error(impl.path, "not a class library (no schema_version)");
  char* end = nullptr;
  const long version = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || version < 1)
    throw file_error(impl.path, "not a class library (schema_version \"" + it->second + "\")");
  if (version > kSchemaVersion)
    throw file_error(impl.path, "class library schema " + it->second + " is newer than this program's (" +
                                    std::to_string(kSchemaVersion) + ")");
  // Every table and column the reads use (a table dropped or altered by another program
  // was a bare "no such table" from the first query that met it). The domain tables
  // are optional: a library without a domain may lack them.
  struct Table {
    const char* name;
    long since;  // the schema version that made it
    std::vector<const char*> columns;
  };
  static const Table kTables[] = {
      {"classes", 1, {"id", "name", "negative", "threshold", "threshold_source", "added"}},
      {"examples", 1, {"id", "class_id", "source", "segment_start", "segment_end", "window_start", "embedding", "added"}},
      {"cohort", 2, {"id", "source", "class_name", "embedding"}},
  };
  for (const Table& t : kTables) {
    if (version < t.since) continue;
    std::set<std::string> have;
    for (const Row& r : impl.query("SELECT name FROM pragma_table_info(?)", {std::string(t.name)})) have.insert(r.text(0));
    std::string why;
    if (have.empty()) {
      why = std::string("its table ") + t.name + " is missing";
    } else {
      for (const char* c : t.columns)
        if (!have.count(c)) {
          why = std::string("its table ") + t.name + " has no column " + c;
          break;
        }
    }
    if (!why.empty())
      throw file_error(impl.path, "the class library is damaged: " + why +
                                      " (changed by another program?); restore it from a copy, or enrol its classes "
                                      "again into a new library");
  }
}

// A value in a message: "1e+38", not the 17 digits that store it exactly.
// The way out of damage to what embedding made: `library --reembed` reads
// every example's source again and writes the model, settings, embeddings,
// cohort and calibration anew. Names the library and the run it recorded.
std::string reembed_hint(const ClassLibrary::Impl& impl) {
  std::string run = "RUN";
  try {
    const auto rows = impl.query("SELECT value FROM meta WHERE key = 'run'");
    if (!rows.empty() && !rows[0].text(0).empty()) run = rows[0].text(0);
  } catch (const Error&) {
  }
  return "`oneshot-audio library " + impl.path.string() + " --reembed --run " + run +
         "` embeds every example again from its source file";
}

// The way out of a damaged calibration: --reembed computes it again.
std::string calibration_hint(const ClassLibrary::Impl& impl) {
  return reembed_hint(impl) + " and computes the calibration again";
}

// A number from meta, strictly: a damaged value (another program's write, a
// bad sector) is an Error naming the library, the key and the value, never a
// silent 0 that moves every threshold.
double parse_double(const ClassLibrary::Impl& impl, const std::map<std::string, std::string>& m, const std::string& key,
                    double fallback = 0) {
  const auto it = m.find(key);
  if (it == m.end() || it->second.empty()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v))
    throw file_error(impl.path, "class library's " + key + " \"" + it->second +
                                    "\" (table meta) is not a number: the library is damaged (`library --reembed "
                                    "--run RUN` writes its model, calibration and thresholds again)");
  return v;
}

// A meta number that sizes work (windows, samples, top-K, views) or must be a
// rate, bounded: a damaged value must not ask for gigabytes or make every
// score NaN. Error naming the library, the key, the value and `range` (in
// words), with the way out.
void check_meta_range(const ClassLibrary::Impl& impl, const std::map<std::string, std::string>& m,
                      const std::string& key, bool in_range, const std::string& range) {
  if (in_range) return;
  const auto it = m.find(key);
  throw file_error(impl.path, "class library's " + key + " \"" + (it == m.end() ? "" : it->second) +
                                  "\" (table meta) is out of range: it must be " + range +
                                  ": the library is damaged; " + reembed_hint(impl) +
                                  " and writes its model and settings again");
}

bool whole_in(double v, double lo, double hi) { return v >= lo && v <= hi && v == std::floor(v); }

// A model number from meta, strictly: a damaged value must not become 0 (an
// embedding_dim of 0 made the scorer read past every embedding).
double parse_model_number(const ClassLibrary::Impl& impl, const std::map<std::string, std::string>& m,
                          const std::string& key) {
  const auto it = m.find(key);
  if (it == m.end()) throw file_error(impl.path, "class library has no " + key + " (the library is damaged)");
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !std::isfinite(v) || v <= 0)
    throw file_error(impl.path, "class library's " + key + " \"" + it->second +
                                    "\" is not a positive number (the library is damaged)");
  return v;
}

// The bounds of the stored model and settings. embedding_dim: 64 MB an
// embedding (a model's is at most tens of thousands); window_s and
// sample_rate: those of features.duration and features.sample_rate; top-K and
// views: those of enroll's --cohort-top-k and --views.
constexpr double kMaxEmbeddingDim = 16777216;
constexpr double kMaxWindowSeconds = 600;
constexpr double kMaxSampleRate = 768000;
constexpr double kMaxCohortTopK = 100000;
constexpr double kMaxEnrolViews = 64;

// The largest magnitude an embedding value may have. Trained encoders give
// values of order 1 (the demo's stay below 0.4); scores sum squared
// differences in float32, so a stored 1e38 made every score NaN. 1e9 squared,
// summed over 65536 dimensions, stays far inside float32's range.
constexpr float kMaxEmbeddingValue = 1e9f;

// An embedding about to be written (from the model): `dim` finite values of sane size.
void check_embedding(const ClassLibrary::Impl& impl, const LibraryExample& e, std::int64_t dim) {
  if (static_cast<std::int64_t>(e.embedding.size()) != dim)
    throw file_error(impl.path, "embedding of " + e.source + " has " + std::to_string(e.embedding.size()) +
                                    " values, the library's model has " + std::to_string(dim));
  for (float v : e.embedding) {
    if (!std::isfinite(v)) throw file_error(impl.path, "embedding of " + e.source + " is not finite");
    if (std::fabs(v) > kMaxEmbeddingValue)
      throw file_error(impl.path, "embedding of " + e.source + " holds " + short_number(v) + ", beyond +-" +
                                      short_number(kMaxEmbeddingValue) + " (no trained model's output)");
  }
}

// A stored embedding, read strictly: a blob of `dim` finite values of sane
// size. `what` names its row ("example 3 of class ..."); anything else is
// damage, named with the table and the way out.
std::vector<float> stored_embedding(const ClassLibrary::Impl& impl, const Row& row, std::size_t col,
                                    const std::string& what, const std::string& table, std::int64_t dim) {
  auto damaged = [&](const std::string& why) {
    return file_error(impl.path, "class library: the embedding of " + what + " (table " + table +
                                     ", column embedding) " + why + ": the library is damaged; " + reembed_hint(impl));
  };
  const std::vector<float>* blob = row.blob(col);
  if (!blob) {
    if (const auto odd = row.odd_blobs.find(col); odd != row.odd_blobs.end())
      throw damaged("has " + std::to_string(odd->second) + " bytes, not a whole number of 4-byte values");
    if (row.null(col)) throw damaged("is missing (NULL)");
    if (row.number(col)) throw damaged("holds the number " + row.text(col) + ", not an embedding blob");
    throw damaged("holds text, not an embedding blob");
  }
  if (static_cast<std::int64_t>(blob->size()) != dim)
    throw damaged("has " + std::to_string(blob->size()) + " values, the library's embedding_dim is " +
                  std::to_string(dim));
  for (std::size_t i = 0; i < blob->size(); ++i) {
    const float v = (*blob)[i];
    if (!std::isfinite(v)) throw damaged("holds " + short_number(v) + " at value " + std::to_string(i + 1));
    if (std::fabs(v) > kMaxEmbeddingValue)
      throw damaged("holds " + short_number(v) + " at value " + std::to_string(i + 1) + ", beyond +-" +
                    short_number(kMaxEmbeddingValue) + " (no trained model's output; scores would overflow)");
  }
  return *blob;
}

}  // namespace

void check_class_name(const std::string& name) {
  auto bad = [&](const std::string& why) { return Error("class name \"" + name + "\": " + why); };
  if (name.empty()) throw Error("a class needs a name (--class)");
  // Checked first, and the name shown with escapes: its bytes would otherwise
  // reach the terminal as they are, and every JSON output as U+FFFD.
  if (const std::size_t at = invalid_utf8_offset(name); at != std::string::npos) {
    auto hex = [](unsigned char c) {
      char text[8];
      std::snprintf(text, sizeof text, "\\x%02X", c);
      return std::string(text);
    };
    std::string shown;
    std::string_view rest = name;
    for (std::size_t i = at; i != std::string_view::npos; i = invalid_utf8_offset(rest)) {
      shown += std::string(rest.substr(0, i)) + hex(static_cast<unsigned char>(rest[i]));
      rest.remove_prefix(i + 1);
    }
    shown += rest;
    throw Error("class name \"" + shown + "\": is not UTF-8 text (byte " + hex(static_cast<unsigned char>(name[at])) +
                " at byte offset " + std::to_string(at) + "); give the name in UTF-8");
  }
  // A name is a label, not a document: thousands of characters (a paste gone wrong) filled every
  // table and event line. Counted in characters (code points), not bytes.
  const auto characters = static_cast<std::size_t>(
      std::count_if(name.begin(), name.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  if (characters > kMaxClassNameCharacters) {
    std::size_t shown = 40;  // bytes, cut at a character's start
    while ((static_cast<unsigned char>(name[shown]) & 0xC0) == 0x80) --shown;
    throw Error("class name \"" + name.substr(0, shown) + "...\": is " + std::to_string(characters) +
                " characters long; a class name may have at most " + std::to_string(kMaxClassNameCharacters));
  }
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      throw bad("holds a tab, line break or other control character (it would break the TSV, CSV and table output)");
  if (name.front() == ' ' || name.back() == ' ') throw bad("starts or ends with a space");
  if (name == "unknown") throw bad("is reserved: classify answers \"unknown\" when no class is accepted");
}

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ClassLibrary::ClassLibrary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClassLibrary::ClassLibrary(ClassLibrary&&) noexcept = default;
ClassLibrary& ClassLibrary::operator=(ClassLibrary&&) noexcept = default;
ClassLibrary::~ClassLibrary() = default;

ClassLibrary ClassLibrary::open(const fs::path& path) {
  auto impl = connect(path, false);
  impl->read([&] { check_schema(*impl); });
  // To change it: a read-only file is named now, as enroll names it (review and
  // library --remove wrote into a chmod 444 library as root).
  check_output_path(path, OutputRules{.streaming = false, .create_parents = false, .database = true});
  return ClassLibrary(std::move(impl));
}

ClassLibrary ClassLibrary::open_read_only(const fs::path& path) {
  auto impl = connect(path, false, true);
  impl->read([&] { check_schema(*impl); });
  return ClassLibrary(std::move(impl));
}

void ClassLibrary::change(const std::function<void()>& body) {
  if (impl_->depth == 0) injected_pause();
  if (impl_->creating.empty() || impl_->depth > 0) {
    impl_->transaction(body);
    return;
  }
  // A library made in its temporary file: the change commits there, and the
  // file then takes the library's name, unless another process's library
  // holds it by now (link, unlike rename, never replaces one).
  impl_->transaction(body);
  const fs::path path = impl_->path;
  std::error_code ec;
  if (::link(impl_->creating.c_str(), path.c_str()) == 0) {
    impl_ = connect(path, false);  // the old connection's destructor removes the temporary name
    return;
  }
  const int err = errno;
  if (err != EEXIST && !fs::exists(path, ec)) {
    // A file system without hard links: rename (the same directory, so atomic).
    fs::rename(impl_->creating, path, ec);
    if (ec) throw file_error(path, "cannot create the class library: " + ec.message());
    impl_->creating.clear();
    impl_ = connect(path, false);
    return;
  }
  // Another enrolment created the library meanwhile: this change is made in it.
  ClassLibrary existing = open_or_create(path, impl_->creating_model);
  impl_ = std::move(existing.impl_);
  impl_->transaction(body);
}

void ClassLibrary::read(const std::function<void()>& body) const { impl_->read(body); }

ClassLibrary ClassLibrary::open_or_create(const fs::path& path, const LibraryModel& model) {
  if (!path.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
  }
  auto impl = connect(path, true);
  Impl& db = *impl;
  // Creation is one transaction, so a second process creating the same
  // library at the same moment waits and then finds it made.
  db.transaction([&] {
    if (has_schema(db)) {
      const auto meta = db.meta();
      const auto it = meta.find("schema_version");
      if (it != meta.end() && it->second == "1") upgrade_schema(db);  // newer or damaged: check_schema says so
      return;
    }
    if (!db.query("SELECT name FROM sqlite_master").empty())
      throw file_error(path, "is a SQLite database but not a class library");
    db.exec("PRAGMA application_id = " + std::to_string(kLibraryApplicationId));  // says what the file is
    db.exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    db.exec(
        "CREATE TABLE classes(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, negative INTEGER NOT NULL, "
        "threshold REAL, threshold_source TEXT NOT NULL DEFAULT '', added TEXT NOT NULL)");
    db.exec(
        "CREATE TABLE examples(id INTEGER PRIMARY KEY, class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE "
        "CASCADE, source TEXT NOT NULL, segment_start REAL, segment_end REAL, window_start REAL NOT NULL, "
        "embedding BLOB NOT NULL, added TEXT NOT NULL)");
    db.exec("CREATE INDEX examples_class ON examples(class_id)");
    upgrade_schema(db);
    db.set_meta("created", utc_now_iso8601());
    db.set_meta("run", model.run);
    db.set_meta("fingerprint", model.fingerprint);
    db.set_meta("embedding_dim", std::to_string(model.embedding_dim));
    db.set_meta("window_s", format_double(model.window_s));
    db.set_meta("sample_rate", std::to_string(model.sample_rate));
    const LibrarySettings settings;  // recorded, so that a later default does not change this library
    db.set_meta("score_norm", settings.score_norm);
    db.set_meta("cohort_top_k", std::to_string(settings.cohort_top_k));
    db.set_meta("enrol_views", std::to_string(settings.enrol_views));
  });
  db.read([&] { check_schema(db); });
  ClassLibrary library(std::move(impl));
  const LibraryModel stored = library.model();
  if (stored.fingerprint != model.fingerprint &&
      (model.former_fingerprint.empty() || stored.fingerprint != model.former_fingerprint))
    throw file_error(path, "the library was embedded with model " + stored.fingerprint + " (run " + stored.run +
                               "), not with " + model.fingerprint + " (run " + model.run +
                               "); use `library --reembed --run` to move it to the new model");
  // The same model at a new place (a moved or copied run): classify and detect load it from there.
  if (stored.run != model.run) library.impl_->transaction([&] { library.impl_->set_meta("run", model.run); });
  return library;
}

ClassLibrary ClassLibrary::open_or_create_on_commit(const fs::path& path, const LibraryModel& model) {
  std::error_code ec;
  if (fs::exists(path, ec) || fs::is_symlink(path, ec)) return open_or_create(path, model);
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path(), ec);
  const std::string prefix = "." + path.filename().string() + ".creating-";
  // The temporary files of killed or interrupted first enrolments here (their process is gone).
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
  static int made = 0;
  const fs::path temporary =
      dir / (prefix + std::to_string(::getpid()) + "-" + std::to_string(++made));
  fs::remove(temporary, ec);
  fs::remove(temporary.string() + "-journal", ec);
  ClassLibrary library = [&] {
    try {
      return open_or_create(temporary, model);
    } catch (...) {
      fs::remove(temporary, ec);
      fs::remove(temporary.string() + "-journal", ec);
      throw;
    }
  }();
  library.impl_->creating = temporary;
  library.impl_->creating_model = model;
  library.impl_->path = path;
  return library;
}

const fs::path& ClassLibrary::path() const { return impl_->path; }

LibraryModel ClassLibrary::model() const {
  const auto m = impl_->meta();
  LibraryModel model;
  model.run = m.count("run") ? m.at("run") : "";
  model.fingerprint = m.count("fingerprint") ? m.at("fingerprint") : "";
  const double dim = parse_model_number(*impl_, m, "embedding_dim");
  const double window_s = parse_model_number(*impl_, m, "window_s");
  const double rate = parse_model_number(*impl_, m, "sample_rate");
  check_meta_range(*impl_, m, "embedding_dim", whole_in(dim, 1, kMaxEmbeddingDim),
                   "a whole number in [1, " + format_double(kMaxEmbeddingDim) + "]");
  check_meta_range(*impl_, m, "window_s", window_s <= kMaxWindowSeconds,
                   "in (0, " + format_double(kMaxWindowSeconds) + "] seconds");
  check_meta_range(*impl_, m, "sample_rate", whole_in(rate, 1, kMaxSampleRate),
                   "a whole number in [1, " + format_double(kMaxSampleRate) + "] Hz");
  model.embedding_dim = static_cast<std::int64_t>(dim);
  model.window_s = window_s;
  model.sample_rate = static_cast<int>(rate);
  return model;
}

fs::path ClassLibrary::run_directory() const {
  const std::string run = model().run;
  std::error_code ec;
  if (run.empty() || !fs::is_directory(run, ec))
    throw file_error(impl_->path, "the library's run " + run +
                                      " is gone (moved or deleted?): enroll any file with --run at its new place "
                                      "(same model) to record it, or move the library to another run with "
                                      "`library --reembed --run RUN`");
  return run;
}

namespace {

// The false-accept curve as meta text: "far threshold frr" triples, ';'-separated.
std::string format_far_curve(const std::vector<FarPoint>& curve) {
  std::string out;
  for (const FarPoint& p : curve) {
    // Appended piece by piece: GCC 12's -Wrestrict misreads `(cond ? "" : ";") + string` as an overlapping copy.
    if (!out.empty()) out += ';';
    out += format_double(p.far);
    out += ' ';
    out += format_double(p.threshold);
    out += ' ';
    out += format_double(p.frr);
  }
  return out;
}

// Strictly: each point three finite numbers, rates ascending in [0, 1) and
// frr in [0, 1]; anything else names the library as damaged.
std::vector<FarPoint> parse_far_curve(const ClassLibrary::Impl& impl, const std::string& text,
                                      const std::string& key = "calibration_far_curve") {
  std::vector<FarPoint> curve;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(';', start), text.size());
    const std::string item = text.substr(start, end - start);
    FarPoint p;
    char tail = 0;
    if (std::sscanf(item.c_str(), "%lf %lf %lf %c", &p.far, &p.threshold, &p.frr, &tail) != 3 ||
        !std::isfinite(p.far) || !std::isfinite(p.threshold) || !std::isfinite(p.frr) || p.far < 0 || p.far >= 1 ||
        p.frr < 0 || p.frr > 1 || (!curve.empty() && !(p.far > curve.back().far)))
      throw file_error(impl.path, "class library's " + key + " point " + std::to_string(curve.size() + 1) +
                                      " \"" + item + "\" is not a rate, a threshold and a false-reject rate in "
                                      "ascending order: the library is damaged; " + calibration_hint(impl));
    curve.push_back(p);
    start = end + 1;
  }
  return curve;
}

// The curves for several example recordings as meta text: a JSON array of
// {"examples", "targets", "non_targets", "logistic": [a, b] or null,
// "far_curve": format_far_curve's text}.
std::string format_by_examples(const std::vector<ExamplesCalibration>& curves) {
  nlohmann::json out = nlohmann::json::array();
  for (const ExamplesCalibration& e : curves) {
    nlohmann::json j = {{"examples", e.examples}, {"targets", e.targets}, {"non_targets", e.non_targets},
                        {"far_curve", format_far_curve(e.far_curve)}, {"logistic", nullptr}};
    if (e.logistic) j["logistic"] = {e.logistic->a, e.logistic->b};
    out.push_back(std::move(j));
  }
  return out.dump();
}

// Strictly, as parse_far_curve: counts whole, examples ascending above 1,
// logistic finite, each curve valid and not empty.
std::vector<ExamplesCalibration> parse_by_examples(const ClassLibrary::Impl& impl, const std::string& text,
                                                   const std::string& key) {
  const auto damaged = [&](const std::string& why) {
    return file_error(impl.path, "class library's " + key + " " + why + ": the library is damaged; " +
                                     calibration_hint(impl));
  };
  std::vector<ExamplesCalibration> out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw damaged("is not JSON");
  }
  if (!j.is_array()) throw damaged("is not a list");
  const auto whole = [&](const nlohmann::json& entry, const char* key, double lo, double hi) {
    if (!entry.contains(key) || !entry[key].is_number() || !whole_in(entry[key].get<double>(), lo, hi))
      throw damaged(std::string("entry ") + std::to_string(out.size() + 1) + ": \"" + key + "\" is not a whole number in [" +
                    format_double(lo) + ", " + format_double(hi) + "]");
    return static_cast<std::int64_t>(entry[key].get<double>());
  };
  for (const auto& entry : j) {
    if (!entry.is_object()) throw damaged("entry " + std::to_string(out.size() + 1) + " is not an object");
    ExamplesCalibration e;
    e.examples = whole(entry, "examples", 2, 1e6);
    if (!out.empty() && e.examples <= out.back().examples)
      throw damaged("entry " + std::to_string(out.size() + 1) + ": example counts do not ascend");
    e.targets = whole(entry, "targets", 1, 9e15);
    e.non_targets = whole(entry, "non_targets", 1, 9e15);
    const auto& logistic = entry.contains("logistic") ? entry["logistic"] : nlohmann::json();
    if (!logistic.is_null()) {
      if (!logistic.is_array() || logistic.size() != 2 || !logistic[0].is_number() || !logistic[1].is_number() ||
          !std::isfinite(logistic[0].get<double>()) || !std::isfinite(logistic[1].get<double>()))
        throw damaged("entry " + std::to_string(out.size() + 1) + ": \"logistic\" is not two numbers");
      e.logistic = LogisticCalibration{logistic[0].get<double>(), logistic[1].get<double>()};
    }
    if (!entry.contains("far_curve") || !entry["far_curve"].is_string() || entry["far_curve"].get<std::string>().empty())
      throw damaged("entry " + std::to_string(out.size() + 1) + ": no \"far_curve\"");
    e.far_curve = parse_far_curve(impl, entry["far_curve"].get<std::string>(), key + " far_curve");
    out.push_back(std::move(e));
  }
  return out;
}

// A calibration stored in meta under keys PREFIX far, PREFIX threshold, ...
// ("calibration_": the library's; "recording_calibration_": the one for
// scores centred on the recording scored; "batch_calibration_": classify's
// batches, centred on themselves and normalised against their windows).
std::optional<Calibration> read_calibration(const ClassLibrary::Impl& impl, const std::string& prefix) {
  const auto m = impl.meta();
  const auto key = [&](const char* name) { return prefix + name; };
  if (!m.count(key("threshold"))) return std::nullopt;
  Calibration c;
  c.far = parse_double(impl, m, key("far"));
  check_meta_range(impl, m, key("far"), c.far >= 0 && c.far < 1, "a rate in [0, 1)");
  c.threshold = parse_double(impl, m, key("threshold"));
  c.frr = parse_double(impl, m, key("frr"));
  c.floor = parse_double(impl, m, key("floor"));
  // Counts: checked before the cast (1e300 converted unchecked is undefined behaviour).
  const auto count = [&](const char* name) {
    const double v = parse_double(impl, m, key(name));
    check_meta_range(impl, m, key(name), whole_in(v, 0, 9e15), "a whole count");
    return static_cast<std::int64_t>(v);
  };
  c.same_pairs = count("same_pairs");
  c.different_pairs = count("different_pairs");
  c.classes = count("classes");
  c.method = m.count(key("method")) ? m.at(key("method")) : "pairs";
  c.normalised = parse_double(impl, m, key("normalised")) != 0;
  c.domain_centred = m.count(key("domain_centred")) && parse_double(impl, m, key("domain_centred")) != 0;
  if (m.count(key("cohort"))) c.cohort = m.at(key("cohort"));
  check_meta_range(impl, m, key("cohort"), c.cohort == "training" || c.cohort == "domain",
                   "training or domain");
  if (m.count(key("logistic_a")) && m.count(key("logistic_b")))
    c.logistic = LogisticCalibration{parse_double(impl, m, key("logistic_a")), parse_double(impl, m, key("logistic_b"))};
  if (m.count(key("far_curve"))) c.far_curve = parse_far_curve(impl, m.at(key("far_curve")), key("far_curve"));
  if (m.count(key("by_examples"))) c.by_examples = parse_by_examples(impl, m.at(key("by_examples")), key("by_examples"));
  c.examples_simulated =
      m.count(key("examples_simulated")) && parse_double(impl, m, key("examples_simulated")) != 0;
  return c;
}

void write_calibration(ClassLibrary::Impl& impl, const Calibration& c, const std::string& prefix) {
  const auto key = [&](const char* name) { return prefix + name; };
  impl.set_meta(key("far"), format_double(c.far));
  impl.set_meta(key("threshold"), format_double(c.threshold));
  impl.set_meta(key("frr"), format_double(c.frr));
  impl.set_meta(key("floor"), format_double(c.floor));
  impl.set_meta(key("same_pairs"), std::to_string(c.same_pairs));
  impl.set_meta(key("different_pairs"), std::to_string(c.different_pairs));
  impl.set_meta(key("classes"), std::to_string(c.classes));
  impl.set_meta(key("method"), c.method);
  impl.set_meta(key("normalised"), c.normalised ? "1" : "0");
  impl.set_meta(key("domain_centred"), c.domain_centred ? "1" : "0");
  if (c.cohort != "training" && c.cohort != "domain")
    throw Error("a calibration's cohort must be training or domain, got \"" + c.cohort + "\"");
  impl.set_meta(key("cohort"), c.cohort);
  if (c.logistic) {
    impl.set_meta(key("logistic_a"), format_double(c.logistic->a));
    impl.set_meta(key("logistic_b"), format_double(c.logistic->b));
  } else {
    impl.exec("DELETE FROM meta WHERE key IN (?, ?)", {key("logistic_a"), key("logistic_b")});
  }
  if (!c.far_curve.empty()) impl.set_meta(key("far_curve"), format_far_curve(c.far_curve));
  else impl.exec("DELETE FROM meta WHERE key = ?", {key("far_curve")});
  if (!c.by_examples.empty()) impl.set_meta(key("by_examples"), format_by_examples(c.by_examples));
  else impl.exec("DELETE FROM meta WHERE key = ?", {key("by_examples")});
  impl.set_meta(key("examples_simulated"), c.examples_simulated ? "1" : "0");
}

}  // namespace

std::optional<Calibration> ClassLibrary::calibration() const { return read_calibration(*impl_, "calibration_"); }

void ClassLibrary::set_calibration(const Calibration& c) {
  impl_->transaction([&] { write_calibration(*impl_, c, "calibration_"); });
}

std::optional<Calibration> ClassLibrary::recording_calibration() const {
  return read_calibration(*impl_, "recording_calibration_");
}

void ClassLibrary::set_recording_calibration(const std::optional<Calibration>& c) {
  impl_->transaction([&] {
    if (c) {
      if (!c->domain_centred || c->normalised)
        throw Error("a recording calibration is on raw scores centred on the recording (domain_centred, not normalised)");
      write_calibration(*impl_, *c, "recording_calibration_");
    } else {
      impl_->exec("DELETE FROM meta WHERE key LIKE 'recording_calibration_%'");
    }
  });
}

std::optional<Calibration> ClassLibrary::batch_calibration() const {
  return read_calibration(*impl_, "batch_calibration_");
}

void ClassLibrary::set_batch_calibration(const std::optional<Calibration>& c) {
  impl_->transaction([&] {
    if (c) {
      if (!c->domain_centred || !c->normalised || c->cohort != "domain")
        throw Error("a batch calibration is on scores centred on the batch and normalised against its own windows "
                    "(domain_centred, normalised, cohort domain)");
      write_calibration(*impl_, *c, "batch_calibration_");
    } else {
      impl_->exec("DELETE FROM meta WHERE key LIKE 'batch_calibration_%'");
    }
  });
}

std::string ClassLibrary::planning_state() const {
  std::string state;
  impl_->read([&] {
    for (const auto& [key, value] : impl_->meta()) state += key + '=' + value + '\n';
    if (has_table(*impl_, "domain"))
      for (const Row& r : impl_->query("SELECT files, windows, sources, added, length(embedding) FROM domain"))
        state += "domain=" + r.text(0) + ',' + r.text(1) + ',' + r.text(2) + ',' + r.text(3) + ',' + r.text(4) + '\n';
    for (const char* table : {"cohort", "domain_cohort"})
      if (has_table(*impl_, table))
        state += std::string(table) + '=' + impl_->query(std::string("SELECT count(*) FROM ") + table).front().text(0) +
                 '\n';
  });
  return state;
}

LibrarySettings ClassLibrary::settings() const {
  const auto m = impl_->meta();
  LibrarySettings s;
  if (m.count("score_norm")) s.score_norm = m.at("score_norm");
  const double top_k = parse_double(*impl_, m, "cohort_top_k", static_cast<double>(s.cohort_top_k));
  const double views = parse_double(*impl_, m, "enrol_views", static_cast<double>(s.enrol_views));
  check_meta_range(*impl_, m, "cohort_top_k", whole_in(top_k, 1, kMaxCohortTopK),
                   "a whole number in [1, " + format_double(kMaxCohortTopK) + "]");
  check_meta_range(*impl_, m, "enrol_views", whole_in(views, 1, kMaxEnrolViews),
                   "a whole number in [1, " + format_double(kMaxEnrolViews) + "]");
  s.cohort_top_k = static_cast<std::int64_t>(top_k);
  s.enrol_views = static_cast<std::int64_t>(views);
  if (s.score_norm != "as-norm" && s.score_norm != "none")
    throw file_error(impl_->path, "class library's score_norm \"" + s.score_norm +
                                      "\" (table meta) is not as-norm or none: the library is damaged; " +
                                      reembed_hint(*impl_) + " and writes its model and settings again");
  return s;
}

void ClassLibrary::set_settings(const LibrarySettings& s) {
  if (s.score_norm != "as-norm" && s.score_norm != "none")
    throw Error("score normalisation must be as-norm or none, got \"" + s.score_norm + "\"");
  // The bounds settings() reads them back with: nothing is stored that would read as damage.
  if (s.cohort_top_k < 1 || s.cohort_top_k > kMaxCohortTopK)
    throw Error("cohort top-K must be in [1, " + format_double(kMaxCohortTopK) + "], got " + std::to_string(s.cohort_top_k));
  if (s.enrol_views < 1 || s.enrol_views > kMaxEnrolViews)
    throw Error("enrolment views must be in [1, " + format_double(kMaxEnrolViews) + "], got " + std::to_string(s.enrol_views));
  impl_->transaction([&] {
    impl_->set_meta("score_norm", s.score_norm);
    impl_->set_meta("cohort_top_k", std::to_string(s.cohort_top_k));
    impl_->set_meta("enrol_views", std::to_string(s.enrol_views));
  });
}

std::vector<CohortMember> ClassLibrary::cohort() const {
  std::vector<CohortMember> out;
  impl_->read([&] {
    if (!has_table(*impl_, "cohort")) return;
    const std::int64_t dim = model().embedding_dim;
    for (const Row& r : impl_->query("SELECT source, class_name, embedding FROM cohort ORDER BY id")) {
      CohortMember c;
      c.source = r.text(0);
      c.class_name = r.text(1);
      c.embedding = stored_embedding(*impl_, r, 2, "cohort member " + c.source, "cohort", dim);
      out.push_back(std::move(c));
    }
  });
  return out;
}

void ClassLibrary::set_cohort(const std::vector<CohortMember>& cohort) {
  impl_->transaction([&] {
    const std::int64_t dim = model().embedding_dim;
    for (const auto& c : cohort) {
      LibraryExample e;
      e.source = "cohort member " + c.source;
      e.embedding = c.embedding;
      check_embedding(*impl_, e, dim);
    }
    upgrade_schema(*impl_);
    impl_->exec("DELETE FROM cohort");
    for (const auto& c : cohort)
      impl_->exec("INSERT INTO cohort(source, class_name, embedding) VALUES(?, ?, ?)",
                  {c.source, c.class_name, c.embedding});
  });
}

std::optional<DomainCentre> ClassLibrary::domain() const {
  std::optional<DomainCentre> out;
  impl_->read([&] {
    if (!has_table(*impl_, "domain")) return;
    const auto rows = impl_->query("SELECT embedding, files, windows, sources, added FROM domain");
    if (rows.empty()) return;
    if (rows.size() > 1)
      throw file_error(impl_->path, "class library: the domain table holds " + std::to_string(rows.size()) +
                                        " rows, not one: the library is damaged; `enroll --domain` sets it again");
    const Row& r = rows.front();
    DomainCentre d;
    d.mean = stored_embedding(*impl_, r, 0, "the domain's mean", "domain", model().embedding_dim);
    auto count = [&](std::size_t col, const char* what) {
      const std::int64_t v = r.i64(col);
      if (!r.number(col) || v < 1)
        throw file_error(impl_->path, std::string("class library: the domain's ") + what + " count \"" + r.text(col) +
                                          "\" is not a positive whole number: the library is damaged; `enroll "
                                          "--domain` sets it again");
      return v;
    };
    d.files = count(1, "files");
    d.windows = count(2, "windows");
    d.sources = r.text(3);
    d.added = r.text(4);
    if (has_table(*impl_, "domain_cohort"))
      for (const Row& w : impl_->query("SELECT id, embedding FROM domain_cohort ORDER BY id"))
        d.cohort.push_back(stored_embedding(*impl_, w, 1, "the domain's cohort window " + w.text(0), "domain_cohort",
                                            model().embedding_dim));
    out = std::move(d);
  });
  return out;
}

void ClassLibrary::set_domain(const std::optional<DomainCentre>& domain) {
  impl_->transaction([&] {
    if (has_table(*impl_, "domain_cohort")) impl_->exec("DELETE FROM domain_cohort");
    if (!domain) {
      if (has_table(*impl_, "domain")) impl_->exec("DELETE FROM domain");
      return;
    }
    LibraryExample e;
    e.source = "the domain's mean";
    e.embedding = domain->mean;
    check_embedding(*impl_, e, model().embedding_dim);
    for (const auto& w : domain->cohort) {
      e.source = "a window of the domain's cohort";
      e.embedding = w;
      check_embedding(*impl_, e, model().embedding_dim);
    }
    if (domain->files < 1 || domain->windows < 1) throw Error("a domain needs at least one file and one window");
    if (!has_table(*impl_, "domain"))
      impl_->exec(
          "CREATE TABLE domain(id INTEGER PRIMARY KEY CHECK (id = 1), embedding BLOB NOT NULL, files INTEGER NOT "
          "NULL, windows INTEGER NOT NULL, sources TEXT NOT NULL, added TEXT NOT NULL)");
    impl_->exec("DELETE FROM domain");
    impl_->exec("INSERT INTO domain(id, embedding, files, windows, sources, added) VALUES(1, ?, ?, ?, ?, ?)",
                {domain->mean, domain->files, domain->windows, domain->sources,
                 domain->added.empty() ? utc_now_iso8601() : domain->added});
    if (!domain->cohort.empty()) {
      if (!has_table(*impl_, "domain_cohort"))
        impl_->exec("CREATE TABLE domain_cohort(id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)");
      for (const auto& w : domain->cohort) impl_->exec("INSERT INTO domain_cohort(embedding) VALUES(?)", {w});
    }
    // Never lowered: a version-4 library without a domain now stays 4 (it may
    // hold an empty domain_cohort table, which version 3 would not expect).
    const auto m = impl_->meta();
    const bool four = !domain->cohort.empty() || (m.count("schema_version") && m.at("schema_version") == "4");
    impl_->set_meta("schema_version", four ? "4" : "3");
  });
}

std::vector<LibraryClass> ClassLibrary::classes() const {
  std::vector<LibraryClass> out;
  for (const Row& r : impl_->query(
           "SELECT c.id, c.name, c.negative, c.threshold, c.threshold_source, c.added, COUNT(e.id), "
           "COUNT(DISTINCT e.source) FROM classes c LEFT JOIN examples e ON e.class_id = c.id GROUP BY c.id "
           "ORDER BY c.negative, c.name")) {
    LibraryClass c;
    c.id = r.i64(0);
    c.name = r.text(1);
    c.negative = r.i64(2) != 0;
    if (!r.null(3)) {
      if (!r.number(3) || !std::isfinite(r.f64(3)))
        throw file_error(impl_->path, "class \"" + c.name + "\": its threshold \"" + r.text(3) +
                                          "\" (table classes, column threshold) is not a finite number: the library is "
                                          "damaged (`enroll --threshold` sets it again)");
      c.threshold = r.f64(3);
    }
    c.threshold_source = r.text(4);
    c.added = r.text(5);
    c.examples = r.i64(6);
    c.sources = r.i64(7);
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

// The examples (of `class_name`, or all), each checked; their embeddings read
// and checked against `dim` when given, left out (never read) otherwise.
std::vector<LibraryExample> read_examples(const ClassLibrary::Impl& impl, const std::string& class_name,
                                          std::optional<std::int64_t> dim) {
  const std::string sql =
      "SELECT e.id, c.name, c.negative, e.source, e.segment_start, e.segment_end, e.window_start, e.added" +
      std::string(dim ? ", e.embedding" : "") + " FROM examples e JOIN classes c ON c.id = e.class_id" +
      std::string(class_name.empty() ? "" : " WHERE c.name = ?") + " ORDER BY c.negative, c.name, e.id";
  std::vector<Value> params;
  if (!class_name.empty()) params.emplace_back(class_name);
  std::vector<LibraryExample> out;
  for (const Row& r : impl.query(sql, params)) {
    LibraryExample e;
    e.id = r.i64(0);
    e.class_name = r.text(1);
    e.negative = r.i64(2) != 0;
    e.source = r.text(3);
    for (const auto& [col, name] : {std::pair{4, "segment_start"}, std::pair{5, "segment_end"}, std::pair{6, "window_start"}})
      if ((col == 6 || !r.null(col)) && (!r.number(col) || !std::isfinite(r.f64(col))))
        throw file_error(impl.path, "example " + std::to_string(e.id) + " of class \"" + e.class_name + "\" (" +
                                        e.source + "): its " + name + " \"" + r.text(col) +
                                        "\" (table examples) is not a number: the library is damaged "
                                        "(`library --remove` the class and enrol it again)");
    if (!r.null(4)) e.segment_start = r.f64(4);
    if (!r.null(5)) e.segment_end = r.f64(5);
    e.window_start = r.f64(6);
    e.added = r.text(7);
    if (dim)
      e.embedding = stored_embedding(impl, r, 8,
                                     "example " + std::to_string(e.id) + " of class \"" + e.class_name + "\" (" +
                                         e.source + ")",
                                     "examples", *dim);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<LibraryExample> ClassLibrary::examples(const std::string& class_name) const {
  std::vector<LibraryExample> out;
  impl_->read([&] { out = read_examples(*impl_, class_name, model().embedding_dim); });
  return out;
}

std::vector<LibraryExample> ClassLibrary::example_sources() const {
  std::vector<LibraryExample> out;
  impl_->read([&] { out = read_examples(*impl_, {}, std::nullopt); });
  return out;
}

void ClassLibrary::add_examples(const std::string& class_name, bool negative,
                                const std::vector<LibraryExample>& examples) {
  check_class_name(class_name);
  const std::string now = utc_now_iso8601();
  impl_->transaction([&] {
    const std::int64_t dim = model().embedding_dim;
    for (const auto& e : examples) check_embedding(*impl_, e, dim);
    bool was_negative = false;
    std::optional<std::int64_t> id = impl_->class_id(class_name, &was_negative);
    if (id && was_negative != negative)
      throw file_error(impl_->path, "class \"" + class_name + "\" holds " +
                                        (was_negative ? "negative" : "positive") + " examples; cannot add " +
                                        (negative ? "negative" : "positive") + " ones to it");
    if (!id) {
      impl_->exec("INSERT INTO classes(name, negative, added) VALUES(?, ?, ?)",
                  {class_name, std::int64_t{negative ? 1 : 0}, now});
      id = sqlite3_last_insert_rowid(impl_->db);
    }
    for (const auto& e : examples) {
      impl_->exec(
          "INSERT INTO examples(class_id, source, segment_start, segment_end, window_start, embedding, added) "
          "VALUES(?, ?, ?, ?, ?, ?, ?)",
          {*id, e.source, e.segment_start ? Value{*e.segment_start} : Value{},
           e.segment_end ? Value{*e.segment_end} : Value{}, e.window_start, e.embedding, now});
    }
  });
}

std::size_t positive_classes(const std::vector<LibraryClass>& classes) {
  return static_cast<std::size_t>(
      std::count_if(classes.begin(), classes.end(), [](const LibraryClass& c) { return !c.negative && c.examples > 0; }));
}

void ClassLibrary::remove_class(const std::string& class_name) {
  impl_->transaction([&] {
    if (!impl_->class_id(class_name)) throw file_error(impl_->path, "no class \"" + class_name + "\"");
    impl_->exec("DELETE FROM classes WHERE name = ?", {class_name});
    // The other classes' calibrated thresholds were shared out over the old
    // number of classes (and raised by its negatives): no longer this
    // library's. Scoring recomputes them; the next enrol stores them again.
    impl_->exec("UPDATE classes SET threshold = NULL, threshold_source = '' WHERE threshold_source != 'user'");
  });
}

void ClassLibrary::set_threshold(const std::string& class_name, std::optional<double> threshold,
                                 const std::string& source) {
  impl_->transaction([&] {
    if (!impl_->class_id(class_name)) throw file_error(impl_->path, "no class \"" + class_name + "\"");
    impl_->exec("UPDATE classes SET threshold = ?, threshold_source = ? WHERE name = ?",
                {threshold ? Value{*threshold} : Value{}, source, class_name});
  });
}

void ClassLibrary::replace_examples(const LibraryModel& model, const std::vector<LibraryExample>& examples) {
  for (const auto& e : examples) check_embedding(*impl_, e, model.embedding_dim);
  const std::string now = utc_now_iso8601();
  impl_->transaction([&] {
    upgrade_schema(*impl_);
    impl_->exec("DELETE FROM cohort");  // the old model's embeddings
    if (has_table(*impl_, "domain")) impl_->exec("DELETE FROM domain");
    if (has_table(*impl_, "domain_cohort")) impl_->exec("DELETE FROM domain_cohort");
    impl_->exec("DELETE FROM examples");
    for (const auto& e : examples) {
      const auto id = impl_->class_id(e.class_name);
      if (!id) throw file_error(impl_->path, "no class \"" + e.class_name + "\"");
      impl_->exec(
          "INSERT INTO examples(class_id, source, segment_start, segment_end, window_start, embedding, added) "
          "VALUES(?, ?, ?, ?, ?, ?, ?)",
          {*id, e.source, e.segment_start ? Value{*e.segment_start} : Value{},
           e.segment_end ? Value{*e.segment_end} : Value{}, e.window_start, e.embedding,
           e.added.empty() ? now : e.added});
    }
    impl_->set_meta("run", model.run);
    impl_->set_meta("fingerprint", model.fingerprint);
    impl_->set_meta("embedding_dim", std::to_string(model.embedding_dim));
    impl_->set_meta("window_s", format_double(model.window_s));
    impl_->set_meta("sample_rate", std::to_string(model.sample_rate));
    // The old calibration and thresholds belong to the old model.
    impl_->exec("DELETE FROM meta WHERE key LIKE 'calibration_%' OR key LIKE 'recording_calibration_%' OR key LIKE "
                "'batch_calibration_%'");
    impl_->exec("UPDATE classes SET threshold = NULL, threshold_source = '' WHERE threshold_source != 'user'");
  });
}

}  // namespace oneshot
