// The sound archive's PostgreSQL store (src/archive/postgres_store.h), on the
// server named by ONESHOT_TEST_POSTGRES (scripts/postgres-test-server.sh,
// started by scripts/test.sh; skipped when it is not set): windows round-trip
// in float32 and float16 in the SQLite store's bytes; another model's windows
// are refused naming both fingerprints; a recording is stored in one
// transaction (a failure or a SIGKILL during its insert leaves nothing);
// workers claim recordings: two workers on one list store each exactly once,
// a stale claim is taken over, a worker overtaken while slow stores nothing.
// Each test uses its own archive (a schema) and drops it at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/archive_store.h"
#include "archive/postgres_store.h"
#include "archive/sqlite_archive.h"
#include "core/error.h"
#include "data/half.h"
#include "support/test_support.h"

namespace oneshot::archive {
namespace {

ArchiveModel test_model(const std::string& fingerprint = "f00d") {
  ArchiveModel m;
  m.run = "/runs/a";
  m.fingerprint = fingerprint;
  m.embedding_dim = 8;
  m.window_s = 1.0;
  m.hop_s = 0.5;
  m.sample_rate = 16000;
  return m;
}

std::vector<float> random_embeddings(std::size_t n, std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 0.3f);
  std::vector<float> v(n * dim);
  for (float& x : v) x = d(rng);
  return v;
}

FileRecord record(const std::string& path, std::int64_t size = 100) {
  FileRecord f;
  f.path = path;
  f.size = size;
  f.mtime_ns = 123456789;
  f.head_hash = "0123456789abcdef";
  return f;
}

void add_windows(FileWriter& w, const std::vector<float>& embeddings, std::size_t n, std::size_t dim) {
  std::vector<double> starts(n);
  for (std::size_t i = 0; i < n; ++i) starts[i] = 0.5 * static_cast<double>(i);
  const std::size_t first = n / 2;  // in two parts, as index adds batches
  w.add(starts.data(), embeddings.data(), first);
  w.add(starts.data() + first, embeddings.data() + first * dim, n - first);
}

FileRecord store(ArchiveStore& a, const std::string& path, const std::vector<float>& embeddings, std::size_t n,
                 const std::string& head_hash = "") {
  FileRecord r = record(path);
  if (!head_hash.empty()) r.head_hash = head_hash;
  auto w = a.begin_file(r);
  add_windows(*w, embeddings, n, static_cast<std::size_t>(a.model().embedding_dim));
  return w->commit(0.5 * static_cast<double>(n) + 0.5);
}

std::vector<WindowBlock> scan_all(const ArchiveStore& a, std::size_t block) {
  std::vector<WindowBlock> out;
  a.scan(block, [&](const WindowBlock& b) { out.push_back(b); });
  return out;
}

class PostgresArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("ONESHOT_TEST_POSTGRES");
    if (!url || !*url) GTEST_SKIP() << "set ONESHOT_TEST_POSTGRES to a PostgreSQL URL (scripts/postgres-test-server.sh)";
    server_ = url;
    name_ = "t_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000000);
  }
  void TearDown() override {
    if (server_.empty()) return;
    try {
      pqxx::connection c(server_);
      pqxx::work tx(c);
      tx.exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
      tx.commit();
    } catch (const std::exception&) {
    }
  }
  std::string url(const std::string& name = {}) const {
    return server_ + (server_.find('?') == std::string::npos ? "?" : "&") + "archive=" + (name.empty() ? name_ : name);
  }
  void sql(const std::string& statement) {
    pqxx::connection c(server_);
    pqxx::work tx(c);
    tx.exec(statement);
    tx.commit();
  }
  std::int64_t count(const std::string& query) {
    pqxx::connection c(server_);
    pqxx::work tx(c);
    return tx.exec(query)[0][0].as<std::int64_t>();
  }

  std::string server_, name_;
};

TEST_F(PostgresArchiveTest, WindowsRoundTripInTheSqliteStoresBytes) {
  for (bool half : {false, true}) {
    SCOPED_TRACE(half ? "float16" : "float32");
    const std::string u = url(name_ + (half ? "_h" : ""));
    const auto e = random_embeddings(600, 8, 7);  // more than one insert batch
    {
      auto a = open_or_create_archive(u, test_model(), half ? std::optional<bool>(true) : std::nullopt);
      EXPECT_EQ(a->model().half, half);
      const FileRecord f = store(*a, "/rec/one.wav", e, 600);
      EXPECT_EQ(f.windows, 600);
      EXPECT_DOUBLE_EQ(f.duration_s, 300.5);
      store(*a, "/rec/two.wav", random_embeddings(3, 8, 8), 3);
    }
    auto a = open_archive(u);
    EXPECT_EQ(a->window_count(), 603);
    ASSERT_EQ(a->files().size(), 2u);
    EXPECT_EQ(a->file("/rec/one.wav")->head_hash, "0123456789abcdef");
    const auto blocks = scan_all(*a, 250);
    ASSERT_EQ(blocks.size(), 3u);  // 250 + 250 + 103
    EXPECT_EQ(blocks.back().count(), 103u);
    std::size_t row = 0;
    for (const auto& b : blocks)
      for (std::size_t i = 0; i < b.count() && row < 600; ++i, ++row) {
        EXPECT_DOUBLE_EQ(b.starts_s[i], 0.5 * static_cast<double>(row));
        for (std::size_t d = 0; d < 8; ++d) {
          const float want = half ? half_to_float(float_to_half(e[row * 8 + d])) : e[row * 8 + d];
          ASSERT_EQ(b.embeddings[i * 8 + d], want) << row << " " << d;
        }
      }
    // The bytes are the SQLite store's: little-endian float32 or float16.
    {
      pqxx::connection c(server_);
      pqxx::work tx(c);
      const auto r = tx.exec("SELECT embedding FROM " + name_ + (half ? "_h" : "") + ".windows ORDER BY id LIMIT 1");
      const pqxx::binarystring blob(r[0][0]);
      ASSERT_EQ(blob.size(), (half ? 16u : 32u) + kEmbeddingChecksumBytes);  // the values, then their checksum
      if (half) {
        std::uint16_t h;
        std::memcpy(&h, blob.data(), 2);
        EXPECT_EQ(h, float_to_half(e[0]));
      } else {
        float v;
        std::memcpy(&v, blob.data(), 4);
        EXPECT_EQ(v, e[0]);
      }
    }
    const auto w = a->windows({blocks[1].ids[2]});
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].file, "/rec/one.wav");
    EXPECT_DOUBLE_EQ(w[0].start_s, 0.5 * 252);
    EXPECT_NE(test::error_of([&] { a->windows({999999999}); }).find("has no window 999999999"), std::string::npos);
    // Reviews, and a recording stored again replaces its record.
    auto rw = open_or_create_archive(u, test_model());
    rw->add_reviews({{blocks[0].ids[0], "bell", "yes", ""}});
    EXPECT_EQ(rw->reviews("bell").size(), 1u);
    // Touched (the same size and head hash): the review moves to the new window of the same start.
    store(*rw, "/rec/one.wav", random_embeddings(4, 8, 3), 4);
    ASSERT_EQ(rw->reviews("bell").size(), 1u);
    EXPECT_DOUBLE_EQ(rw->windows({rw->reviews("bell")[0].window_id}).at(0).start_s, 0.0);
    EXPECT_NE(rw->reviews("bell")[0].window_id, blocks[0].ids[0]);
    // Changed contents: the review goes with the old windows.
    store(*rw, "/rec/one.wav", random_embeddings(4, 8, 3), 4, "fedcba9876543210");
    EXPECT_EQ(rw->window_count(), 7);
    EXPECT_TRUE(rw->reviews().empty());
    rw->remove_files({"/rec/two.wav"});
    EXPECT_EQ(rw->window_count(), 4);
    // Read-only: no change.
    EXPECT_NE(test::error_of([&] { a->remove_files({"/rec/one.wav"}); }).find("read-only"), std::string::npos);
    if (half) sql("DROP SCHEMA " + name_ + "_h CASCADE");
  }
}

TEST_F(PostgresArchiveTest, AnotherModelIsRefusedNamingBothAndDamageIsNamed) {
  open_or_create_archive(url(), test_model("aaaa"));
  auto other = test_model("bbbb");
  other.run = "/runs/b";
  const std::string e = test::error_of([&] { open_or_create_archive(url(), other); });
  EXPECT_NE(e.find("the archive was embedded with model aaaa (run /runs/a), not with bbbb (run /runs/b)"),
            std::string::npos)
      << e;
  auto hop = test_model("aaaa");
  hop.hop_s = 0.25;
  EXPECT_NE(test::error_of([&] { open_or_create_archive(url(), hop); }).find("not every 0.25 s (--hop)"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { open_or_create_archive(url(), test_model("aaaa"), true); }).find("(--half)"),
            std::string::npos);
  auto moved = test_model("aaaa");
  moved.hop_s = 0;
  moved.run = "/runs/moved";
  EXPECT_EQ(open_or_create_archive(url(), moved)->model().run, "/runs/moved");
  // An archive that did not record how its windows are embedded records it; the other way is then refused.
  auto per_window = moved;
  per_window.windows = "per-window";
  EXPECT_EQ(open_or_create_archive(url(), per_window)->model().windows, "per-window");
  auto shared = moved;
  shared.windows = "shared";
  EXPECT_NE(test::error_of([&] { open_or_create_archive(url(), shared); }).find("not shared (--shared)"),
            std::string::npos);
  EXPECT_TRUE(archive_exists(url()));
  EXPECT_FALSE(archive_exists(url(name_ + "_none")));
  // Missing, another program's schema, damage, an unreachable server (its password never echoed).
  EXPECT_NE(test::error_of([&] { open_archive(url(name_ + "_none")); }).find("holds no sound archive"),
            std::string::npos);
  sql("CREATE SCHEMA " + name_ + "_other; CREATE TABLE " + name_ + "_other.meta(k TEXT)");
  const std::string o = test::error_of([&] { open_or_create_archive(url(name_ + "_other"), test_model()); });
  EXPECT_NE(o.find("holds tables of another program (meta), not a sound archive: it is left as it is"),
            std::string::npos)
      << o;
  sql("DROP SCHEMA " + name_ + "_other CASCADE");
  auto a = open_or_create_archive(url(), test_model("aaaa"));
  store(*a, "/rec/one.wav", random_embeddings(3, 8, 1), 3);
  sql("UPDATE " + name_ + ".windows SET embedding = '\\x0102' WHERE id = (SELECT MIN(id) FROM " + name_ + ".windows)");
  const std::string d = test::error_of([&] { scan_all(*open_archive(url()), 10); });
  EXPECT_NE(d.find("has 2 bytes; the archive's 8 float32 values take 32 (40 with their checksum)"), std::string::npos)
      << d;
  EXPECT_NE(d.find("the archive is damaged"), std::string::npos) << d;
  EXPECT_NE(d.find("`oneshot-audio index --update --run RUN --archive postgresql://"), std::string::npos) << d;
  EXPECT_NE(d.find("` embeds its damaged recordings again"), std::string::npos) << d;
  // damaged_files names the recording (index --update embeds it again).
  auto damaged = open_archive(url())->damaged_files();
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_EQ(damaged.begin()->first, open_archive(url())->files().at(0).id);
  EXPECT_NE(damaged.begin()->second.find("has 2 bytes"), std::string::npos) << damaged.begin()->second;
  // A value changed in place (its checksum kept): named, not searched.
  sql("DELETE FROM " + name_ + ".windows WHERE id = (SELECT MIN(id) FROM " + name_ + ".windows)");
  sql("UPDATE " + name_ + ".windows SET embedding = overlay(embedding placing '\\xff'::bytea from 3 for 1) WHERE id = "
      "(SELECT MAX(id) FROM " + name_ + ".windows)");
  const std::string flipped = test::error_of([&] { scan_all(*open_archive(url()), 10); });
  EXPECT_NE(flipped.find("does not match its checksum"), std::string::npos) << flipped;
  damaged = open_archive(url())->damaged_files();
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_NE(damaged.begin()->second.find("does not match its checksum"), std::string::npos) << damaged.begin()->second;
  sql("UPDATE " + name_ + ".meta SET value = 'float64' WHERE key = 'precision'");
  EXPECT_NE(test::error_of([&] { open_archive(url()); }).find("precision \"float64\""), std::string::npos);
  const std::string c = test::error_of([&] { open_archive("postgresql://someone:secret@127.0.0.1:1/db"); });
  EXPECT_NE(c.find("cannot connect"), std::string::npos) << c;
  EXPECT_EQ(c.find("secret"), std::string::npos) << c;
  EXPECT_NE(test::error_of([&] { open_archive(server_ + "?archive=bad-name"); }).find("is not an archive name"),
            std::string::npos);
}

TEST_F(PostgresArchiveTest, AFailureOrAKillDuringAFilesInsertLeavesNothing) {
  auto a = open_or_create_archive(url(), test_model());
  store(*a, "/rec/one.wav", random_embeddings(5, 8, 1), 5);
  // Writing statements of a store: the old record's delete, the file, 3 batches of windows.
  for (int fail_at : {1, 2, 4, 5}) {
    int n = 0;
    set_archive_statement_hook([&] {
      if (++n == fail_at) throw Error("injected");
    });
    const std::string e = test::error_of([&] { store(*a, "/rec/one.wav", random_embeddings(600, 8, 9), 600); });
    set_archive_statement_hook(nullptr);
    EXPECT_EQ(e, "injected") << fail_at;
    EXPECT_EQ(a->file("/rec/one.wav")->windows, 5) << fail_at;
    EXPECT_EQ(a->window_count(), 5) << fail_at;
  }
  for (int kill_at : {3, 5}) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto b = open_or_create_archive(url(), test_model());
      int n = 0;
      set_archive_statement_hook([&] {
        if (++n == kill_at) ::raise(SIGKILL);
      });
      store(*b, "/rec/long.wav", random_embeddings(600, 8, 5), 600);
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    // The server rolls the dead connection's transaction back: nothing of it is visible.
    EXPECT_FALSE(a->file("/rec/long.wav")) << kill_at;
    EXPECT_EQ(a->window_count(), 5) << kill_at;
  }
  store(*a, "/rec/long.wav", random_embeddings(600, 8, 5), 600);
  EXPECT_EQ(a->window_count(), 605);
}

// Workers as index runs them: each takes the recordings it can claim, embeds
// (here: sleeps a little and adds windows), stores; then tries again those
// another live worker held until every one is stored.
std::map<std::string, int> run_worker(const std::string& u, const std::vector<std::string>& paths,
                                      const std::string& name) {
  PostgresArchiveOptions o;
  o.worker = name;
  auto a = open_or_create_postgres_archive(u, test_model(), std::nullopt, o);
  std::map<std::string, int> stored;
  std::vector<std::string> todo = paths;
  while (!todo.empty()) {
    std::vector<std::string> later;
    for (const auto& p : todo) {
      auto w = a->try_begin_file(record(p));
      if (!w) {
        const auto f = a->file(p);
        if (!f) later.push_back(p);
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      add_windows(*w, random_embeddings(7, 8, static_cast<unsigned>(p.size())), 7, 8);
      w->commit(4);
      if (!w->stored_by_another()) ++stored[p];
    }
    todo = later;
    if (!todo.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return stored;
}

TEST_F(PostgresArchiveTest, TwoWorkersOnOneListStoreEachRecordingExactlyOnce) {
  open_or_create_archive(url(), test_model());
  std::vector<std::string> paths;
  for (int i = 0; i < 40; ++i) paths.push_back("/rec/" + std::to_string(i) + ".wav");
  std::map<std::string, int> first, second;
  std::thread t1([&] { first = run_worker(url(), paths, "w1"); });
  std::thread t2([&] { second = run_worker(url(), paths, "w2"); });
  t1.join();
  t2.join();
  std::map<std::string, int> total = first;
  for (const auto& [p, n] : second) total[p] += n;
  EXPECT_EQ(total.size(), 40u);
  for (const auto& [p, n] : total) EXPECT_EQ(n, 1) << p;
  EXPECT_GT(first.size(), 0u);   // both did a share
  EXPECT_GT(second.size(), 0u);
  auto a = open_archive(url());
  EXPECT_EQ(a->files().size(), 40u);
  EXPECT_EQ(a->window_count(), 40 * 7);
  EXPECT_EQ(count("SELECT COUNT(*) FROM (SELECT file_id, start_s FROM " + name_ +
                  ".windows GROUP BY file_id, start_s HAVING COUNT(*) > 1) d"),
            0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM " + name_ + ".claims"), 0);  // every claim released
}

TEST_F(PostgresArchiveTest, AStaleClaimIsTakenOverAndALateWorkerStoresNothing) {
  PostgresArchiveOptions slow;
  slow.worker = "slow";
  slow.claim_timeout_s = 1.2;  // heartbeats every 0.3 s
  PostgresArchiveOptions fast;
  fast.worker = "fast";
  fast.claim_timeout_s = 1.2;
  auto a = open_or_create_postgres_archive(url(), test_model(), std::nullopt, slow);
  auto b = open_or_create_postgres_archive(url(), test_model(), std::nullopt, fast);
  // While `slow` beats, its claim is live: `fast` cannot take the file, even after the timeout.
  auto w = a->try_begin_file(record("/rec/x.wav"));
  ASSERT_TRUE(w);
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_FALSE(b->try_begin_file(record("/rec/x.wav")));
  // A worker killed mid-file: its claim stays with its last heartbeat; once stale, another takes it up.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    PostgresArchiveOptions dead;
    dead.worker = "dead";
    dead.claim_timeout_s = 1.2;
    auto c = open_or_create_postgres_archive(url(), test_model(), std::nullopt, dead);
    auto cw = c->try_begin_file(record("/rec/y.wav"));
    if (!cw) _exit(3);
    ::raise(SIGKILL);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(count("SELECT COUNT(*) FROM " + name_ + ".claims WHERE worker = 'dead'"), 1);
  EXPECT_FALSE(b->try_begin_file(record("/rec/y.wav")));  // still fresh
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  auto taken = b->try_begin_file(record("/rec/y.wav"));
  ASSERT_TRUE(taken) << "the dead worker's stale claim was not taken over";
  add_windows(*taken, random_embeddings(4, 8, 1), 4, 8);
  taken->commit(2);
  EXPECT_FALSE(taken->stored_by_another());
  EXPECT_EQ(b->file("/rec/y.wav")->windows, 4);
  // A slow worker overtaken: `fast` takes x.wav over (its claim made stale by hand) and stores it
  // first; `slow`'s commit then stores nothing and says so.
  // (Its timeout, not its heartbeat, is moved: slow's heartbeat thread beats every 0.3 s and, on a loaded
  // machine, could make a heartbeat moved back fresh again before fast looks.)
  sql("UPDATE " + name_ + ".claims SET timeout_s = -3600 WHERE path = '/rec/x.wav'");
  auto over = b->try_begin_file(record("/rec/x.wav"));
  ASSERT_TRUE(over);
  add_windows(*over, random_embeddings(3, 8, 2), 3, 8);
  over->commit(1.5);
  add_windows(*w, random_embeddings(5, 8, 3), 5, 8);
  const FileRecord late = w->commit(2.5);
  EXPECT_TRUE(w->stored_by_another());
  EXPECT_EQ(late.windows, 3);
  EXPECT_EQ(b->file("/rec/x.wav")->windows, 3);
  EXPECT_EQ(b->window_count(), 7);
  // Stored: nobody claims it again.
  EXPECT_FALSE(a->try_begin_file(record("/rec/x.wav")));
  EXPECT_EQ(count("SELECT COUNT(*) FROM " + name_ + ".claims"), 0);
}

}  // namespace
}  // namespace oneshot::archive
