// index on a PostgreSQL archive from several runs at once (issue 19 item 1,
// many hosts), on the server named by ONESHOT_TEST_POSTGRES
// (scripts/postgres-test-server.sh, started by scripts/test.sh; skipped when
// it is not set): two index runs share the demo's recordings; one is SIGKILLed
// mid-way (ONESHOT_TEST_ARCHIVE_FAULT=N:kill, between a recording's claim and
// its store: its claim is left to go stale); a third, started after the kill,
// and the surviving one finish. The archive then holds every window of a
// SQLite index of the same recordings exactly once, with the same embeddings;
// no claim is left; search gives the same hits from both archives.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>
#include <pqxx/pqxx>
#include <thread>

#include <unistd.h>

#include "archive/archive_store.h"
#include "support/demo_run.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

std::string q(const std::string& s) { return "'" + s + "'"; }

struct Window {
  int seen = 0;
  std::vector<float> embedding;
};

// (path, start in microseconds) -> the window, from any archive.
std::map<std::pair<std::string, long long>, Window> windows_of(const std::string& location) {
  auto a = archive::open_archive(location);
  std::map<std::int64_t, std::string> paths;
  for (const auto& f : a->files()) paths[f.id] = f.path;
  const auto dim = static_cast<std::size_t>(a->model().embedding_dim);
  std::map<std::pair<std::string, long long>, Window> out;
  a->scan(1000, [&](const archive::WindowBlock& b) {
    for (std::size_t i = 0; i < b.count(); ++i) {
      Window& w = out[{paths.at(b.file_ids[i]), std::llround(b.starts_s[i] * 1e6)}];
      ++w.seen;
      w.embedding.assign(b.embeddings.begin() + static_cast<std::ptrdiff_t>(i * dim),
                         b.embeddings.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
    }
  });
  return out;
}

TEST(ArchivePostgresCli, TwoRunsOneKilledAndAThirdStoreEveryWindowExactlyOnce) {
  const char* server = std::getenv("ONESHOT_TEST_POSTGRES");
  if (!server || !*server) GTEST_SKIP() << "set ONESHOT_TEST_POSTGRES to a PostgreSQL URL (scripts/postgres-test-server.sh)";
  const fs::path demo = test::shared_demo();
  ASSERT_FALSE(demo.empty());
  test::TempDir tmp;
  // The recordings: every clip of the demo's test classes, and its minute-long take.
  const fs::path recordings = tmp.path() / "recordings";
  for (const auto& c : test::demo_test_classes(demo))
    for (const auto& clip : test::demo_clips_of(demo, c)) {
      fs::create_directories(recordings / c);
      fs::copy_file(clip, recordings / c / clip.filename());
    }
  fs::copy_file(demo / "long" / "recording.wav", recordings / "long.wav");
  const std::string cli = test::cli_path().string();
  const std::string run = q((demo / "run").string());

  const std::string sqlite = (tmp.path() / "reference.archive").string();
  std::string out;
  ASSERT_EQ(test::run_command(cli + " index --quiet --run " + run + " --archive " + q(sqlite) + " " +
                                  q(recordings.string()),
                              &out),
            0)
      << out;

  const std::string name = "cli_" + std::to_string(::getpid());
  const std::string url = std::string(server) + (std::string(server).find('?') == std::string::npos ? "?" : "&") +
                          "archive=" + name;
  struct Drop {
    std::string server, name;
    ~Drop() {
      try {
        pqxx::connection c(server);
        pqxx::work tx(c);
        tx.exec("DROP SCHEMA IF EXISTS " + name + " CASCADE");
        tx.commit();
      } catch (const std::exception&) {
      }
    }
  } drop{server, name};
  auto stored_files = [&]() -> long {
    try {
      pqxx::connection c(server);
      pqxx::work tx(c);
      return tx.exec("SELECT COUNT(*) FROM " + name + ".files")[0][0].as<long>();
    } catch (const std::exception&) {
      return 0;  // not made yet
    }
  };
  // Claims go stale 3 s after a run's last heartbeat (60 s by default).
  const std::string env = "ONESHOT_ARCHIVE_CLAIM_TIMEOUT=3 ";
  const std::string index = cli + " index --quiet --run " + run + " --archive " + q(url) + " " + q(recordings.string());
  // A PostgreSQL store's writing statements for a recording of one batch: its claim, then in the
  // store's transaction the old record's delete, the record, the windows. The 22nd: the 6th
  // recording's store has begun after its claim was committed; the kill leaves that claim behind.
  std::string out_a, out_b, out_c;
  int status_a = 0, status_b = 0, status_c = 0;
  std::thread a([&] { status_a = test::run_command(env + "ONESHOT_TEST_ARCHIVE_FAULT=22:kill " + index, &out_a); });
  for (int i = 0; i < 600 && stored_files() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::thread b([&] { status_b = test::run_command(env + index, &out_b); });
  a.join();
  EXPECT_NE(status_a, 0) << out_a;
  EXPECT_EQ(out_a.find("indexed"), std::string::npos) << "the first run was not killed mid-way:\n" << out_a;
  const long after_kill = stored_files();
  // The killed run's claim is left behind, its heartbeat stopped (the survivor's beat every 0.75 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  long stale = -1;
  {
    pqxx::connection conn(server);
    pqxx::work tx(conn);
    stale = tx.exec("SELECT COUNT(*) FROM " + name + ".claims WHERE heartbeat < extract(epoch from clock_timestamp()) - 1.4")[0][0].as<long>();
  }
  EXPECT_EQ(stale, 1) << "the killed run left no claim to take over";
  std::thread c([&] { status_c = test::run_command(env + index, &out_c); });
  b.join();
  c.join();
  ASSERT_EQ(status_b, 0) << out_b;
  ASSERT_EQ(status_c, 0) << out_c;
  EXPECT_GE(after_kill, 5);

  const auto reference = windows_of(sqlite);
  const auto shared = windows_of(url);
  ASSERT_GT(reference.size(), 100u);
  EXPECT_EQ(shared.size(), reference.size());
  for (const auto& [key, w] : shared) {
    EXPECT_EQ(w.seen, 1) << key.first << " at " << key.second << " us is stored " << w.seen << " times";
    const auto it = reference.find(key);
    ASSERT_NE(it, reference.end()) << key.first << " at " << key.second << " us is not in the SQLite index";
    ASSERT_EQ(w.embedding.size(), it->second.embedding.size());
    for (std::size_t d = 0; d < w.embedding.size(); ++d)
      ASSERT_NEAR(w.embedding[d], it->second.embedding[d], 1e-5) << key.first << " " << key.second;
  }
  auto pg = archive::open_archive(url);
  auto lite = archive::open_archive(sqlite);
  EXPECT_EQ(pg->files().size(), lite->files().size());
  for (const auto& f : lite->files()) {
    const auto g = pg->file(f.path);
    ASSERT_TRUE(g) << f.path;
    EXPECT_EQ(g->windows, f.windows) << f.path;
    EXPECT_EQ(g->head_hash, f.head_hash) << f.path;
  }
  {
    pqxx::connection conn(server);
    pqxx::work tx(conn);
    EXPECT_EQ(tx.exec("SELECT COUNT(*) FROM " + name + ".claims")[0][0].as<long>(), 0) << "a claim was left";
  }
  // The runs that finished say what the others did; a fourth finds nothing to do.
  EXPECT_NE((out_b + out_c).find("indexed by other index runs"), std::string::npos) << out_b << out_c;
  std::string again;
  ASSERT_EQ(test::run_command(index, &again), 0) << again;
  EXPECT_NE(again.find("indexed 0 recordings"), std::string::npos) << again;
  EXPECT_NE(again.find(std::to_string(lite->files().size()) + " already indexed and unchanged"), std::string::npos)
      << again;
  // search reads the PostgreSQL archive as it reads the SQLite one.
  const std::string example = q((demo / "examples").string()) + "/*.wav";
  std::string from_pg, from_lite;
  const std::string search = cli + " search --quiet --top 8 --format csv --example $(ls " + example + " | head -1)";
  ASSERT_EQ(test::run_command(search + " --archive " + q(url) + " 2>/dev/null", &from_pg), 0) << from_pg;
  ASSERT_EQ(test::run_command(search + " --archive " + q(sqlite) + " 2>/dev/null", &from_lite), 0) << from_lite;
  // The same hits: rank, file, onset and offset exactly, the score within what the embeddings may
  // differ by above (1e-5 a dimension: the runs embed a recording in differently composed batches,
  // which round differently); window ids may differ.
  auto rows_of = [](const std::string& csv) {
    std::vector<std::pair<std::string, double>> rows;  // (rank,file,onset,offset), score
    std::stringstream in(csv);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::vector<std::string> fields;
      std::stringstream cells(line);
      for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
      if (fields.size() < 5) return std::vector<std::pair<std::string, double>>{{line, 0.0}};
      rows.emplace_back(fields[0] + "," + fields[1] + "," + fields[2] + "," + fields[3], std::stod(fields[4]));
    }
    return rows;
  };
  const auto pg_rows = rows_of(from_pg), lite_rows = rows_of(from_lite);
  ASSERT_EQ(pg_rows.size(), lite_rows.size()) << from_pg << from_lite;
  for (std::size_t i = 0; i < pg_rows.size(); ++i) {
    EXPECT_EQ(pg_rows[i].first, lite_rows[i].first) << from_pg << from_lite;
    EXPECT_NEAR(pg_rows[i].second, lite_rows[i].second, 1e-4) << pg_rows[i].first;
  }
  EXPECT_GT(std::count(from_pg.begin(), from_pg.end(), '\n'), 3);
}

}  // namespace
}  // namespace oneshot
