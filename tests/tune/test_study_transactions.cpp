// Studies read as one snapshot and opened read-only by readers (issue 22), on
// SQLite and on PostgreSQL when ONESHOT_TEST_POSTGRES is set: a trial that a
// worker finishes while a report reads is in every part of that report or in
// none; a read-only study refuses every change; a reader creates no file, and
// a SQLite file of another program is named and left alone by readers and
// writers alike.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "core/config.h"
#include "core/error.h"
#include "support/test_support.h"
#include "tune/sampler.h"
#include "tune/study.h"

namespace oneshot::tune {
namespace {
namespace fs = std::filesystem;
using test::error_of;

SearchSpace small_space() {
  return SearchSpace::parse_toml("[model]\nn_filters = { choice = [16, 32, 64] }\n", "test-space");
}

TuneConfig random_config() {
  TuneConfig c;
  c.sampler = "random";
  return c;
}

void run_trial(Study& study, double value) {
  RandomSampler sampler;
  const Claim c = study.claim(sampler, random_config(), "w");
  ASSERT_TRUE(study.report(c, "w", 1, value + 1));
  ASSERT_TRUE(study.finish(c, "w", TrialState::complete, value, ""));
}

std::string bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class StudySnapshot : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      const char* url = std::getenv("ONESHOT_TEST_POSTGRES");
      if (!url || !*url) GTEST_SKIP() << "set ONESHOT_TEST_POSTGRES to a PostgreSQL URL (scripts/postgres-test-server.sh)";
      url_ = url;
    } else {
      url_ = "sqlite:///" + (dir_ / "study.db").string();
    }
    name_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(getpid()) + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    for (auto& c : name_)
      if (c == '/') c = '_';
  }
  void TearDown() override {
    if (GetParam() != "postgres" || url_.empty()) return;
    try {
      auto db = open_database(url_);
      db->execute("DELETE FROM tune_trial_values WHERE study = $1", {name_});
      db->execute("DELETE FROM tune_trials WHERE study = $1", {name_});
      db->execute("DELETE FROM tune_studies WHERE name = $1", {name_});
    } catch (const Error&) {
    }
  }

  test::TempDir dir_;
  std::string url_, name_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StudySnapshot, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(StudySnapshot, ATrialFinishedDuringAReadIsInNoPartOfIt) {
  const SearchSpace space = small_space();
  Study writer(url_, name_, &space);
  run_trial(writer, 5.0);
  run_trial(writer, 4.0);
  Study reader = Study::open_read_only(url_, name_);
  std::size_t before = 0, after = 0;
  std::optional<TrialRecord> best;
  std::vector<TrialRecord> trials;
  reader.read([&] {
    before = reader.trials().size();
    run_trial(writer, 1.0);  // committed by another connection, between two reads
    trials = reader.trials();
    after = trials.size();
    best = reader.best();
  });
  EXPECT_EQ(before, 2u);
  EXPECT_EQ(after, 2u);
  ASSERT_TRUE(best);
  EXPECT_EQ(*best->value, 4.0);  // the best of the snapshot, one of its trials
  for (const auto& t : trials) EXPECT_EQ(t.epoch_values.size(), 1u) << "trial " << t.number;
  // The next read sees it.
  EXPECT_EQ(reader.trials().size(), 3u);
  EXPECT_EQ(*reader.best()->value, 1.0);
}

TEST_P(StudySnapshot, AReadOnlyStudyRefusesEveryChange) {
  const SearchSpace space = small_space();
  {
    Study writer(url_, name_, &space);
    run_trial(writer, 2.0);
  }
  Study reader = Study::open_read_only(url_, name_);
  EXPECT_EQ(reader.space(), space);
  RandomSampler sampler;
  EXPECT_FALSE(error_of([&] { reader.claim(sampler, random_config(), "r"); }).empty());
  EXPECT_EQ(reader.trials().size(), 1u);
  // A study name that is not there: named, with the studies that are, and not created.
  const std::string e = error_of([&] { Study::open_read_only(url_, name_ + "-typo"); });
  EXPECT_NE(e.find("no study named \"" + name_ + "-typo\""), std::string::npos) << e;
  EXPECT_NE(e.find(name_), std::string::npos) << e;
  EXPECT_FALSE(error_of([&] { Study(url_, name_ + "-typo", nullptr); }).empty());
}

TEST(StudyReadOnly, AMissingFileIsNamedAndNotCreated) {
  test::TempDir dir;
  const fs::path typo = dir / "studdy.db";
  for (const std::string url : {typo.string(), "sqlite:///" + typo.string()}) {
    const std::string e = error_of([&] { Study::open_read_only(url, "default"); });
    EXPECT_NE(e.find(typo.string() + ": no such file"), std::string::npos) << e;
    EXPECT_FALSE(fs::exists(typo));
  }
  // An empty file (a SQLite database of no tables): not a study, and left empty.
  test::write_text(typo, "");
  const std::string e = error_of([&] { Study::open_read_only(typo.string(), "default"); });
  EXPECT_NE(e.find("not a tuning study"), std::string::npos) << e;
  EXPECT_EQ(fs::file_size(typo), 0u);
}

void make_foreign(const fs::path& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

TEST(StudyReadOnly, ASqliteFileOfAnotherProgramIsNamedAndLeftAlone) {
  test::TempDir dir;
  const SearchSpace space = small_space();
  const fs::path notes = dir / "notes.sqlite";
  make_foreign(notes, "CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes(text) VALUES('hi');");
  const fs::path app = dir / "app.sqlite";
  make_foreign(app, "PRAGMA application_id = 1234; CREATE TABLE tune_studies(x);");
  for (const fs::path& file : {notes, app}) {
    SCOPED_TRACE(file.string());
    const std::string before = bytes(file);
    for (const std::string& e : {error_of([&] { Study::open_read_only(file.string(), "default"); }),
                                 error_of([&] { Study(file.string(), "default", &space); })}) {
      EXPECT_EQ(e.rfind(file.string() + ": is a SQLite database of another program", 0), 0u) << e;
    }
    EXPECT_EQ(bytes(file), before);
  }
  // A study file says what it is.
  const fs::path study = dir / "study.db";
  { Study s(study.string(), "default", &space); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(study.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kStudyApplicationId);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// One worker's whole life in a study: create it, claim a trial, report two
// epochs, finish it.
void worker_life(const std::string& url) {
  const SearchSpace space = small_space();
  Study study(url, "k", &space);
  RandomSampler sampler;
  const Claim c = study.claim(sampler, random_config(), "w");
  study.report(c, "w", 1, 3.0);
  study.report(c, "w", 2, 2.0);
  study.finish(c, "w", TrialState::complete, 2.0, "");
}

// The study as (exists, trials, state of trial 0, its epoch values).
std::string state_of(const std::string& path) {
  if (!fs::exists(path)) return "no file";
  try {
    Study s = Study::open_read_only(path, "k");
    const auto trials = s.trials();
    if (trials.empty()) return "study, no trial";
    std::string out = std::to_string(trials.size()) + " trial " + state_name(trials[0].state) + ", values";
    for (double v : trials[0].epoch_values) out += " " + std::to_string(static_cast<int>(v));
    if (trials[0].value) out += ", value " + std::to_string(static_cast<int>(*trials[0].value));
    return out;
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("not a tuning study") != std::string::npos) return "no study";
    // The tables without the study: what a kill between creating them and the study left (two transactions).
    if (what.find("no study named") != std::string::npos) return "study tables without the study";
    return "error: " + what;
  }
}

TEST(StudyKill, AWorkerKilledAtAnyWritingStatementLeavesTheStudyBeforeOrAfterThatChange) {
  // Every state a kill may leave: each one a whole change of worker_life.
  const std::set<std::string> whole = {"no file",
                                       "no study",
                                       "study, no trial",
                                       "1 trial running, values",
                                       "1 trial running, values 3",
                                       "1 trial running, values 3 2",
                                       "1 trial complete, values 3 2, value 2"};
  int kills = 0;
  for (int n = 1; n < 40; ++n) {
    test::TempDir dir;
    const std::string path = (dir / "study.db").string();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv("ONESHOT_TEST_STUDY_FAULT", (std::to_string(n) + ":kill").c_str(), 1);
      try {
        worker_life(path);
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const std::string state = state_of(path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {  // n is past the last writing statement
      EXPECT_EQ(state, "1 trial complete, values 3 2, value 2");
      break;
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "statement " << n;
    ++kills;
    EXPECT_TRUE(whole.count(state)) << "killed at writing statement " << n << ": " << state;
    // And the study goes on from there.
    if (state != "no file") {
      worker_life(path);
      EXPECT_TRUE(Study::open_read_only(path, "k").best()) << "after a kill at writing statement " << n;
    }
  }
  EXPECT_GE(kills, 8) << "schema, study, claim, two reports of two statements, finish";
}

// A reader leaves nothing beside the study: a SQLITE_OPEN_READONLY connection
// cannot checkpoint a WAL database, so it left the -wal and -shm files it
// made (tune-report left them after every report).
TEST(StudyReadOnly, AReadLeavesNoWalOrShmFileAndTheStudyAsItWas) {
  test::TempDir dir;
  const std::string path = (dir / "study.db").string();
  const SearchSpace space = small_space();
  {
    Study study(path, "k", &space);
    run_trial(study, 2.0);
  }
  auto beside = [&] { return fs::exists(path + "-wal") || fs::exists(path + "-shm"); };
  ASSERT_FALSE(beside()) << "the writer's own close removes them";
  const std::string before = bytes(path);
  {
    Study reader = Study::open_read_only(path, "k");
    reader.read([&] {
      EXPECT_EQ(reader.trials().size(), 1u);
      EXPECT_TRUE(reader.best());
    });
    EXPECT_FALSE(error_of([&] { reader.finish(Claim{}, "w", TrialState::failed, std::nullopt, "x"); }).empty());
  }
  EXPECT_FALSE(fs::exists(path + "-wal"));
  EXPECT_FALSE(fs::exists(path + "-shm"));
  EXPECT_TRUE(bytes(path) == before) << "the study file changed";
  // With a worker connected meanwhile: its files stay (it is using them), and it goes on after the reader closed.
  Study worker(path, "k", nullptr);
  { EXPECT_EQ(Study::open_read_only(path, "k").trials().size(), 1u); }
  run_trial(worker, 1.0);
  EXPECT_EQ(Study::open_read_only(path, "k").trials().size(), 2u);
}

TEST(StudyKill, AFailureInsideAReportLeavesNeitherItsHeartbeatNorItsValue) {
  test::TempDir dir;
  const std::string path = (dir / "study.db").string();
  const SearchSpace space = small_space();
  Study study(path, "k", &space);
  RandomSampler sampler;
  const Claim c = study.claim(sampler, random_config(), "w");
  const double beat_before = study.trials()[0].heartbeat;
  // The heartbeat's UPDATE runs, then the value's INSERT fails (a constraint): neither stays.
  auto raw = open_sqlite(path);
  raw->execute("CREATE TRIGGER no_values BEFORE INSERT ON tune_trial_values BEGIN SELECT RAISE(ABORT, 'no'); END");
  ::usleep(20000);
  EXPECT_THROW(study.report(c, "w", 1, 1.0), Error);
  const auto t = study.trials()[0];
  EXPECT_TRUE(t.epoch_values.empty());
  EXPECT_EQ(t.heartbeat, beat_before) << "the report's heartbeat was kept without its value";
}

}  // namespace
}  // namespace oneshot::tune
