#include "archive/sqlite_archive.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <variant>
#include <vector>

#include <signal.h>

#include "core/atomic_file.h"  // write_error: a full disk in words
#include "core/error.h"
#include "core/number_text.h"
#include "core/store_location.h"
#include "data/half.h"
#include "enroll/library.h"  // utc_now_iso8601

namespace oneshot::archive {
namespace fs = std::filesystem;

namespace {

constexpr int kSchemaVersion = 1;
constexpr std::int64_t kArchiveApplicationId = 0x4F534152;  // "OSAR"
constexpr std::size_t kInsertBatch = 256;                   // windows read back from the spool at a time
constexpr double kMaxEmbeddingDim = 16777216;
constexpr double kMaxWindowSeconds = 600;
constexpr double kMaxSampleRate = 768000;
constexpr float kMaxHalfValue = 65504.0f;

std::function<void()>& statement_hook() {
  static std::function<void()> hook;
  return hook;
}

// ONESHOT_TEST_ARCHIVE_FAULT=N[:kill]: the N-th writing statement of this process fails (or kills it).
void injected_fault() {
  if (statement_hook()) statement_hook()();
  long n = 0;
  bool kill = false;
  if (const char* v = std::getenv("ONESHOT_TEST_ARCHIVE_FAULT"); v && *v) {
    char* end = nullptr;
    n = std::strtol(v, &end, 10);
    kill = end && std::strcmp(end, ":kill") == 0;
  }
  static long count = 0;
  if (n <= 0) return;
  if (++count != n) return;
  if (kill) ::raise(SIGKILL);
  throw Error("injected archive fault at writing statement " + std::to_string(count) + " (ONESHOT_TEST_ARCHIVE_FAULT)");
}

using Value = std::variant<std::monostate, std::int64_t, double, std::string>;

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::function<void(const std::string&)>& fail) : fail_(fail) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK)
    {
      std::string what = "cannot run \"";
      what += sql.substr(0, 60);
      what += '"';
      fail_(what);
    }
    sql_ = sql;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int idx, const Value& p) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::monostate>(p)) rc = sqlite3_bind_null(stmt_, idx);
    else if (auto* v = std::get_if<std::int64_t>(&p)) rc = sqlite3_bind_int64(stmt_, idx, *v);
    else if (auto* d = std::get_if<double>(&p)) rc = sqlite3_bind_double(stmt_, idx, *d);
    else if (auto* s = std::get_if<std::string>(&p))
      rc = sqlite3_bind_text(stmt_, idx, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail_("cannot bind a value");
  }
  void bind_blob(int idx, const void* data, std::size_t bytes) {
    if (sqlite3_bind_blob(stmt_, idx, data, static_cast<int>(bytes), SQLITE_TRANSIENT) != SQLITE_OK)
      fail_("cannot bind a value");
  }
  // One step: true for a row, false when done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) {
      // Appended piece by piece: GCC 12's -Wrestrict misreads `"\"" + substr` as an overlapping copy.
      std::string what = "\"";
      what += sql_.substr(0, 60);
      what += "\" failed";
      fail_(what);
    }
    return false;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
  std::function<void(const std::string&)> fail_;
};

int column_type(sqlite3_stmt* s, int c) { return sqlite3_column_type(s, c); }
std::string column_text(sqlite3_stmt* s, int c) {
  if (column_type(s, c) == SQLITE_BLOB) return "(a blob)";
  const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
  return std::string(t ? t : "", static_cast<std::size_t>(sqlite3_column_bytes(s, c)));
}
bool column_number(sqlite3_stmt* s, int c) {
  return column_type(s, c) == SQLITE_INTEGER || column_type(s, c) == SQLITE_FLOAT;
}

// A window's spooled form: start then embedding_dim floats.
class Spool {
 public:
  Spool() : file_(std::tmpfile()) {
    if (!file_) throw Error(std::string("cannot create a temporary file to hold a recording's windows: ") +
                            std::strerror(errno) + " (set TMPDIR to a writable directory)");
  }
  ~Spool() {
    if (file_) std::fclose(file_);
  }
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  void write(const void* data, std::size_t bytes) {
    if (std::fwrite(data, 1, bytes, file_) != bytes)
      throw write_error("(a temporary file of the recording's windows)", errno);
  }
  void rewind() {
    if (std::fflush(file_) != 0) throw write_error("(a temporary file of the recording's windows)", errno);
    std::rewind(file_);
  }
  void read(void* data, std::size_t bytes) {
    if (std::fread(data, 1, bytes, file_) != bytes)
      throw Error("cannot read back a temporary file of the recording's windows");
  }

 private:
  std::FILE* file_;
};

class SqliteArchive;

class SqliteFileWriter final : public FileWriter {
 public:
  SqliteFileWriter(SqliteArchive& archive, FileRecord file, std::int64_t dim, bool half)
      : archive_(archive), file_(std::move(file)), dim_(dim), half_(half) {}
  void add(const double* starts_s, const float* embeddings, std::size_t n) override;
  FileRecord commit(double duration_s) override;

 private:
  SqliteArchive& archive_;
  FileRecord file_;
  std::int64_t dim_;
  bool half_;
  Spool spool_;
  std::int64_t count_ = 0;
  bool committed_ = false;
};

class SqliteArchive final : public ArchiveStore {
 public:
  fs::path path;
  std::string location_;
  sqlite3* db = nullptr;
  bool read_only = false;
  mutable int depth = 0;
  mutable bool writing = false;  // the outer transaction is a change (not a read)

  ~SqliteArchive() override {
    if (db) sqlite3_close(db);
  }

  [[noreturn]] void fail(const std::string& what) const {
    // Inside a transaction, a failure after which SQLite is back in autocommit
    // rolled the whole transaction back (an I/O error, a full disk): a
    // write_group's other recordings are gone too, which its caller must know.
    // A full disk ends the group even where SQLite kept it: no later recording
    // and not the group's commit would find room (and the outer catch rolls
    // it back).
    const bool full = db && (sqlite3_errcode(db) & 0xff) == SQLITE_FULL;
    const bool group_lost = db && depth > 0 && (full || sqlite3_get_autocommit(db) != 0);
    const Error e = full ? write_error(path, ENOSPC)
                         : file_error(path, "sound archive: " + what + ": " + (db ? sqlite3_errmsg(db) : "cannot open"));
    if (group_lost) throw GroupLost(e.what());
    throw e;
  }
  std::function<void(const std::string&)> failer() const {
    return [this](const std::string& what) { fail(what); };
  }
  [[noreturn]] void damaged(const std::string& what) const {
    throw file_error(path, "sound archive: " + what +
                               ": the archive is damaged; restore it from a copy, or index the recordings again "
                               "into a new archive (`oneshot-audio index --run RUN --archive NEW FILE|DIR...`)");
  }
  // A damaged window: `index --update` embeds its recording again.
  [[noreturn]] void damaged_window(const std::string& what) const {
    throw DamagedWindow(file_error(path, "sound archive: " + what +
                                             ": the archive is damaged; `oneshot-audio index --update --run RUN "
                                             "--archive " + path.string() +
                                             "` embeds its damaged recordings again, or restore it from a copy")
                            .what(),
                        what);
  }

  // Runs a statement to its end; returns nothing. `writes`: counted for the fault injection.
  void exec(const std::string& sql, const std::vector<Value>& params = {}, bool writes = true) const {
    Statement s(db, sql, failer());
    for (std::size_t i = 0; i < params.size(); ++i) s.bind(static_cast<int>(i + 1), params[i]);
    while (s.step()) {
    }
    if (writes) injected_fault();
  }

  void transaction(const std::function<void()>& body) const {
    if (read_only) throw file_error(path, "sound archive opened read-only cannot be changed (a command that only reads it)");
    if (depth > 0) {
      // Inside a write_group: a savepoint, so that a failure undoes this part alone.
      if (!writing) throw file_error(path, "sound archive: a change inside a read (a bug)");
      const std::string name = "s" + std::to_string(depth);
      exec("SAVEPOINT " + name, {}, false);
      ++depth;
      try {
        body();
      } catch (...) {
        --depth;
        // After a GroupLost there is no savepoint left to roll back to.
        if (!sqlite3_get_autocommit(db))
          sqlite3_exec(db, ("ROLLBACK TO " + name + "; RELEASE " + name).c_str(), nullptr, nullptr, nullptr);
        throw;
      }
      --depth;
      exec("RELEASE " + name, {}, false);
      return;
    }
    exec("BEGIN IMMEDIATE", {}, false);
    writing = true;
    depth = 1;
    try {
      body();
      exec("COMMIT", {}, false);
    } catch (...) {
      depth = 0;
      writing = false;
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    depth = 0;
    writing = false;
  }

  void write_group(const std::function<void()>& body) override { transaction(body); }

  void read(const std::function<void()>& body) const {
    if (depth > 0) {
      body();
      return;
    }
    exec("BEGIN", {}, false);
    depth = 1;
    try {
      exec("SELECT COUNT(*) FROM sqlite_master", {}, false);
      body();
      exec("COMMIT", {}, false);
    } catch (...) {
      depth = 0;
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    depth = 0;
  }

  std::map<std::string, std::string> meta() const {
    std::map<std::string, std::string> m;
    Statement s(db, "SELECT key, value FROM meta", failer());
    while (s.step()) m[column_text(s.get(), 0)] = column_text(s.get(), 1);
    return m;
  }
  void set_meta(const std::string& key, const std::string& value) const {
    exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
         {key, value});
  }

  // A model number from meta, strictly, within [lo, hi] (whole when `whole`).
  double meta_number(const std::map<std::string, std::string>& m, const std::string& key, double lo, double hi,
                     bool whole) const {
    const auto it = m.find(key);
    if (it == m.end()) damaged("it has no " + key + " (table meta)");
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi || (whole && v != std::floor(v)))
      damaged("its " + key + " \"" + it->second + "\" (table meta) is not " + (whole ? "a whole number" : "a number") +
              " in [" + short_number(lo) + ", " + short_number(hi) + "]");
    return v;
  }

  const std::string& location() const override { return location_; }

  ArchiveModel model() const override {
    const auto m = meta();
    ArchiveModel model;
    model.run = m.count("run") ? m.at("run") : "";
    model.fingerprint = m.count("fingerprint") ? m.at("fingerprint") : "";
    model.embedding_dim = static_cast<std::int64_t>(meta_number(m, "embedding_dim", 1, kMaxEmbeddingDim, true));
    model.window_s = meta_number(m, "window_s", 1e-6, kMaxWindowSeconds, false);
    model.hop_s = meta_number(m, "hop_s", 1e-6, 86400, false);
    model.sample_rate = static_cast<int>(meta_number(m, "sample_rate", 1, kMaxSampleRate, true));
    const std::string precision = m.count("precision") ? m.at("precision") : "";
    if (precision != "float32" && precision != "float16")
      damaged("its precision \"" + precision + "\" (table meta) is not float32 or float16");
    model.half = precision == "float16";
    model.windows = m.count("windows") ? m.at("windows") : "";
    if (!model.windows.empty() && model.windows != "per-window" && model.windows != "shared")
      damaged("its windows \"" + model.windows + "\" (table meta) are not per-window or shared");
    if (model.fingerprint.empty()) damaged("it records no fingerprint (table meta)");
    model.id = m.count("archive_id") ? m.at("archive_id") : "";
    return model;
  }

  FileRecord file_row(sqlite3_stmt* s) const {
    FileRecord f;
    f.id = sqlite3_column_int64(s, 0);
    f.path = column_text(s, 1);
    for (int c : {2, 3, 5, 6})
      if (!column_number(s, c))
        damaged("file " + std::to_string(f.id) + " (" + f.path + "): its " + sqlite3_column_name(s, c) + " \"" +
                column_text(s, c) + "\" (table files) is not a number");
    f.size = sqlite3_column_int64(s, 2);
    f.mtime_ns = sqlite3_column_int64(s, 3);
    f.head_hash = column_text(s, 4);
    f.duration_s = sqlite3_column_double(s, 5);
    f.windows = sqlite3_column_int64(s, 6);
    f.indexed = column_text(s, 7);
    if (!std::isfinite(f.duration_s) || f.duration_s < 0 || f.size < 0 || f.windows < 0)
      damaged("file " + std::to_string(f.id) + " (" + f.path + ") has a negative or non-finite size, duration or "
              "window count (table files)");
    if (f.path.empty()) damaged("file " + std::to_string(f.id) + " has an empty path (table files)");
    return f;
  }
  static constexpr const char* kFileColumns =
      "SELECT id, path, size, mtime_ns, head_hash, duration_s, windows, indexed FROM files";

  std::vector<FileRecord> files() const override {
    std::vector<FileRecord> out;
    read([&] {
      Statement s(db, std::string(kFileColumns) + " ORDER BY path", failer());
      while (s.step()) out.push_back(file_row(s.get()));
    });
    return out;
  }

  std::optional<FileRecord> file(const std::string& p) const override {
    std::optional<FileRecord> out;
    read([&] {
      Statement s(db, std::string(kFileColumns) + " WHERE path = ?", failer());
      s.bind(1, p);
      if (s.step()) out = file_row(s.get());
    });
    return out;
  }

  std::int64_t window_count() const override {
    std::int64_t n = 0;
    read([&] {
      Statement s(db, "SELECT COUNT(*) FROM windows", failer());
      if (s.step()) n = sqlite3_column_int64(s.get(), 0);
    });
    return n;
  }

  std::unique_ptr<FileWriter> begin_file(const FileRecord& file) override {
    if (read_only) throw file_error(path, "sound archive opened read-only cannot be changed (a command that only reads it)");
    const ArchiveModel m = model();
    return std::make_unique<SqliteFileWriter>(*this, file, m.embedding_dim, m.half);
  }

  void remove_files(const std::vector<std::string>& paths) override {
    transaction([&] {
      for (const auto& p : paths) exec("DELETE FROM files WHERE path = ?", {p});
    });
  }

  // The embedding in column `col` of a windows row, checked, as float32 appended to `out`.
  void read_embedding(sqlite3_stmt* s, int col, std::int64_t id, std::int64_t dim, bool half,
                      std::vector<float>& out) const {
    auto what = [&] { return "the embedding of window " + std::to_string(id) + " (table windows, column embedding)"; };
    if (column_type(s, col) != SQLITE_BLOB) {
      if (column_type(s, col) == SQLITE_NULL) damaged_window(what() + " is missing (NULL)");
      damaged_window(what() + " holds " + (column_number(s, col) ? "a number" : "text") + ", not an embedding blob");
    }
    const auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(s, col));
    const std::size_t value_bytes = half ? 2 : 4;
    const std::size_t expected = static_cast<std::size_t>(dim) * value_bytes;
    const auto* blob = static_cast<const unsigned char*>(sqlite3_column_blob(s, col));
    if (const std::string why = embedding_blob_problem(blob, bytes, expected,
                                                       std::to_string(dim) + " values of " +
                                                           (half ? "float16" : "float32"));
        !why.empty())
      damaged_window(what() + " " + why);
    const std::size_t at = out.size();
    out.resize(at + static_cast<std::size_t>(dim));
    float* dst = out.data() + at;
    if (half) {
      for (std::int64_t i = 0; i < dim; ++i) {
        std::uint16_t h;
        std::memcpy(&h, blob + 2 * i, 2);
        dst[i] = half_to_float(h);
      }
    } else {
      std::memcpy(dst, blob, expected);
    }
    for (std::int64_t i = 0; i < dim; ++i)
      if (!std::isfinite(dst[i]) || std::fabs(dst[i]) > kMaxArchiveEmbeddingValue)
        damaged_window(what() + " holds " + short_number(dst[i]) + " at value " + std::to_string(i + 1) +
                (std::isfinite(dst[i]) ? " (beyond +-1e+09: no trained model's output)" : ""));
  }

  double read_start(sqlite3_stmt* s, int col, std::int64_t id) const {
    if (!column_number(s, col) || !valid_window_start(sqlite3_column_double(s, col)))
      damaged_window("window " + std::to_string(id) + ": its start_s \"" + column_text(s, col) +
              "\" (table windows) is not a number of seconds in [0, 1e9]");
    return sqlite3_column_double(s, col);
  }

  void scan(std::size_t block, const std::function<void(const WindowBlock&)>& on_block) const override {
    if (block == 0) block = 1;
    read([&] {
      const ArchiveModel m = model();
      Statement s(db, "SELECT id, file_id, start_s, embedding FROM windows ORDER BY id", failer());
      WindowBlock b;
      auto flush = [&] {
        if (b.count() == 0) return;
        on_block(b);
        b.ids.clear();
        b.file_ids.clear();
        b.starts_s.clear();
        b.embeddings.clear();
      };
      while (s.step()) {
        const std::int64_t id = sqlite3_column_int64(s.get(), 0);
        b.ids.push_back(id);
        b.file_ids.push_back(sqlite3_column_int64(s.get(), 1));
        b.starts_s.push_back(read_start(s.get(), 2, id));
        read_embedding(s.get(), 3, id, m.embedding_dim, m.half, b.embeddings);
        if (b.count() == block) flush();
      }
      flush();
    });
  }

  std::map<std::int64_t, std::string> damaged_files() const override {
    std::map<std::int64_t, std::string> damaged;
    read([&] {
      const ArchiveModel m = model();
      Statement s(db, "SELECT id, file_id, start_s, embedding FROM windows ORDER BY id", failer());
      std::vector<float> scratch;
      while (s.step()) {
        const std::int64_t id = sqlite3_column_int64(s.get(), 0);
        const std::int64_t file_id = sqlite3_column_int64(s.get(), 1);
        if (damaged.count(file_id)) continue;
        try {
          read_start(s.get(), 2, id);
          scratch.clear();
          read_embedding(s.get(), 3, id, m.embedding_dim, m.half, scratch);
        } catch (const DamagedWindow& e) {
          damaged.emplace(file_id, e.problem);
        }
      }
      // A window deleted (another program; foreign keys off) leaves its recording short.
      Statement c(db, "SELECT f.id, f.windows, (SELECT COUNT(*) FROM windows w WHERE w.file_id = f.id) FROM files f",
                  failer());
      while (c.step()) {
        const std::int64_t file_id = sqlite3_column_int64(c.get(), 0), recorded = sqlite3_column_int64(c.get(), 1),
                           held = sqlite3_column_int64(c.get(), 2);
        if (held != recorded && !damaged.count(file_id))
          damaged.emplace(file_id, "it holds " + std::to_string(held) + " windows, its record (table files) says " +
                                       std::to_string(recorded));
      }
    });
    return damaged;
  }

  std::vector<std::int64_t> window_ids() const override {
    std::vector<std::int64_t> ids;
    read([&] {
      // The file_id index holds every rowid: reading it skips the embeddings (a tenth of the pages).
      Statement s(db, "SELECT id FROM windows INDEXED BY windows_file", failer());
      while (s.step()) ids.push_back(sqlite3_column_int64(s.get(), 0));
    });
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  std::vector<StoredWindow> windows(const std::vector<std::int64_t>& ids) const override {
    std::vector<StoredWindow> out;
    read([&] {
      const ArchiveModel m = model();
      Statement s(db,
                  "SELECT w.id, w.file_id, f.path, w.start_s, w.embedding FROM windows w JOIN files f ON f.id = "
                  "w.file_id WHERE w.id = ?",
                  failer());
      for (std::int64_t id : ids) {
        s.reset();
        s.bind(1, id);
        if (!s.step()) throw file_error(path, "sound archive has no window " + std::to_string(id));
        StoredWindow w;
        w.id = id;
        w.file_id = sqlite3_column_int64(s.get(), 1);
        w.file = column_text(s.get(), 2);
        if (w.file.empty()) damaged("file " + std::to_string(w.file_id) + " has an empty path (table files)");
        w.start_s = read_start(s.get(), 3, id);
        read_embedding(s.get(), 4, id, m.embedding_dim, m.half, w.embedding);
        out.push_back(std::move(w));
        while (s.step()) {
        }
      }
    });
    return out;
  }

  void add_reviews(const std::vector<Review>& reviews) override {
    const std::string now = utc_now_iso8601();
    transaction([&] {
      for (const Review& r : reviews) {
        if (r.verdict != "yes" && r.verdict != "no" && r.verdict != "skip")
          throw file_error(path, "verdict \"" + r.verdict + "\" on window " + std::to_string(r.window_id) +
                                     " is not yes, no or skip");
        if (r.class_name.empty())
          throw file_error(path, "a verdict on window " + std::to_string(r.window_id) + " names no class");
        Statement s(db, "SELECT 1 FROM windows WHERE id = ?", failer());
        s.bind(1, r.window_id);
        if (!s.step())
          throw file_error(path, "sound archive has no window " + std::to_string(r.window_id) +
                                     " (dropped by `index --update`, or from another archive)");
        exec("INSERT INTO reviews(window_id, class, verdict, added) VALUES(?, ?, ?, ?) ON CONFLICT(window_id, "
             "class) DO UPDATE SET verdict = excluded.verdict, added = excluded.added",
             {r.window_id, r.class_name, r.verdict, now});
      }
    });
  }

  std::vector<Review> reviews(const std::string& class_name) const override {
    std::vector<Review> out;
    read([&] {
      Statement s(db,
                  "SELECT window_id, class, verdict, added FROM reviews" +
                      std::string(class_name.empty() ? "" : " WHERE class = ?") + " ORDER BY window_id, class",
                  failer());
      if (!class_name.empty()) s.bind(1, class_name);
      while (s.step()) {
        Review r;
        r.window_id = sqlite3_column_int64(s.get(), 0);
        r.class_name = column_text(s.get(), 1);
        r.verdict = column_text(s.get(), 2);
        r.added = column_text(s.get(), 3);
        if (r.verdict != "yes" && r.verdict != "no" && r.verdict != "skip")
          damaged("the verdict on window " + std::to_string(r.window_id) + " for class \"" + r.class_name + "\" is \"" +
                  r.verdict + "\", not yes, no or skip (table reviews)");
        out.push_back(std::move(r));
      }
    });
    return out;
  }
};

void SqliteFileWriter::add(const double* starts_s, const float* embeddings, std::size_t n) {
  if (committed_) throw Error("internal: FileWriter::add after commit");
  const std::size_t dim = static_cast<std::size_t>(dim_);
  const bool half = half_;
  for (std::size_t w = 0; w < n; ++w) {
    const double start = starts_s[w];
    if (!valid_window_start(start))
      throw file_error(archive_.path, "window start " + short_number(start) + " s of " + file_.path +
                                          " is not a number of seconds in [0, 1e9]");
    const float* e = embeddings + w * dim;
    for (std::size_t i = 0; i < dim; ++i) {
      if (!std::isfinite(e[i]))
        throw file_error(archive_.path, "the embedding of " + file_.path + " at " + short_number(start) +
                                            " s is not finite (value " + std::to_string(i + 1) + ")");
      const float limit = half ? kMaxHalfValue : kMaxArchiveEmbeddingValue;
      if (std::fabs(e[i]) > limit)
        throw file_error(archive_.path, "the embedding of " + file_.path + " at " + short_number(start) + " s holds " +
                                            short_number(e[i]) + ", beyond +-" + short_number(limit) +
                                            (half ? " (float16's range: index without --half)" : ""));
    }
    spool_.write(&start, sizeof start);
    spool_.write(e, dim * sizeof(float));
    ++count_;
  }
}

FileRecord SqliteFileWriter::commit(double duration_s) {
  if (committed_) throw Error("internal: FileWriter::commit twice");
  if (!std::isfinite(duration_s) || duration_s < 0)
    throw file_error(archive_.path, "duration " + short_number(duration_s) + " s of " + file_.path + " is not a number >= 0");
  const std::size_t dim = static_cast<std::size_t>(dim_);
  spool_.rewind();
  FileRecord out = file_;
  out.duration_s = duration_s;
  out.windows = count_;
  out.indexed = utc_now_iso8601();
  archive_.transaction([&] {
    const bool half = half_;
    // The path's earlier record (a changed file), its windows and reviews go with it (ON DELETE CASCADE).
    // When only its modification time changed (the same size and hash of its first MiB: touched, copied
    // back), its reviews are carried over to the new windows of the same starts, so that the reviewed
    // windows stay out of later searches.
    // (The temporary table is not the archive: its statements are not counted as the archive's writes
    // by the fault hook, and the reviews are inserted only when there are some.)
    archive_.exec("CREATE TEMP TABLE IF NOT EXISTS carried_reviews(start_s REAL, class TEXT, verdict TEXT, added TEXT)",
                  {}, false);
    archive_.exec("DELETE FROM carried_reviews", {}, false);
    archive_.exec(
        "INSERT INTO carried_reviews SELECT w.start_s, r.class, r.verdict, r.added FROM reviews r JOIN windows w ON "
        "w.id = r.window_id JOIN files f ON f.id = w.file_id WHERE f.path = ? AND f.size = ? AND f.head_hash = ?",
        {file_.path, file_.size, file_.head_hash}, false);
    const bool carried = sqlite3_changes(archive_.db) > 0;
    archive_.exec("DELETE FROM files WHERE path = ?", {file_.path});
    archive_.exec(
        "INSERT INTO files(path, size, mtime_ns, head_hash, duration_s, windows, indexed) VALUES(?, ?, ?, ?, ?, ?, ?)",
        {file_.path, file_.size, file_.mtime_ns, file_.head_hash, duration_s, count_, out.indexed});
    out.id = sqlite3_last_insert_rowid(archive_.db);
    Statement insert(archive_.db, "INSERT INTO windows(file_id, start_s, embedding) VALUES(?, ?, ?)", archive_.failer());
    std::vector<unsigned char> buffer(kInsertBatch * (sizeof(double) + dim * sizeof(float)));
    std::vector<unsigned char> sealed(dim * sizeof(float) + kEmbeddingChecksumBytes);  // values, then their checksum
    for (std::int64_t done = 0; done < count_;) {
      const auto n = static_cast<std::size_t>(std::min<std::int64_t>(kInsertBatch, count_ - done));
      const std::size_t row_bytes = sizeof(double) + dim * sizeof(float);
      spool_.read(buffer.data(), n * row_bytes);
      for (std::size_t w = 0; w < n; ++w) {
        const unsigned char* row = buffer.data() + w * row_bytes;
        double start;
        std::memcpy(&start, row, sizeof start);
        insert.reset();
        insert.bind(1, out.id);
        insert.bind(2, start);
        const std::size_t values = dim * (half ? 2 : sizeof(float));
        if (half) {
          for (std::size_t i = 0; i < dim; ++i) {
            float v;
            std::memcpy(&v, row + sizeof(double) + i * sizeof(float), sizeof v);
            const std::uint16_t h = float_to_half(v);
            std::memcpy(sealed.data() + 2 * i, &h, 2);
          }
        } else {
          std::memcpy(sealed.data(), row + sizeof(double), values);
        }
        seal_embedding(sealed.data(), values);
        insert.bind_blob(3, sealed.data(), values + kEmbeddingChecksumBytes);
        while (insert.step()) {
        }
        injected_fault();
      }
      done += static_cast<std::int64_t>(n);
    }
    if (carried)
      archive_.exec(
          "INSERT INTO reviews(window_id, class, verdict, added) SELECT w.id, c.class, c.verdict, c.added FROM "
          "carried_reviews c JOIN windows w ON w.file_id = ? AND abs(w.start_s - c.start_s) < 1e-6",
          {out.id});
  });
  committed_ = true;
  return out;
}

std::unique_ptr<SqliteArchive> connect(const fs::path& path, bool create, bool read_only) {
  auto a = std::make_unique<SqliteArchive>();
  a->path = path;
  a->location_ = path.string();
  a->read_only = read_only;
  std::error_code ec;
  if (!create) {
    if (!fs::exists(path, ec)) throw file_error(path, "no such file (a sound archive is made by `oneshot-audio index`)");
  }
  if (fs::is_directory(path, ec)) throw file_error(path, "is a directory, not a sound archive");
  auto open = [&](int flags) {
    if (a->db) sqlite3_close(a->db);
    a->db = nullptr;
    if (sqlite3_open_v2(sqlite_open_name(path.string()).c_str(), &a->db, flags, nullptr) != SQLITE_OK)
      a->fail("cannot open");
    sqlite3_busy_timeout(a->db, 120000);
    sqlite3_extended_result_codes(a->db, 1);
  };
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)) |
                    SQLITE_OPEN_NOMUTEX;
  open(flags);
  const char* pragmas = "PRAGMA foreign_keys = ON; SELECT COUNT(*) FROM sqlite_master;";
  char* err = nullptr;
  int rc = sqlite3_exec(a->db, pragmas, nullptr, nullptr, &err);
  if (read_only && (rc & 0xff) != SQLITE_OK && (rc & 0xff) != SQLITE_NOTADB) {
    // A hot journal left by a killed index: a read-write connection rolls it back first.
    sqlite3_free(err);
    err = nullptr;
    open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    sqlite3_exec(a->db, "SELECT COUNT(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    open(flags);
    rc = sqlite3_exec(a->db, pragmas, nullptr, nullptr, &err);
  }
  if (rc != SQLITE_OK) {
    const std::string why = err ? err : sqlite3_errmsg(a->db);
    sqlite3_free(err);
    if ((rc & 0xff) == SQLITE_FULL) throw write_error(path, ENOSPC);
    // A truncated or overwritten archive: damage, not another kind of file.
    if ((rc & 0xff) == SQLITE_CORRUPT)
      throw file_error(path, "sound archive is damaged (" + why +
                                 "): restore it from a copy, or index the recordings again into a new archive");
    throw file_error(path, "not a sound archive: " + why);
  }
  std::int64_t app = 0;
  {
    Statement s(a->db, "PRAGMA application_id", a->failer());
    if (s.step()) app = sqlite3_column_int64(s.get(), 0);
  }
  if (app == 0x4F534C42)  // enroll/library.cpp's "OSLB": this program's, but another kind of file
    throw file_error(path, "is a class library (made by `oneshot-audio enroll`, read by classify and detect), not a "
                           "sound archive (made by `oneshot-audio index`)");
  if (app != 0 && app != kArchiveApplicationId) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "%08llx", static_cast<unsigned long long>(app) & 0xffffffffULL);
    throw file_error(path, std::string("is a SQLite database of another program (application_id 0x") + hex +
                               "), not a sound archive: it is left as it is");
  }
  std::string tables;
  bool has_meta = false;
  {
    Statement s(a->db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", a->failer());
    while (s.step()) {
      const std::string name = column_text(s.get(), 0);
      if (name == "sqlite_sequence") continue;
      if (!tables.empty()) tables += ", ";
      tables += name;
      has_meta = has_meta || name == "meta";
    }
  }
  if (!tables.empty() && (!has_meta || app != kArchiveApplicationId))
    throw file_error(path, "is a SQLite database of another program (tables " + tables +
                               "), not a sound archive: it is left as it is");
  if (!read_only && sqlite3_exec(a->db, "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr) != SQLITE_OK)
    a->fail("cannot set the journal mode");
  return a;
}

void check_schema(const SqliteArchive& a) {
  const auto m = a.meta();
  const auto it = m.find("schema_version");
  if (it == m.end()) throw file_error(a.path, "not a sound archive (no schema_version in table meta)");
  char* end = nullptr;
  const long version = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || version < 1)
    throw file_error(a.path, "not a sound archive (schema_version \"" + it->second + "\")");
  if (version > kSchemaVersion)
    throw file_error(a.path, "sound archive schema " + it->second + " is newer than this program's (" +
                                 std::to_string(kSchemaVersion) + "): use a newer oneshot-audio");
  // Every table and column the reads use (a renamed column was a bare "no such column" from
  // whichever query met it first).
  static const std::pair<const char*, std::vector<const char*>> kTables[] = {
      {"files", {"id", "path", "size", "mtime_ns", "head_hash", "duration_s", "windows", "indexed"}},
      {"windows", {"id", "file_id", "start_s", "embedding"}},
      {"reviews", {"window_id", "class", "verdict", "added"}},
  };
  for (const auto& [table, columns] : kTables) {
    std::set<std::string> have;
    Statement s(a.db, "SELECT name FROM pragma_table_info(?)", a.failer());
    s.bind(1, std::string(table));
    while (s.step()) have.insert(column_text(s.get(), 0));
    if (have.empty()) a.damaged(std::string("it has no table ") + table);
    for (const char* c : columns)
      if (!have.count(c)) a.damaged(std::string("its table ") + table + " has no column " + c);
  }
  (void)a.model();  // every stored model number checked
}

}  // namespace

void set_archive_statement_hook(std::function<void()> hook) { statement_hook() = std::move(hook); }
void archive_statement_written() { injected_fault(); }

std::unique_ptr<ArchiveStore> open_sqlite_archive(const fs::path& path, bool read_only) {
  auto a = connect(path, false, read_only);
  {
    Statement s(a->db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", a->failer());
    if (s.step() && sqlite3_column_int64(s.get(), 0) == 0)
      throw file_error(path, "is an empty SQLite file, not a sound archive (one is made by `oneshot-audio index`)");
  }
  a->read([&] { check_schema(*a); });
  // A read-only file is named before a change (review wrote into a chmod 444 archive as root).
  if (!read_only) check_output_path(path, OutputRules{.streaming = false, .create_parents = false, .database = true});
  return a;
}

std::unique_ptr<ArchiveStore> open_or_create_sqlite_archive(const fs::path& path, const ArchiveModel& model,
                                                            std::optional<bool> half) {
  if (!path.parent_path().empty()) {
    std::error_code ec;
    if (!fs::is_directory(path.parent_path(), ec))
      throw file_error(path, "its directory " + path.parent_path().string() + " does not exist (make it first)");
  }
  auto a = connect(path, true, false);
  a->transaction([&] {
    Statement s(a->db, "SELECT COUNT(*) FROM sqlite_master", a->failer());
    const bool empty = s.step() && sqlite3_column_int64(s.get(), 0) == 0;
    if (!empty) return;
    if (!(model.hop_s > 0))
      throw file_error(path, "a new sound archive needs a hop (internal: index gives one)");
    a->exec("PRAGMA application_id = " + std::to_string(kArchiveApplicationId));
    a->exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    a->exec(
        "CREATE TABLE files(id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, head_hash TEXT NOT NULL, duration_s REAL NOT NULL, windows INTEGER NOT NULL, "
        "indexed TEXT NOT NULL)");
    a->exec(
        "CREATE TABLE windows(id INTEGER PRIMARY KEY AUTOINCREMENT, file_id INTEGER NOT NULL REFERENCES files(id) "
        "ON DELETE CASCADE, start_s REAL NOT NULL, embedding BLOB NOT NULL)");
    a->exec("CREATE INDEX windows_file ON windows(file_id)");
    a->exec(
        "CREATE TABLE reviews(window_id INTEGER NOT NULL REFERENCES windows(id) ON DELETE CASCADE, class TEXT NOT "
        "NULL, verdict TEXT NOT NULL, added TEXT NOT NULL, PRIMARY KEY(window_id, class))");
    a->set_meta("schema_version", std::to_string(kSchemaVersion));
    a->set_meta("created", utc_now_iso8601());
    a->set_meta("archive_id", new_archive_id());
    a->set_meta("run", model.run);
    a->set_meta("fingerprint", model.fingerprint);
    a->set_meta("embedding_dim", std::to_string(model.embedding_dim));
    a->set_meta("window_s", format_double(model.window_s));
    a->set_meta("hop_s", format_double(model.hop_s));
    a->set_meta("sample_rate", std::to_string(model.sample_rate));
    a->set_meta("precision", half.value_or(false) ? "float16" : "float32");
    if (!model.windows.empty()) a->set_meta("windows", model.windows);
  });
  a->read([&] { check_schema(*a); });
  const ArchiveModel stored = a->model();
  if (const std::string why = archive_mismatch(stored, model, half); !why.empty()) throw file_error(path, why);
  // An archive made before its identity was kept gets one now: an approximate index built before
  // then is refused (built again), since nothing tells which archive it was made from.
  if (stored.run != model.run || (stored.windows.empty() && !model.windows.empty()) || stored.id.empty())
    a->transaction([&] {
      a->set_meta("run", model.run);
      if (stored.windows.empty() && !model.windows.empty()) a->set_meta("windows", model.windows);
      if (stored.id.empty()) a->set_meta("archive_id", new_archive_id());
    });
  return a;
}

}  // namespace oneshot::archive
