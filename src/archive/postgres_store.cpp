#include "archive/postgres_store.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "archive/sqlite_archive.h"  // archive_statement_written: the shared fault injection
#include "core/atomic_file.h"        // write_error
#include "core/error.h"
#include "core/store_location.h"
#include "core/number_text.h"
#include "data/half.h"
#include "enroll/library.h"  // utc_now_iso8601

namespace oneshot::archive {
namespace {

constexpr int kSchemaVersion = 1;
constexpr const char* kKind = "oneshot-audio sound archive";
constexpr const char* kDefaultName = "sound_archive";
constexpr int kLockClass = 0x4F534152;        // "OSAR": advisory locks of archives (tune's are one bigint)
constexpr std::size_t kInsertBatch = 256;     // windows a statement
constexpr double kMaxEmbeddingDim = 16777216;
constexpr double kMaxWindowSeconds = 600;
constexpr double kMaxSampleRate = 768000;
constexpr float kMaxHalfValue = 65504.0f;
constexpr const char* kNow = "extract(epoch from clock_timestamp())::double precision";

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The URL split: libpq's URL (our parameters taken out) and the archive's name.
struct ArchiveUrl {
  std::string libpq, name = kDefaultName, shown;
};

ArchiveUrl parse_url(const std::string& url) {
  ArchiveUrl u;
  u.shown = redact_archive_url(url);
  const auto q = url.find('?');
  u.libpq = url.substr(0, q);
  if (q == std::string::npos) return u;
  std::string kept;
  std::size_t start = q + 1;
  while (start <= url.size()) {
    std::size_t end = url.find('&', start);
    if (end == std::string::npos) end = url.size();
    const std::string part = url.substr(start, end - start);
    if (part.rfind("archive=", 0) == 0) {
      u.name = part.substr(8);
    } else if (!part.empty()) {
      kept += kept.empty() ? '?' : '&';
      kept += part;
    }
    start = end + 1;
  }
  u.libpq += kept;
  bool ok = !u.name.empty() && u.name.size() <= 63 && !std::isdigit(static_cast<unsigned char>(u.name[0]));
  for (char c : u.name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!ok)
    throw Error(u.shown + ": archive=\"" + u.name + "\" is not an archive name (letters, digits and _, at most 63, "
                "not starting with a digit)");
  for (char& c : u.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return u;
}

double claim_timeout(const PostgresArchiveOptions& o) {
  if (o.claim_timeout_s > 0) return o.claim_timeout_s;
  if (const char* v = std::getenv("ONESHOT_ARCHIVE_CLAIM_TIMEOUT"); v && *v) {
    char* end = nullptr;
    const double t = std::strtod(v, &end);
    if (*end != '\0' || !std::isfinite(t) || t <= 0)
      throw Error(std::string("ONESHOT_ARCHIVE_CLAIM_TIMEOUT=\"") + v + "\" is not a number of seconds > 0");
    return t;
  }
  return kClaimTimeoutSeconds;
}

std::string default_worker() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "host");
  std::random_device rd;
  char tail[16];
  std::snprintf(tail, sizeof tail, "%08x", rd());
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + tail;
}

// A window's spooled form: start then embedding_dim floats (as the SQLite store).
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

class PostgresArchive;

class PostgresFileWriter final : public FileWriter {
 public:
  // `before_id`: the path's stored record when it was claimed (0: none).
  PostgresFileWriter(PostgresArchive& archive, FileRecord file, std::int64_t dim, bool half, std::int64_t before_id)
      : archive_(archive), file_(std::move(file)), dim_(dim), half_(half), before_id_(before_id) {}
  ~PostgresFileWriter() override;
  void add(const double* starts_s, const float* embeddings, std::size_t n) override;
  FileRecord commit(double duration_s) override;
  bool stored_by_another() const override { return by_another_; }

 private:
  PostgresArchive& archive_;
  FileRecord file_;
  std::int64_t dim_;
  bool half_;
  std::int64_t before_id_;
  Spool spool_;
  std::int64_t count_ = 0;
  bool done_ = false, by_another_ = false;
};

// Stamps every claim of one worker from its own thread and connection.
class Heartbeat {
 public:
  Heartbeat(const std::string& libpq, const std::string& table, const std::string& worker, double interval_s)
      : thread_([this, libpq, table, worker, interval_s] {
          std::unique_ptr<pqxx::connection> conn;
          // At most an hour: stamping early is harmless, and wait_for converts the
          // interval to integer nanoseconds (unchecked past about 3.7e10 s).
          const auto interval = std::chrono::duration<double>(std::min(interval_s, 3600.0));
          std::unique_lock lock(mutex_);
          while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
            try {
              if (!conn) conn = std::make_unique<pqxx::connection>(libpq);
              pqxx::nontransaction tx(*conn);
              tx.exec_params("UPDATE " + table + " SET heartbeat = " + kNow + " WHERE worker = $1", worker);
            } catch (const std::exception&) {
              conn.reset();  // a busy or briefly unreachable server: try again next beat
            }
          }
        }) {}
  ~Heartbeat() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

class PostgresArchive final : public ArchiveStore {
 public:
  ArchiveUrl url;
  std::string schema;  // quoted identifier
  std::unique_ptr<pqxx::connection> conn;
  bool read_only = false;
  double timeout_s = kClaimTimeoutSeconds;
  std::string worker;
  std::unique_ptr<Heartbeat> heartbeat;

  std::string t(const char* table) const { return schema + "." + table; }

  [[noreturn]] void fail(const std::string& what, const std::exception& e) const {
    const std::string why = trim(e.what());
    if (why.find("No space left on device") != std::string::npos || why.find("could not extend") != std::string::npos)
      throw write_error(url.shown, ENOSPC);
    throw Error(url.shown + ": sound archive \"" + url.name + "\": " + what + ": " + why);
  }
  [[noreturn]] void damaged(const std::string& what) const {
    throw Error(url.shown + ": sound archive \"" + url.name + "\": " + what +
                ": the archive is damaged; index the recordings again into a new archive "
                "(`oneshot-audio index --run RUN --archive postgresql://...?archive=NEW FILE|DIR...`)");
  }
  // A damaged window: `index --update` embeds its recording again.
  [[noreturn]] void damaged_window(const std::string& what) const {
    throw DamagedWindow(url.shown + ": sound archive \"" + url.name + "\": " + what +
                            ": the archive is damaged; `oneshot-audio index --update --run RUN --archive " + url.shown +
                            "` embeds its damaged recordings again",
                        what);
  }

  // Runs `body` in one transaction (committed when it returns); errors of the
  // server named. `write`: a read-write transaction (refused read-only).
  template <class Tx, class F>
  void in(const char* what, F&& body) const {
    try {
      Tx tx(*conn);
      body(tx);
      tx.commit();
    } catch (const Error&) {
      throw;
    } catch (const pqxx::broken_connection& e) {
      fail(std::string(what) + " (the connection to the server was lost)", e);
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }
  template <class F>
  void write(const char* what, F&& body) const {
    if (read_only)
      throw Error(url.shown + ": sound archive opened read-only cannot be changed (a command that only reads it)");
    in<pqxx::work>(what, std::forward<F>(body));
  }
  template <class F>
  void read(const char* what, F&& body) const {
    in<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>>(what, std::forward<F>(body));
  }
  void lock_path(pqxx::transaction_base& tx, const std::string& path) const {
    tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kLockClass, url.name + "\n" + path);
  }

  std::map<std::string, std::string> meta(pqxx::transaction_base& tx) const {
    std::map<std::string, std::string> m;
    for (const auto& row : tx.exec("SELECT key, value FROM " + t("meta"))) m[row[0].c_str()] = row[1].c_str();
    return m;
  }

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

  ArchiveModel model_of(const std::map<std::string, std::string>& m) const {
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

  mutable std::optional<ArchiveModel> model_cache;
  ArchiveModel model() const override {
    if (!model_cache) read("cannot read its model", [&](pqxx::transaction_base& tx) { model_cache = model_of(meta(tx)); });
    return *model_cache;
  }
  const std::string& location() const override { return url.shown; }

  static constexpr const char* kFileColumns = "id, path, size, mtime_ns, head_hash, duration_s, windows, indexed";
  FileRecord file_row(const pqxx::row& r) const {
    FileRecord f;
    f.id = r[0].as<std::int64_t>();
    f.path = r[1].c_str();
    f.size = r[2].as<std::int64_t>();
    f.mtime_ns = r[3].as<std::int64_t>();
    f.head_hash = r[4].c_str();
    f.duration_s = r[5].as<double>();
    f.windows = r[6].as<std::int64_t>();
    f.indexed = r[7].c_str();
    if (!std::isfinite(f.duration_s) || f.duration_s < 0 || f.size < 0 || f.windows < 0)
      damaged("file " + std::to_string(f.id) + " (" + f.path + ") has a negative or non-finite size, duration or "
              "window count (table files)");
    if (f.path.empty()) damaged("file " + std::to_string(f.id) + " has an empty path (table files)");
    return f;
  }

  std::vector<FileRecord> files() const override {
    std::vector<FileRecord> out;
    read("cannot list its recordings", [&](pqxx::transaction_base& tx) {
      for (const auto& r : tx.exec(std::string("SELECT ") + kFileColumns + " FROM " + t("files") + " ORDER BY path"))
        out.push_back(file_row(r));
    });
    return out;
  }
  std::optional<FileRecord> file(const std::string& p) const override {
    std::optional<FileRecord> out;
    read("cannot read a recording's record", [&](pqxx::transaction_base& tx) {
      const auto r = tx.exec_params(std::string("SELECT ") + kFileColumns + " FROM " + t("files") + " WHERE path = $1", p);
      if (!r.empty()) out = file_row(r[0]);
    });
    return out;
  }
  std::int64_t window_count() const override {
    std::int64_t n = 0;
    read("cannot count its windows",
         [&](pqxx::transaction_base& tx) { n = tx.exec("SELECT COUNT(*) FROM " + t("windows"))[0][0].template as<std::int64_t>(); });
    return n;
  }

  std::unique_ptr<FileWriter> writer(const FileRecord& file, std::int64_t before_id) {
    const ArchiveModel m = model();
    return std::make_unique<PostgresFileWriter>(*this, file, m.embedding_dim, m.half, before_id);
  }
  std::optional<FileRecord> stored_record(pqxx::transaction_base& tx, const std::string& path) const {
    const auto r = tx.exec_params(std::string("SELECT ") + kFileColumns + " FROM " + t("files") + " WHERE path = $1", path);
    if (r.empty()) return std::nullopt;
    return file_row(r[0]);
  }
  void claim(pqxx::transaction_base& tx, const std::string& path) {
    tx.exec_params("INSERT INTO " + t("claims") + "(path, worker, heartbeat, timeout_s, claimed) VALUES($1, $2, " +
                       kNow + ", $3::double precision, $4) ON CONFLICT(path) DO UPDATE SET worker = excluded.worker, "
                       "heartbeat = excluded.heartbeat, timeout_s = excluded.timeout_s, claimed = excluded.claimed",
                   path, worker, format_double(timeout_s), utc_now_iso8601());
    archive_statement_written();
    if (!heartbeat) heartbeat = std::make_unique<Heartbeat>(url.libpq, t("claims"), worker, timeout_s / 4);
  }

  std::unique_ptr<FileWriter> begin_file(const FileRecord& file) override {
    std::int64_t before = 0;
    write("cannot claim a recording", [&](pqxx::transaction_base& tx) {
      lock_path(tx, file.path);
      if (const auto f = stored_record(tx, file.path)) before = f->id;
      claim(tx, file.path);
    });
    return writer(file, before);
  }

  std::unique_ptr<FileWriter> try_begin_file(const FileRecord& file) override {
    bool mine = false;
    std::int64_t before = 0;
    write("cannot claim a recording", [&](pqxx::transaction_base& tx) {
      lock_path(tx, file.path);
      const auto stored = stored_record(tx, file.path);
      if (stored && same_identity(*stored, file)) return;  // stored by another worker
      if (stored) before = stored->id;
      const auto held = tx.exec_params("SELECT worker FROM " + t("claims") + " WHERE path = $1 AND worker <> $2 AND "
                                           "heartbeat + timeout_s >= " + kNow,
                                       file.path, worker);
      if (!held.empty()) return;  // another worker's live claim
      claim(tx, file.path);
      mine = true;
    });
    return mine ? writer(file, before) : nullptr;
  }

  void release(const std::string& path) noexcept {
    try {
      pqxx::work tx(*conn);
      tx.exec_params("DELETE FROM " + t("claims") + " WHERE path = $1 AND worker = $2", path, worker);
      tx.commit();
    } catch (const std::exception&) {
      // Unreachable now: the claim expires by itself.
    }
  }

  void remove_files(const std::vector<std::string>& paths) override {
    write("cannot drop recordings", [&](pqxx::transaction_base& tx) {
      for (const auto& p : paths) {
        lock_path(tx, p);
        tx.exec_params("DELETE FROM " + t("files") + " WHERE path = $1", p);
        archive_statement_written();
      }
    });
  }

  double read_start(const pqxx::field& f, std::int64_t id) const {
    const double s = f.as<double>();
    if (!valid_window_start(s))
      damaged_window("window " + std::to_string(id) + " starts at " + short_number(s) + " s (table windows), not in [0, 1e9]");
    return s;
  }
  void read_embedding(const pqxx::field& f, std::int64_t id, std::int64_t dim, bool half,
                      std::vector<float>& out) const {
    const pqxx::binarystring blob(f);
    const std::size_t want = static_cast<std::size_t>(dim) * (half ? 2 : 4);
    if (const std::string why =
            embedding_blob_problem(reinterpret_cast<const unsigned char*>(blob.data()), blob.size(), want,
                                   std::to_string(dim) + (half ? " float16" : " float32") + " values");
        !why.empty())
      damaged_window("the embedding of window " + std::to_string(id) + " " + why + " (table windows)");
    const std::size_t base = out.size();
    out.resize(base + static_cast<std::size_t>(dim));
    for (std::size_t i = 0; i < static_cast<std::size_t>(dim); ++i) {
      float v;
      if (half) {
        std::uint16_t h;
        std::memcpy(&h, blob.data() + 2 * i, 2);
        v = half_to_float(h);
      } else {
        std::memcpy(&v, blob.data() + 4 * i, 4);
      }
      if (!std::isfinite(v) || std::fabs(v) > kMaxArchiveEmbeddingValue)
        damaged_window("the embedding of window " + std::to_string(id) + " holds " + short_number(v) + " (value " +
                std::to_string(i + 1) + "; table windows)");
      out[base + i] = v;
    }
  }

  void scan(std::size_t block, const std::function<void(const WindowBlock&)>& on_block) const override {
    if (block == 0) throw Error("internal: ArchiveStore::scan with a block of 0 windows");
    read("cannot read its windows", [&](pqxx::transaction_base& tx) {
      const ArchiveModel m = model_of(meta(tx));
      WindowBlock b;
      std::int64_t last = -1;
      for (;;) {
        const auto r = tx.exec_params("SELECT id, file_id, start_s, embedding FROM " + t("windows") +
                                          " WHERE id > $1 ORDER BY id LIMIT $2",
                                      last, static_cast<std::int64_t>(block));
        if (r.empty()) break;
        b.ids.clear();
        b.file_ids.clear();
        b.starts_s.clear();
        b.embeddings.clear();
        for (const auto& row : r) {
          const auto id = row[0].as<std::int64_t>();
          b.ids.push_back(id);
          b.file_ids.push_back(row[1].as<std::int64_t>());
          b.starts_s.push_back(read_start(row[2], id));
          read_embedding(row[3], id, m.embedding_dim, m.half, b.embeddings);
          last = id;
        }
        on_block(b);
        if (r.size() < block) break;
      }
    });
  }

  std::map<std::int64_t, std::string> damaged_files() const override {
    std::map<std::int64_t, std::string> damaged;
    read("cannot read its windows", [&](pqxx::transaction_base& tx) {
      const ArchiveModel m = model_of(meta(tx));
      std::vector<float> scratch;
      constexpr std::int64_t kBlock = 4096;  // rows a query: memory holds one block's blobs
      for (std::int64_t last = -1;;) {
        const auto r = tx.exec_params("SELECT id, file_id, start_s, embedding FROM " + t("windows") +
                                          " WHERE id > $1 ORDER BY id LIMIT $2",
                                      last, kBlock);
        for (const auto& row : r) {
          const auto id = row[0].as<std::int64_t>();
          const auto file_id = row[1].as<std::int64_t>();
          last = id;
          if (damaged.count(file_id)) continue;
          try {
            read_start(row[2], id);
            scratch.clear();
            read_embedding(row[3], id, m.embedding_dim, m.half, scratch);
          } catch (const DamagedWindow& e) {
            damaged.emplace(file_id, e.problem);
          }
        }
        if (static_cast<std::int64_t>(r.size()) < kBlock) break;
      }
      // A window deleted by another program leaves its recording short.
      for (const auto& row : tx.exec("SELECT f.id, f.windows, (SELECT COUNT(*) FROM " + t("windows") +
                                     " w WHERE w.file_id = f.id) FROM " + t("files") + " f")) {
        const auto file_id = row[0].as<std::int64_t>(), recorded = row[1].as<std::int64_t>(),
                   held = row[2].as<std::int64_t>();
        if (held != recorded && !damaged.count(file_id))
          damaged.emplace(file_id, "it holds " + std::to_string(held) + " windows, its record (table files) says " +
                                       std::to_string(recorded));
      }
    });
    return damaged;
  }

  std::vector<std::int64_t> window_ids() const override {
    std::vector<std::int64_t> ids;
    read("cannot read its window ids", [&](pqxx::transaction_base& tx) {
      for (const auto& row : tx.exec("SELECT id FROM " + t("windows") + " ORDER BY id"))
        ids.push_back(row[0].as<std::int64_t>());
    });
    return ids;
  }

  std::vector<StoredWindow> windows(const std::vector<std::int64_t>& ids) const override {
    std::vector<StoredWindow> out;
    read("cannot read windows", [&](pqxx::transaction_base& tx) {
      const ArchiveModel m = model_of(meta(tx));
      for (std::int64_t id : ids) {
        const auto r = tx.exec_params("SELECT w.id, w.file_id, f.path, w.start_s, w.embedding FROM " + t("windows") +
                                          " w JOIN " + t("files") + " f ON f.id = w.file_id WHERE w.id = $1",
                                      id);
        if (r.empty()) throw Error(url.shown + ": sound archive \"" + url.name + "\" has no window " + std::to_string(id));
        StoredWindow w;
        w.id = id;
        w.file_id = r[0][1].as<std::int64_t>();
        w.file = r[0][2].c_str();
        w.start_s = read_start(r[0][3], id);
        read_embedding(r[0][4], id, m.embedding_dim, m.half, w.embedding);
        out.push_back(std::move(w));
      }
    });
    return out;
  }

  void add_reviews(const std::vector<Review>& reviews) override {
    const std::string now = utc_now_iso8601();
    write("cannot store verdicts", [&](pqxx::transaction_base& tx) {
      for (const Review& r : reviews) {
        if (r.verdict != "yes" && r.verdict != "no" && r.verdict != "skip")
          throw Error(url.shown + ": verdict \"" + r.verdict + "\" on window " + std::to_string(r.window_id) +
                      " is not yes, no or skip");
        if (r.class_name.empty())
          throw Error(url.shown + ": a verdict on window " + std::to_string(r.window_id) + " names no class");
        if (tx.exec_params("SELECT 1 FROM " + t("windows") + " WHERE id = $1", r.window_id).empty())
          throw Error(url.shown + ": sound archive \"" + url.name + "\" has no window " + std::to_string(r.window_id) +
                      " (dropped by `index --update`, or from another archive)");
        tx.exec_params("INSERT INTO " + t("reviews") + "(window_id, class, verdict, added) VALUES($1, $2, $3, $4) "
                       "ON CONFLICT(window_id, class) DO UPDATE SET verdict = excluded.verdict, added = excluded.added",
                       r.window_id, r.class_name, r.verdict, now);
        archive_statement_written();
      }
    });
  }

  std::vector<Review> reviews(const std::string& class_name) const override {
    std::vector<Review> out;
    read("cannot read verdicts", [&](pqxx::transaction_base& tx) {
      const std::string sql = "SELECT window_id, class, verdict, added FROM " + t("reviews") +
                              (class_name.empty() ? "" : " WHERE class = $1") + " ORDER BY window_id, class";
      const auto rows = class_name.empty() ? tx.exec(sql) : tx.exec_params(sql, class_name);
      for (const auto& row : rows) {
        Review r;
        r.window_id = row[0].as<std::int64_t>();
        r.class_name = row[1].c_str();
        r.verdict = row[2].c_str();
        r.added = row[3].c_str();
        if (r.verdict != "yes" && r.verdict != "no" && r.verdict != "skip")
          damaged("the verdict on window " + std::to_string(r.window_id) + " for class \"" + r.class_name + "\" is \"" +
                  r.verdict + "\", not yes, no or skip (table reviews)");
        out.push_back(std::move(r));
      }
    });
    return out;
  }

  ~PostgresArchive() override { heartbeat.reset(); }
};

PostgresFileWriter::~PostgresFileWriter() {
  if (!done_) archive_.release(file_.path);  // an error or an interruption: others may take it up
}

void PostgresFileWriter::add(const double* starts_s, const float* embeddings, std::size_t n) {
  if (done_) throw Error("internal: FileWriter::add after commit");
  const std::size_t dim = static_cast<std::size_t>(dim_);
  for (std::size_t w = 0; w < n; ++w) {
    const double start = starts_s[w];
    if (!valid_window_start(start))
      throw Error(archive_.url.shown + ": window start " + short_number(start) + " s of " + file_.path +
                  " is not a number of seconds in [0, 1e9]");
    const float* e = embeddings + w * dim;
    for (std::size_t i = 0; i < dim; ++i) {
      if (!std::isfinite(e[i]))
        throw Error(archive_.url.shown + ": the embedding of " + file_.path + " at " + short_number(start) +
                    " s is not finite (value " + std::to_string(i + 1) + ")");
      const float limit = half_ ? kMaxHalfValue : kMaxArchiveEmbeddingValue;
      if (std::fabs(e[i]) > limit)
        throw Error(archive_.url.shown + ": the embedding of " + file_.path + " at " + short_number(start) +
                    " s holds " + short_number(e[i]) + ", beyond +-" + short_number(limit) +
                    (half_ ? " (float16's range: index without --half)" : ""));
    }
    spool_.write(&start, sizeof start);
    spool_.write(e, dim * sizeof(float));
    ++count_;
  }
}

FileRecord PostgresFileWriter::commit(double duration_s) {
  if (done_) throw Error("internal: FileWriter::commit twice");
  if (!std::isfinite(duration_s) || duration_s < 0)
    throw Error(archive_.url.shown + ": duration " + short_number(duration_s) + " s of " + file_.path +
                " is not a number >= 0");
  const std::size_t dim = static_cast<std::size_t>(dim_);
  const std::size_t row_bytes = sizeof(double) + dim * sizeof(float);
  const std::size_t value_bytes = half_ ? 2 : 4;
  spool_.rewind();
  FileRecord out = file_;
  out.duration_s = duration_s;
  out.windows = count_;
  out.indexed = utc_now_iso8601();
  PostgresArchive& a = archive_;
  a.write("cannot store a recording", [&](pqxx::transaction_base& tx) {
    a.lock_path(tx, file_.path);
    const auto stored = a.stored_record(tx, file_.path);
    if (stored && stored->id != before_id_ && same_identity(*stored, file_)) {
      // Stored since this writer began: another worker took the recording over (this one's heartbeat
      // was late) and stored it first.
      out = *stored;
      by_another_ = true;
    } else {
      // The path's earlier record (a changed file), its windows and reviews go with it (ON DELETE CASCADE);
      // reviews of a recording whose modification time alone changed are carried over (sqlite_archive.cpp).
      tx.exec("CREATE TEMP TABLE IF NOT EXISTS carried_reviews(start_s DOUBLE PRECISION, class TEXT, verdict TEXT, "
              "added TEXT) ON COMMIT DELETE ROWS");
      tx.exec_params("INSERT INTO carried_reviews SELECT w.start_s, r.class, r.verdict, r.added FROM " + a.t("reviews") +
                         " r JOIN " + a.t("windows") + " w ON w.id = r.window_id JOIN " + a.t("files") +
                         " f ON f.id = w.file_id WHERE f.path = $1 AND f.size = $2 AND f.head_hash = $3",
                     file_.path, file_.size, file_.head_hash);
      tx.exec_params("DELETE FROM " + a.t("files") + " WHERE path = $1", file_.path);
      archive_statement_written();
      out.id = tx.exec_params("INSERT INTO " + a.t("files") +
                                  "(path, size, mtime_ns, head_hash, duration_s, windows, indexed) VALUES($1, $2, $3, "
                                  "$4, $5::double precision, $6, $7) RETURNING id",
                              file_.path, file_.size, file_.mtime_ns, file_.head_hash, format_double(duration_s),
                              count_, out.indexed)[0][0]
                   .template as<std::int64_t>();
      archive_statement_written();
      const std::string insert =
          "INSERT INTO " + a.t("windows") +
          "(file_id, start_s, embedding) SELECT $1, ($2::double precision[])[i + 1], substring($3::bytea from i * $4 + "
          "1 for $4) FROM generate_series(0, $5 - 1) AS i ORDER BY i";
      std::vector<unsigned char> buffer(kInsertBatch * row_bytes);
      std::string blob;
      for (std::int64_t done = 0; done < count_;) {
        const auto n = static_cast<std::size_t>(std::min<std::int64_t>(kInsertBatch, count_ - done));
        spool_.read(buffer.data(), n * row_bytes);
        std::string starts = "{";
        const std::size_t stride = dim * value_bytes + kEmbeddingChecksumBytes;  // values, then their checksum
        blob.assign(n * stride, '\0');
        for (std::size_t w = 0; w < n; ++w) {
          const unsigned char* row = buffer.data() + w * row_bytes;
          double start;
          std::memcpy(&start, row, sizeof start);
          if (w) starts += ',';
          starts += format_double(start);
          if (half_) {
            for (std::size_t i = 0; i < dim; ++i) {
              float v;
              std::memcpy(&v, row + sizeof(double) + i * sizeof(float), sizeof v);
              const std::uint16_t h = float_to_half(v);
              std::memcpy(blob.data() + w * stride + i * 2, &h, 2);
            }
          } else {
            std::memcpy(blob.data() + w * stride, row + sizeof(double), dim * 4);
          }
          seal_embedding(reinterpret_cast<unsigned char*>(blob.data() + w * stride), dim * value_bytes);
        }
        starts += "}";
        tx.exec_params(insert, out.id, starts, pqxx::binarystring(blob.data(), blob.size()),
                       static_cast<std::int64_t>(stride), static_cast<std::int64_t>(n));
        archive_statement_written();
        done += static_cast<std::int64_t>(n);
      }
      tx.exec_params("INSERT INTO " + a.t("reviews") + "(window_id, class, verdict, added) SELECT w.id, c.class, "
                         "c.verdict, c.added FROM carried_reviews c JOIN " + a.t("windows") +
                         " w ON w.file_id = $1 AND abs(w.start_s - c.start_s) < 1e-6",
                     out.id);
    }
    tx.exec_params("DELETE FROM " + a.t("claims") + " WHERE path = $1 AND worker = $2", file_.path, a.worker);
  });
  done_ = true;
  return out;
}

std::unique_ptr<PostgresArchive> connect(const std::string& url, bool read_only, const PostgresArchiveOptions& o) {
  auto a = std::make_unique<PostgresArchive>();
  a->url = parse_url(url);
  a->read_only = read_only;
  a->timeout_s = claim_timeout(o);
  a->worker = o.worker.empty() ? default_worker() : o.worker;
  a->schema = "\"" + a->url.name + "\"";
  try {
    a->conn = std::make_unique<pqxx::connection>(a->url.libpq);
  } catch (const std::exception& e) {
    throw Error(a->url.shown + ": cannot connect to the sound archive's database: " + trim(e.what()));
  }
  return a;
}

// Whether the schema holds an archive; Error naming another program's tables in it.
bool holds_archive(const PostgresArchive& a, pqxx::transaction_base& tx) {
  std::string tables;
  bool has_meta = false;
  for (const auto& r : tx.exec_params("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
                                      a.url.name)) {
    const std::string name = r[0].c_str();
    if (!tables.empty()) tables += ", ";
    tables += name;
    has_meta = has_meta || name == "meta";
  }
  if (tables.empty()) return false;
  std::string kind;
  if (has_meta && tx.exec_params("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = $1 AND "
                                  "table_name = 'meta' AND column_name IN ('key', 'value')",
                                  a.url.name)[0][0]
                          .as<int>() == 2) {
    const auto k = tx.exec("SELECT value FROM " + a.t("meta") + " WHERE key = 'kind'");
    if (!k.empty()) kind = k[0][0].c_str();
  }
  if (kind != kKind)
    throw Error(a.url.shown + ": the schema \"" + a.url.name + "\" holds tables of another program (" + tables +
                "), not a sound archive: it is left as it is (name another with ?archive=NAME)");
  return true;
}

void check_schema(const PostgresArchive& a, pqxx::transaction_base& tx) {
  const auto m = a.meta(tx);
  const auto it = m.find("schema_version");
  if (it == m.end()) a.damaged("it has no schema_version (table meta)");
  char* end = nullptr;
  const long version = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || version < 1) a.damaged("its schema_version \"" + it->second + "\"");
  if (version > kSchemaVersion)
    throw Error(a.url.shown + ": sound archive schema " + it->second + " is newer than this program's (" +
                std::to_string(kSchemaVersion) + "): use a newer oneshot-audio");
  for (const char* table : {"files", "windows", "reviews", "claims"})
    if (tx.exec_params("SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2", a.url.name, table).empty())
      a.damaged(std::string("it has no table ") + table);
  (void)a.model_of(m);
}

}  // namespace

std::string redact_archive_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + ":***" + url.substr(at);
}

std::unique_ptr<ArchiveStore> open_postgres_archive(const std::string& url, bool read_only,
                                                    const PostgresArchiveOptions& options) {
  auto a = connect(url, read_only, options);
  a->read("cannot open", [&](pqxx::transaction_base& tx) {
    if (!holds_archive(*a, tx))
      throw Error(a->url.shown + ": the database holds no sound archive \"" + a->url.name +
                  "\" (one is made by `oneshot-audio index --run RUN --archive URL FILE|DIR...`)");
    check_schema(*a, tx);
  });
  return a;
}

bool postgres_archive_exists(const std::string& url) {
  auto a = connect(url, true, {});
  bool exists = false;
  a->read("cannot open", [&](pqxx::transaction_base& tx) { exists = holds_archive(*a, tx); });
  return exists;
}

std::unique_ptr<ArchiveStore> open_or_create_postgres_archive(const std::string& url, const ArchiveModel& model,
                                                              std::optional<bool> half,
                                                              const PostgresArchiveOptions& options) {
  auto a = connect(url, false, options);
  a->write("cannot create the archive", [&](pqxx::transaction_base& tx) {
    // Workers starting together: one creates, the others wait and find it made.
    tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kLockClass, "create " + a->url.name);
    if (holds_archive(*a, tx)) return;
    if (!(model.hop_s > 0)) throw Error(a->url.shown + ": a new sound archive needs a hop (internal: index gives one)");
    const auto t = [&](const char* table) { return a->t(table); };
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + a->schema);
    tx.exec("CREATE TABLE " + t("meta") + "(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    tx.exec("CREATE TABLE " + t("files") +
            "(id BIGSERIAL PRIMARY KEY, path TEXT NOT NULL UNIQUE, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL, "
            "head_hash TEXT NOT NULL, duration_s DOUBLE PRECISION NOT NULL, windows BIGINT NOT NULL, indexed TEXT NOT "
            "NULL)");
    tx.exec("CREATE TABLE " + t("windows") + "(id BIGSERIAL PRIMARY KEY, file_id BIGINT NOT NULL REFERENCES " +
            t("files") + "(id) ON DELETE CASCADE, start_s DOUBLE PRECISION NOT NULL, embedding BYTEA NOT NULL)");
    tx.exec("CREATE INDEX windows_file ON " + t("windows") + "(file_id)");
    tx.exec("CREATE TABLE " + t("reviews") + "(window_id BIGINT NOT NULL REFERENCES " + t("windows") +
            "(id) ON DELETE CASCADE, class TEXT NOT NULL, verdict TEXT NOT NULL, added TEXT NOT NULL, PRIMARY "
            "KEY(window_id, class))");
    tx.exec("CREATE TABLE " + t("claims") +
            "(path TEXT PRIMARY KEY, worker TEXT NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, timeout_s DOUBLE "
            "PRECISION NOT NULL, claimed TEXT NOT NULL)");
    const std::vector<std::pair<std::string, std::string>> meta = {
        {"kind", kKind},
        {"schema_version", std::to_string(kSchemaVersion)},
        {"created", utc_now_iso8601()},
        {"archive_id", new_archive_id()},
        {"run", model.run},
        {"fingerprint", model.fingerprint},
        {"embedding_dim", std::to_string(model.embedding_dim)},
        {"window_s", format_double(model.window_s)},
        {"hop_s", format_double(model.hop_s)},
        {"sample_rate", std::to_string(model.sample_rate)},
        {"precision", half.value_or(false) ? "float16" : "float32"}};
    if (!model.windows.empty()) tx.exec_params("INSERT INTO " + t("meta") + "(key, value) VALUES($1, $2)",
                                               std::string("windows"), model.windows);
    for (const auto& [k, v] : meta) tx.exec_params("INSERT INTO " + t("meta") + "(key, value) VALUES($1, $2)", k, v);
  });
  ArchiveModel stored;
  a->read("cannot open", [&](pqxx::transaction_base& tx) {
    check_schema(*a, tx);
    stored = a->model_of(a->meta(tx));
  });
  const std::string& where = a->url.shown;
  if (const std::string why = archive_mismatch(stored, model, half); !why.empty()) throw Error(where + ": " + why);
  if (stored.run != model.run)
    a->write("cannot record the run's new path", [&](pqxx::transaction_base& tx) {
      tx.exec_params("UPDATE " + a->t("meta") + " SET value = $1 WHERE key = 'run'", model.run);
    });
  if (stored.windows.empty() && !model.windows.empty())
    a->write("cannot record how the windows are embedded", [&](pqxx::transaction_base& tx) {
      tx.exec_params("INSERT INTO " + a->t("meta") + "(key, value) VALUES($1, $2) ON CONFLICT (key) DO NOTHING",
                     std::string("windows"), model.windows);
    });
  if (stored.id.empty())  // made before its identity was kept (sqlite_archive.cpp says why)
    a->write("cannot record the archive's identity", [&](pqxx::transaction_base& tx) {
      tx.exec_params("INSERT INTO " + a->t("meta") + "(key, value) VALUES($1, $2) ON CONFLICT (key) DO NOTHING",
                     std::string("archive_id"), new_archive_id());
    });
  a->model_cache.reset();
  return a;
}

}  // namespace oneshot::archive
