// The sound archive's SQLite store (src/archive/sqlite_archive.h): windows
// round-trip in float32 and float16, another model's windows are refused
// naming both fingerprints, a recording is stored in one transaction (a
// failure or a SIGKILL during its insert leaves the archive as it was; a path
// stored again replaces its record, never two), and damage is named with the
// way out.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sqlite3.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <limits>
#include <random>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/archive_store.h"
#include "archive/sqlite_archive.h"
#include "core/error.h"
#include "data/half.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot::archive {
namespace {
namespace fs = std::filesystem;

void sql(const fs::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << why;
}

long count(const fs::path& db, const std::string& query) {
  sqlite3* h = nullptr;
  sqlite3_stmt* st = nullptr;
  long n = -1;
  if (sqlite3_open(db.c_str(), &h) == SQLITE_OK && sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = static_cast<long>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

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

// Stores `n` windows of `path` (starts 0, 0.5, ...) with `embeddings`; the record.
FileRecord store(ArchiveStore& a, const std::string& path, const std::vector<float>& embeddings, std::size_t n,
                 const std::string& head_hash = "0123456789abcdef", std::int64_t mtime_ns = 123456789) {
  FileRecord r = record(path);
  r.head_hash = head_hash;
  r.mtime_ns = mtime_ns;
  auto w = a.begin_file(r);
  std::vector<double> starts(n);
  for (std::size_t i = 0; i < n; ++i) starts[i] = 0.5 * static_cast<double>(i);
  // Added in two parts, as index adds batches.
  const std::size_t first = n / 2;
  const auto dim = static_cast<std::size_t>(a.model().embedding_dim);
  w->add(starts.data(), embeddings.data(), first);
  w->add(starts.data() + first, embeddings.data() + first * dim, n - first);
  return w->commit(0.5 * static_cast<double>(n) + 0.5);
}

std::vector<WindowBlock> scan_all(const ArchiveStore& a, std::size_t block) {
  std::vector<WindowBlock> out;
  a.scan(block, [&](const WindowBlock& b) { out.push_back(b); });
  return out;
}

TEST(ArchiveStore, WindowsRoundTripInFloat32ExactlyAndInFloat16WithinHalfPrecision) {
  test::TempDir dir;
  for (bool half : {false, true}) {
    const fs::path path = dir / (half ? "half.db" : "full.db");
    const auto e = random_embeddings(37, 8, 7);
    {
      auto a = open_or_create_archive(path.string(), test_model(), half ? std::optional<bool>(true) : std::nullopt);
      EXPECT_EQ(a->model().half, half);
      const FileRecord f = store(*a, "/rec/one.wav", e, 37);
      EXPECT_EQ(f.windows, 37);
      EXPECT_DOUBLE_EQ(f.duration_s, 19.0);
    }
    auto a = open_archive(path.string());
    EXPECT_EQ(a->window_count(), 37);
    const auto blocks = scan_all(*a, 10);
    ASSERT_EQ(blocks.size(), 4u);  // 10 + 10 + 10 + 7
    EXPECT_EQ(blocks.back().count(), 7u);
    std::size_t row = 0;
    for (const auto& b : blocks) {
      for (std::size_t i = 0; i < b.count(); ++i, ++row) {
        EXPECT_DOUBLE_EQ(b.starts_s[i], 0.5 * static_cast<double>(row));
        for (std::size_t d = 0; d < 8; ++d) {
          const float want = half ? half_to_float(float_to_half(e[row * 8 + d])) : e[row * 8 + d];
          EXPECT_EQ(b.embeddings[i * 8 + d], want);
          if (half) {
            EXPECT_NEAR(b.embeddings[i * 8 + d], e[row * 8 + d], 1e-3);
          }
        }
      }
    }
    // By id, with the file's path.
    const auto w = a->windows({blocks[1].ids[2]});
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].file, "/rec/one.wav");
    EXPECT_DOUBLE_EQ(w[0].start_s, 6.0);
    EXPECT_EQ(w[0].embedding, std::vector<float>(blocks[1].embeddings.begin() + 16, blocks[1].embeddings.begin() + 24));
    EXPECT_NE(test::error_of([&] { a->windows({999999}); }).find("has no window 999999"), std::string::npos);
  }
}

TEST(ArchiveStore, AnotherModelsWindowsAreRefusedNamingBothAndAnotherGridToo) {
  test::TempDir dir;
  const fs::path path = dir / "a.db";
  open_or_create_archive(path.string(), test_model("aaaa"));
  auto other = test_model("bbbb");
  other.run = "/runs/b";
  const std::string e = test::error_of([&] { open_or_create_archive(path.string(), other); });
  EXPECT_NE(e.find(path.string() + ": the archive was embedded with model aaaa (run /runs/a), not with bbbb (run "
                                   "/runs/b)"),
            std::string::npos)
      << e;
  auto hop = test_model("aaaa");
  hop.hop_s = 0.25;
  EXPECT_NE(test::error_of([&] { open_or_create_archive(path.string(), hop); }).find("not every 0.25 s (--hop)"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { open_or_create_archive(path.string(), test_model("aaaa"), true); }).find("(--half)"),
            std::string::npos);
  // The archive's own hop and precision when none is given; a moved run is recorded.
  auto moved = test_model("aaaa");
  moved.hop_s = 0;
  moved.run = "/runs/moved";
  auto a = open_or_create_archive(path.string(), moved);
  EXPECT_DOUBLE_EQ(a->model().hop_s, 0.5);
  EXPECT_EQ(a->model().run, "/runs/moved");
}

TEST(ArchiveStore, WindowsEmbeddedTheOtherWayAreRefusedAndAnArchiveThatDidNotSayRecordsIt) {
  test::TempDir dir;
  const fs::path path = dir / "a.db";
  auto shared = test_model("aaaa");
  shared.windows = "shared";
  EXPECT_EQ(open_or_create_archive(path.string(), shared)->model().windows, "shared");
  auto per_window = test_model("aaaa");
  per_window.windows = "per-window";
  const std::string e = test::error_of([&] { open_or_create_archive(path.string(), per_window); });
  EXPECT_NE(e.find(path.string() + ": the archive's windows were embedded sharing the encoder's work (index "
                                   "--shared), not one by one (without --shared)"),
            std::string::npos)
      << e;
  // A reader that does not say (windows "") opens it; one from before the key records the way it adds.
  EXPECT_EQ(open_or_create_archive(path.string(), test_model("aaaa"))->model().windows, "shared");
  const fs::path old = dir / "old.db";
  open_or_create_archive(old.string(), test_model("aaaa"));
  EXPECT_EQ(open_or_create_archive(old.string(), test_model("aaaa"))->model().windows, "");
  EXPECT_EQ(open_or_create_archive(old.string(), per_window)->model().windows, "per-window");
  EXPECT_NE(test::error_of([&] { open_or_create_archive(old.string(), shared); }).find("not shared (--shared)"),
            std::string::npos);
  // A damaged value is named.
  sql(old, "UPDATE meta SET value = 'sometimes' WHERE key = 'windows'");
  EXPECT_NE(test::error_of([&] { open_archive(old.string())->model(); }).find("windows \"sometimes\""),
            std::string::npos);
  // The rule itself, as both stores apply it.
  EXPECT_EQ(archive_mismatch(shared, shared, std::nullopt), "");
  EXPECT_EQ(archive_mismatch(test_model("aaaa"), shared, std::nullopt), "");
  EXPECT_NE(archive_mismatch(per_window, shared, std::nullopt), "");
  // An archive written with the run's former fingerprint (before every feature setting was counted) takes
  // the run's windows when the run names it as its former one; another model's stays refused.
  ArchiveModel wanted = test_model("new0");
  EXPECT_NE(archive_mismatch(test_model("old0"), wanted, std::nullopt), "");
  wanted.former_fingerprint = "old0";
  EXPECT_EQ(archive_mismatch(test_model("old0"), wanted, std::nullopt), "");
  EXPECT_NE(archive_mismatch(test_model("beef"), wanted, std::nullopt).find("beef"), std::string::npos);
  const fs::path former = dir / "former.db";
  open_or_create_archive(former.string(), test_model("old0"));
  EXPECT_EQ(open_or_create_archive(former.string(), wanted)->model().fingerprint, "old0");
}

TEST(ArchiveStore, AFileStoredAgainReplacesItsRecordAndRemoveDropsItsWindowsAndReviews) {
  test::TempDir dir;
  auto a = open_or_create_archive((dir / "a.db").string(), test_model());
  store(*a, "/rec/one.wav", random_embeddings(5, 8, 1), 5);
  store(*a, "/rec/two.wav", random_embeddings(3, 8, 2), 3);
  const auto before = scan_all(*a, 100);
  a->add_reviews({{before[0].ids[0], "bell", "yes", ""}, {before[0].ids[6], "bell", "no", ""}});
  store(*a, "/rec/one.wav", random_embeddings(4, 8, 3), 4, "fedcba9876543210");  // changed: re-embedded
  ASSERT_EQ(a->files().size(), 2u);
  EXPECT_EQ(a->file("/rec/one.wav")->windows, 4);
  EXPECT_EQ(a->window_count(), 7);
  const auto after = scan_all(*a, 100);
  // Ids are never reused: the new windows come after every old one.
  EXPECT_GT(after[0].ids.back(), before[0].ids.back());
  // The old record's review went with it; two.wav's stays.
  const auto reviews = a->reviews("bell");
  ASSERT_EQ(reviews.size(), 1u);
  EXPECT_EQ(reviews[0].window_id, before[0].ids[6]);
  EXPECT_EQ(reviews[0].verdict, "no");
  a->remove_files({"/rec/two.wav"});
  EXPECT_EQ(a->window_count(), 4);
  EXPECT_TRUE(a->reviews().empty());
  EXPECT_FALSE(a->file("/rec/two.wav"));
  EXPECT_NE(test::error_of([&] { a->add_reviews({{after[0].ids[0], "bell", "maybe", ""}}); }).find("not yes, no or skip"),
            std::string::npos);
}

// A recording whose modification time alone changed (touched: the same size and
// hash of its first MiB) is embedded again by index --update; its reviews move
// to the new windows of the same starts, so reviewed windows stay out of later
// searches (attack finding F7, issue 19). Changed contents drop them (above).
TEST(ArchiveStore, ATouchedRecordStoredAgainKeepsItsReviewsOnTheWindowsOfTheSameStarts) {
  test::TempDir dir;
  auto a = open_or_create_archive((dir / "a.db").string(), test_model());
  store(*a, "/rec/one.wav", random_embeddings(5, 8, 1), 5);
  store(*a, "/rec/two.wav", random_embeddings(3, 8, 2), 3);
  const auto before = scan_all(*a, 100);
  a->add_reviews({{before[0].ids[1], "bell", "yes", ""}, {before[0].ids[3], "bell", "no", ""},
                  {before[0].ids[3], "horn", "skip", ""}, {before[0].ids[4], "horn", "yes", ""},
                  {before[0].ids[6], "bell", "no", ""}});
  store(*a, "/rec/one.wav", random_embeddings(4, 8, 3), 4, "0123456789abcdef", 999);  // touched; 4 windows now
  const auto after = scan_all(*a, 100);
  std::map<std::int64_t, double> start_of;
  for (const auto& b : after)
    for (std::size_t i = 0; i < b.ids.size(); ++i) start_of[b.ids[i]] = b.starts_s[i];
  std::set<std::string> got;
  for (const Review& r : a->reviews())
    got.insert(r.class_name + " " + r.verdict + " " + (start_of.count(r.window_id) ? std::to_string(start_of[r.window_id]) : "gone"));
  // one.wav's windows at 0.5 s (yes) and 1.5 s (no, skip) move; 2.0 s's is gone with its window; two.wav's stays.
  EXPECT_EQ(got, (std::set<std::string>{"bell yes 0.500000", "bell no 1.500000", "horn skip 1.500000", "bell no 0.500000"}));
  EXPECT_EQ(a->reviews().size(), 4u);
}

// An empty file (touch a.archive) is no archive yet: index makes one in it
// with the hop it gives a new archive (attack finding F8, issue 19).
TEST(ArchiveStore, AnEmptyFileIsNoArchiveAndOneIsMadeInIt) {
  test::TempDir dir;
  const std::string path = (dir / "empty.archive").string();
  { std::ofstream touch(path); }
  EXPECT_FALSE(archive_exists(path));
  auto a = open_or_create_archive(path, test_model());
  store(*a, "/rec/one.wav", random_embeddings(2, 8, 1), 2);
  EXPECT_TRUE(archive_exists(path));
  EXPECT_EQ(open_archive(path)->window_count(), 2);
}

// sqlite:///PATH names the file PATH (as tune's --study takes it); a URL of
// another scheme is refused by every entry point, naming the forms, and makes
// nothing (taken as a path it went through a folder named "postgresq:").
TEST(ArchiveStore, ASqliteUrlNamesItsFileAndAUrlOfAnotherSchemeIsRefused) {
  test::TempDir dir;
  const std::string file = (dir / "a.archive").string();
  const std::string url = "sqlite:///" + file;  // four slashes: an absolute path
  EXPECT_EQ(archive_location(url), file);
  EXPECT_EQ(archive_location(file), file);
  EXPECT_FALSE(archive_exists(url));
  store(*open_or_create_archive(url, test_model()), "/rec/one.wav", random_embeddings(2, 8, 1), 2);
  EXPECT_TRUE(std::filesystem::is_regular_file(file));
  EXPECT_TRUE(archive_exists(url));
  EXPECT_EQ(open_archive(url)->window_count(), 2);
  EXPECT_EQ(open_archive(file)->window_count(), 2);
  for (const std::string location : {std::string("postgresq://u@h/db"), std::string("file://x.archive"),
                                     std::string("sqlite:x.archive")}) {
    for (int call = 0; call < 4; ++call) {
      try {
        if (call == 0) (void)open_or_create_archive(location, test_model());
        if (call == 1) (void)open_archive(location);
        if (call == 2) (void)archive_exists(location);
        if (call == 3) (void)archive_location(location);
        ADD_FAILURE() << location << " call " << call << " accepted";
      } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind(location + ": ", 0), 0u) << what;
        EXPECT_NE(what.find("sqlite:///PATH"), std::string::npos) << what;
      }
    }
  }
  for (const char* folder : {"postgresq:", "file:"}) EXPECT_FALSE(std::filesystem::exists(folder)) << folder;
  // A path whose name holds "://" past a folder is still a path.
  const std::string odd = (dir / "odd://name.archive").string();
  std::filesystem::create_directories(dir / "odd:");
  EXPECT_FALSE(archive_exists(odd));
  (void)open_or_create_archive(odd, test_model());
  EXPECT_TRUE(archive_exists(odd));
}

TEST(ArchiveStore, AFailureDuringAFilesInsertLeavesTheArchiveAsItWas) {
  test::TempDir dir;
  const fs::path path = dir / "a.db";
  auto a = open_or_create_archive(path.string(), test_model());
  store(*a, "/rec/one.wav", random_embeddings(5, 8, 1), 5);
  for (int fail_at : {1, 2, 4, 300}) {
    int count = 0;
    set_archive_statement_hook([&] {
      if (++count == fail_at) throw Error("injected");
    });
    // 600 windows: more than one spool batch.
    const std::string e = test::error_of([&] { store(*a, "/rec/one.wav", random_embeddings(600, 8, 9), 600); });
    set_archive_statement_hook(nullptr);
    EXPECT_EQ(e, "injected");
    EXPECT_EQ(a->files().size(), 1u);
    EXPECT_EQ(a->file("/rec/one.wav")->windows, 5);
    EXPECT_EQ(a->window_count(), 5);
  }
  // A writer dropped before commit stores nothing.
  {
    auto w = a->begin_file(record("/rec/three.wav"));
    const auto e = random_embeddings(2, 8, 4);
    const double starts[] = {0, 0.5};
    w->add(starts, e.data(), 2);
  }
  EXPECT_FALSE(a->file("/rec/three.wav"));
}

TEST(ArchiveStore, AProcessKilledDuringAFilesInsertLeavesNoPartOfIt) {
  test::TempDir dir;
  const fs::path path = dir / "a.db";
  open_or_create_archive(path.string(), test_model());
  for (int kill_at : {3, 250, 599}) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto a = open_or_create_archive(path.string(), test_model());
      int count = 0;
      set_archive_statement_hook([&] {
        if (++count == kill_at) ::raise(SIGKILL);
      });
      store(*a, "/rec/long.wav", random_embeddings(600, 8, 5), 600);
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    auto a = open_archive(path.string());  // read-only: the hot journal is rolled back first
    EXPECT_FALSE(a->file("/rec/long.wav")) << kill_at;
    EXPECT_EQ(a->window_count(), 0);
  }
  // Then stored whole, once.
  auto a = open_or_create_archive(path.string(), test_model());
  store(*a, "/rec/long.wav", random_embeddings(600, 8, 5), 600);
  EXPECT_EQ(a->window_count(), 600);
}

TEST(ArchiveStore, AGroupCommitsItsRecordingsTogetherAndAFailedOneAlone) {
  test::TempDir dir;
  const fs::path path = dir / "a.db";
  auto a = open_or_create_archive(path.string(), test_model());
  a->write_group([&] {
    store(*a, "/rec/one.wav", random_embeddings(5, 8, 1), 5);
    int count = 0;
    set_archive_statement_hook([&] {
      if (++count == 4) throw Error("injected");
    });
    EXPECT_EQ(test::error_of([&] { store(*a, "/rec/two.wav", random_embeddings(9, 8, 2), 9); }), "injected");
    set_archive_statement_hook(nullptr);
    store(*a, "/rec/three.wav", random_embeddings(2, 8, 3), 2);
    // Not visible to another connection before the group commits.
    EXPECT_EQ(open_archive(path.string())->files().size(), 0u);
  });
  EXPECT_EQ(a->files().size(), 2u);
  EXPECT_FALSE(a->file("/rec/two.wav"));
  EXPECT_EQ(a->window_count(), 7);
  // An exception leaving the group undoes all of it.
  EXPECT_EQ(test::error_of([&] {
              a->write_group([&] {
                store(*a, "/rec/four.wav", random_embeddings(2, 8, 4), 2);
                throw Error("stop");
              });
            }),
            "stop");
  EXPECT_FALSE(a->file("/rec/four.wav"));
  // A kill inside a group: none of it.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto b = open_or_create_archive(path.string(), test_model());
    b->write_group([&] {
      store(*b, "/rec/five.wav", random_embeddings(2, 8, 5), 2);
      store(*b, "/rec/six.wav", random_embeddings(2, 8, 6), 2);
      ::raise(SIGKILL);
    });
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  auto c = open_archive(path.string());
  EXPECT_EQ(c->files().size(), 2u);
  EXPECT_EQ(c->window_count(), 7);
}

// A full disk inside a group: SQLite rolls the whole transaction back itself,
// so the recordings stored before in the group are gone too. index used to
// take it for that recording's failure alone, went on outside any
// transaction, and ended on a bare "cannot commit - no transaction is active".
TEST(ArchiveStore, AFullDiskInAGroupEndsTheGroupNamingTheDiskAndKeepsWhatWasCommitted) {
  test::TempDir dir;
  test::SmallDisk full(dir / "full", "512k");
  if (!full.mounted()) GTEST_SKIP() << full.why();
  const fs::path path = full / "a.db";
  std::string failure;
  bool lost = false, later_ran = false;
  std::size_t files_after = 0;
  std::int64_t windows_after = -1;
  {
    auto a = open_or_create_archive(path.string(), test_model());
    store(*a, "/rec/kept.wav", random_embeddings(5, 8, 1), 5);
    std::ofstream filler(full / "filler", std::ios::binary);  // what the archive leaves of the disk, nearly
    const std::string block(4096, '\0');
    const auto used = static_cast<std::streamoff>(fs::file_size(path));
    for (std::streamoff at = used; at < 512 * 1024 - 64 * 1024 && filler.write(block.data(), 4096); at += 4096) {
    }
    filler.close();
    try {
      a->write_group([&] {
        // As index does: one recording's failure is noted and the next one tried, a lost group is not.
        for (int i = 0; i < 40; ++i) {
          try {
            store(*a, "/rec/big" + std::to_string(i) + ".wav", random_embeddings(2000, 8, 2 + i), 2000);
          } catch (const GroupLost&) {
            throw;
          } catch (const Error&) {
            later_ran = true;
          }
        }
      });
    } catch (const GroupLost& e) {
      lost = true;
      failure = e.what();
    } catch (const Error& e) {
      failure = e.what();
    }
    fs::remove(full / "filler");
    files_after = a->files().size();
    windows_after = a->window_count();
  }
  full.unmount();
  EXPECT_TRUE(lost) << failure;
  EXPECT_NE(failure.find("the disk is full"), std::string::npos) << failure;
  EXPECT_NE(failure.find(path.string()), std::string::npos) << failure;
  EXPECT_FALSE(later_ran) << "a recording after the lost group was tried outside a transaction";
  EXPECT_EQ(files_after, 1u);  // what was committed before the group, and nothing of it
  EXPECT_EQ(windows_after, 5);
}

TEST(ArchiveStore, DamageIsNamedWithTheWayOut) {
  test::TempDir dir;
  const fs::path path = dir / "a.db";
  {
    auto a = open_or_create_archive(path.string(), test_model());
    store(*a, "/rec/one.wav", random_embeddings(3, 8, 1), 3);
  }
  const std::string way_out = "the archive is damaged; restore it from a copy, or index the recordings again";
  // A damaged window is mended by embedding its recording again (damaged_files finds it for index --update).
  const std::string window_way_out = "the archive is damaged; `oneshot-audio index --update --run RUN --archive " +
                                     path.string() + "` embeds its damaged recordings again, or restore it from a copy";
  auto scan_error = [&] { return test::error_of([&] { scan_all(*open_archive(path.string()), 2); }); };
  // The problem damaged_files names for the one recording, "" when none.
  auto damage_found = [&] {
    const auto damaged = open_archive(path.string())->damaged_files();
    EXPECT_LE(damaged.size(), 1u);
    if (damaged.empty()) return std::string();
    EXPECT_EQ(damaged.begin()->first, open_archive(path.string())->files().at(0).id);
    return damaged.begin()->second;
  };
  EXPECT_EQ(damage_found(), "");
  sql(path, "UPDATE windows SET embedding = x'0102' WHERE id = 2");
  std::string e = scan_error();
  EXPECT_NE(e.find(path.string() + ": sound archive: the embedding of window 2 (table windows, column embedding) has "
                                   "2 bytes; the archive's 8 values of float32 take 32 (40 with their checksum)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(window_way_out), std::string::npos) << e;
  EXPECT_EQ(damage_found(), "the embedding of window 2 (table windows, column embedding) has 2 bytes; the archive's "
                            "8 values of float32 take 32 (40 with their checksum)");
  // A NaN (float32 0x7fc00000) and a huge value.
  sql(path, "UPDATE windows SET embedding = x'0000c07f00000000000000000000000000000000000000000000000000000000' WHERE id = 2");
  e = scan_error();
  EXPECT_NE(e.find("window 2 (table windows, column embedding) holds nan at value 1"), std::string::npos) << e;
  EXPECT_EQ(damage_found(), "the embedding of window 2 (table windows, column embedding) holds nan at value 1");
  sql(path, "UPDATE windows SET embedding = 'text' WHERE id = 2");
  EXPECT_NE(scan_error().find("holds text, not an embedding blob"), std::string::npos);
  sql(path, "UPDATE windows SET embedding = zeroblob(32), start_s = 'x' WHERE id = 2");
  EXPECT_NE(scan_error().find("window 2: its start_s \"x\" (table windows) is not a number of seconds in [0, 1e9]"),
            std::string::npos);
  // A start no recording has (a review page would cut its clip at sample 4e312).
  sql(path, "UPDATE windows SET start_s = 1e308 WHERE id = 2");
  e = scan_error();
  EXPECT_NE(e.find("window 2: its start_s"), std::string::npos) << e;
  EXPECT_NE(e.find("is not a number of seconds in [0, 1e9]"), std::string::npos) << e;
  EXPECT_EQ(damage_found().rfind("window 2: its start_s \"", 0), 0u);
  EXPECT_NE(test::error_of([&] { (void)open_archive(path.string())->windows({2}); }).find("window 2: its start_s"),
            std::string::npos);
  sql(path, "UPDATE windows SET start_s = 1 WHERE id = 2");
  // A recording without a path is named, not searched as "".
  sql(path, "UPDATE files SET path = '' WHERE path = '/rec/one.wav'");
  e = test::error_of([&] { (void)open_archive(path.string())->files(); });
  EXPECT_NE(e.find("has an empty path (table files)"), std::string::npos) << e;
  e = test::error_of([&] { (void)open_archive(path.string())->windows({2}); });
  EXPECT_NE(e.find("has an empty path (table files)"), std::string::npos) << e;
  sql(path, "UPDATE files SET path = '/rec/one.wav' WHERE path = ''");
  EXPECT_EQ(scan_error(), "");
  // Each stored embedding carries its checksum: a value changed in place is named, not searched
  // (40 zero bytes: values of 0, which pass every other check, and a checksum of 0).
  EXPECT_EQ(count(path, "SELECT COUNT(*) FROM windows WHERE length(embedding) = 40"), 2);  // window 2 rewritten above
  sql(path, "UPDATE windows SET embedding = zeroblob(40) WHERE id = 3");
  e = scan_error();
  EXPECT_NE(e.find("the embedding of window 3 (table windows, column embedding) does not match its checksum"),
            std::string::npos)
      << e;
  EXPECT_NE(damage_found().find("window 3 (table windows, column embedding) does not match its checksum"),
            std::string::npos);
  sql(path, "UPDATE windows SET embedding = zeroblob(32) WHERE id = 3");  // as stored before the checksum: read
  EXPECT_EQ(scan_error().find("window 3"), std::string::npos);
  EXPECT_EQ(damage_found(), "");
  // A window deleted (by another program) leaves its recording short: embedded again by index --update.
  sql(path, "CREATE TABLE saved AS SELECT * FROM windows WHERE id = 1; DELETE FROM windows WHERE id = 1");
  EXPECT_EQ(damage_found(), "it holds 2 windows, its record (table files) says 3");
  sql(path, "INSERT INTO windows SELECT * FROM saved; DROP TABLE saved");
  EXPECT_EQ(damage_found(), "");
  for (const auto& [key, value, why] :
       {std::tuple{"embedding_dim", "0", "its embedding_dim \"0\" (table meta) is not a whole number in [1, 1.67772e+07]"},
        std::tuple{"precision", "float8", "its precision \"float8\" (table meta) is not float32 or float16"},
        std::tuple{"hop_s", "nan", "its hop_s \"nan\" (table meta) is not a number"}}) {
    sql(path, "CREATE TABLE IF NOT EXISTS saved AS SELECT * FROM meta");
    sql(path, std::string("UPDATE meta SET value = '") + value + "' WHERE key = '" + key + "'");
    e = test::error_of([&] { open_archive(path.string()); });
    EXPECT_NE(e.find(why), std::string::npos) << e;
    EXPECT_NE(e.find(way_out), std::string::npos) << e;
    sql(path, "DELETE FROM meta; INSERT INTO meta SELECT * FROM saved; DROP TABLE saved");
  }
  EXPECT_EQ(test::error_of([&] { open_archive(path.string()); }), "");
  // A column renamed by another program is named when the archive opens, as damage.
  sql(path, "ALTER TABLE windows RENAME COLUMN embedding TO e");
  e = test::error_of([&] { open_archive(path.string()); });
  EXPECT_NE(e.find(path.string() + ": sound archive: its table windows has no column embedding: " + way_out),
            std::string::npos)
      << e;
  sql(path, "ALTER TABLE windows RENAME COLUMN e TO embedding");
  EXPECT_EQ(test::error_of([&] { open_archive(path.string()); }), "");

  // Other files: another program's SQLite database, a class library, text, nothing, an empty file.
  sql(dir / "other.db", "CREATE TABLE t(x)");
  e = test::error_of([&] { open_archive((dir / "other.db").string()); });
  EXPECT_NE(e.find("is a SQLite database of another program (tables t), not a sound archive: it is left as it is"),
            std::string::npos)
      << e;
  EXPECT_NE(test::error_of([&] { open_or_create_archive((dir / "other.db").string(), test_model()); })
                .find("another program"),
            std::string::npos);
  ClassLibrary::open_or_create(dir / "lib.db", LibraryModel{"/runs/a", "f00d", 8, 1.0, 16000});
  e = test::error_of([&] { open_archive((dir / "lib.db").string()); });
  EXPECT_NE(e.find("is a class library (made by `oneshot-audio enroll`, read by classify and detect), not a sound "
                   "archive"),
            std::string::npos)
      << e;
  // A truncated archive is damage, not another kind of file.
  {
    auto a = open_or_create_archive((dir / "cut.db").string(), test_model());
    store(*a, "/rec/one.wav", random_embeddings(300, 8, 1), 300);
  }
  fs::resize_file(dir / "cut.db", 4096);
  e = test::error_of([&] { open_archive((dir / "cut.db").string()); });
  EXPECT_NE(e.find("cut.db: sound archive is damaged (database disk image is malformed): restore it from a copy"),
            std::string::npos)
      << e;
  test::write_text(dir / "notes.txt", "not a database at all, just some words in a file of text..................");
  EXPECT_NE(test::error_of([&] { open_archive((dir / "notes.txt").string()); }).find("not a sound archive"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { open_archive((dir / "missing.db").string()); }).find("no such file"),
            std::string::npos);
  test::write_text(dir / "empty.db", "");
  EXPECT_NE(test::error_of([&] { open_archive((dir / "empty.db").string()); }).find("empty SQLite file"),
            std::string::npos);
  // A PostgreSQL URL that cannot be reached: an error that does not echo its password.
  const std::string pg = test::error_of([&] { open_archive("postgresql://user:secret@127.0.0.1:1/db"); });
  EXPECT_NE(pg, "");
  EXPECT_EQ(pg.find("secret"), std::string::npos) << pg;
}

TEST(ArchiveStore, ValuesNoModelGivesAreRefusedBeforeTheyAreStored) {
  test::TempDir dir;
  auto a = open_or_create_archive((dir / "a.db").string(), test_model(), true);
  auto w = a->begin_file(record("/rec/x.wav"));
  std::vector<float> e(8, 0.1f);
  const double start = 0;
  e[3] = std::numeric_limits<float>::infinity();
  EXPECT_NE(test::error_of([&] { w->add(&start, e.data(), 1); }).find("/rec/x.wav at 0 s is not finite (value 4)"),
            std::string::npos);
  e[3] = 70000.f;  // beyond float16
  EXPECT_NE(test::error_of([&] { w->add(&start, e.data(), 1); }).find("float16's range: index without --half"),
            std::string::npos);
  e[3] = 0.f;
  const double bad = -1;
  EXPECT_NE(test::error_of([&] { w->add(&bad, e.data(), 1); }).find("is not a number of seconds in [0, 1e9]"),
            std::string::npos);
  const double far_off = 1e308;
  EXPECT_NE(test::error_of([&] { w->add(&far_off, e.data(), 1); }).find("is not a number of seconds in [0, 1e9]"),
            std::string::npos);
}

TEST(ArchiveStore, FileIdentityChangesWithTheContentsAndMtime) {
  test::TempDir dir;
  test::write_text(dir / "a.wav", std::string(3000000, 'a'));
  const FileRecord one = file_identity(dir / "a.wav");
  EXPECT_EQ(one.size, 3000000);
  EXPECT_EQ(one.path, (dir / "a.wav").string());
  EXPECT_TRUE(same_identity(one, file_identity(dir / "a.wav")));
  // A byte changed in the first MiB, size and mtime put back: the hash differs.
  const auto mtime = fs::last_write_time(dir / "a.wav");
  std::string text(3000000, 'a');
  text[10] = 'b';
  test::write_text(dir / "a.wav", text);
  fs::last_write_time(dir / "a.wav", mtime);
  const FileRecord two = file_identity(dir / "a.wav");
  EXPECT_EQ(two.mtime_ns, one.mtime_ns);
  EXPECT_EQ(two.size, one.size);
  EXPECT_NE(two.head_hash, one.head_hash);
  EXPECT_FALSE(same_identity(one, two));
  EXPECT_NE(test::error_of([&] { file_identity(dir / "none.wav"); }).find("none.wav: cannot read"), std::string::npos);
  EXPECT_NE(test::error_of([&] { file_identity(dir.path()); }).find("is not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace oneshot::archive
