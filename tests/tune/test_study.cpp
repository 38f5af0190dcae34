// Studies and workers on SQLite, and on PostgreSQL when ONESHOT_TEST_POSTGRES
// holds a connection URL (scripts/postgres-test-server.sh starts one).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "support/test_support.h"
#include "tune/pruner.h"
#include "tune/study.h"
#include "tune/test_functions.h"
#include "tune/worker.h"

namespace oneshot::tune {
namespace {

using namespace std::chrono_literals;

// A space of run-config keys, so best.toml can be checked with Config.
SearchSpace config_space() {
  return SearchSpace::parse_toml(R"(
[model]
n_filters = { choice = [16, 32, 64] }
[train]
learning_rate = { loguniform = [1e-5, 1e-1] }
)", "test-space");
}

double config_objective_value(const Overrides& p) {
  const double lr = std::log10(p.number("train.learning_rate")) + 3;  // best at 1e-3
  return lr * lr + p.number("model.n_filters") / 100.0;
}

TuneConfig quick_config() {
  TuneConfig c;
  c.n_startup_jobs = 3;
  c.heartbeat_seconds = 2;  // long enough that a loaded machine never looks dead
  c.seed = 11;
  return c;
}

// Appends "trial pid" to a file; O_APPEND keeps lines from processes whole.
void log_run(const std::filesystem::path& file, int trial) {
  const std::string line = std::to_string(trial) + " " + std::to_string(getpid()) + "\n";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

std::map<int, int> runs_per_trial(const std::filesystem::path& file) {
  std::map<int, int> runs;
  std::ifstream in(file);
  int trial, pid;
  while (in >> trial >> pid) runs[trial]++;
  return runs;
}

WorkerOptions quiet(std::string worker = {}) {
  WorkerOptions o;
  o.worker = std::move(worker);
  o.log = [](const std::string&) {};
  return o;
}

class StudyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      const char* url = std::getenv("ONESHOT_TEST_POSTGRES");
      if (!url || !*url) GTEST_SKIP() << "set ONESHOT_TEST_POSTGRES to a PostgreSQL URL (scripts/postgres-test-server.sh)";
      url_ = url;
    } else {
      url_ = "sqlite:///" + (dir_ / "study.db").string();
    }
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = std::string(info->name()) + "-" + std::to_string(getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
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

INSTANTIATE_TEST_SUITE_P(Backends, StudyTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(StudyTest, CreatesThenReopensWithTheStoredSpace) {
  const auto space = config_space();
  EXPECT_THROW(Study(url_, name_, nullptr), Error);  // does not exist yet
  { Study created(url_, name_, &space); }
  Study reopened(url_, name_, nullptr);
  EXPECT_EQ(reopened.space(), space);
  const auto other = branin_function().space;
  try {
    Study mismatch(url_, name_, &other);
    FAIL() << "a different space was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different search space"), std::string::npos);
  }
}

TEST_P(StudyTest, ClaimReportFinishAreRecorded) {
  const auto space = config_space();
  Study study(url_, name_, &space);
  const auto sampler = make_sampler(quick_config());
  const Claim c = study.claim(*sampler, quick_config(), "w1");
  EXPECT_EQ(c.number, 0);
  EXPECT_EQ(c.attempt, 1);
  EXPECT_FALSE(c.rerun);
  EXPECT_TRUE(study.report(c, "w1", 1, 0.75));
  EXPECT_TRUE(study.report(c, "w1", 2, 0.5));
  EXPECT_FALSE(study.report(c, "someone-else", 3, 0.1));  // not that worker's trial
  EXPECT_TRUE(study.finish(c, "w1", TrialState::complete, 0.5, ""));
  EXPECT_FALSE(study.finish(c, "w1", TrialState::complete, 0.4, ""));  // finished once only

  const Claim c2 = study.claim(*sampler, quick_config(), "w2");
  EXPECT_EQ(c2.number, 1);
  ASSERT_TRUE(study.finish(c2, "w2", TrialState::failed, std::nullopt, "too deep for the input"));

  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::complete);
  EXPECT_EQ(trials[0].value, 0.5);
  EXPECT_EQ(trials[0].epoch_values, (std::vector<double>{0.75, 0.5}));
  EXPECT_EQ(trials[0].worker, "w1");
  EXPECT_EQ(trials[0].params, c.params);
  EXPECT_TRUE(trials[0].finished.has_value());
  EXPECT_GE(*trials[0].finished, trials[0].started);
  EXPECT_EQ(trials[1].state, TrialState::failed);
  EXPECT_EQ(trials[1].reason, "too deep for the input");
  EXPECT_FALSE(trials[1].value.has_value());
  ASSERT_TRUE(study.best().has_value());
  EXPECT_EQ(study.best()->number, 0);
  EXPECT_EQ(study.values_at_epoch(2, 99), std::vector<double>{0.5});
  EXPECT_TRUE(study.values_at_epoch(2, 0).empty());
}

TEST_P(StudyTest, ExpiredTrialIsReRunAndTheStaleWorkerIgnored) {
  const auto space = config_space();
  Study study(url_, name_, &space);
  auto config = quick_config();
  config.heartbeat_seconds = 0.05;
  const auto sampler = make_sampler(config);
  const Claim stale = study.claim(*sampler, config, "dead");
  ASSERT_TRUE(study.report(stale, "dead", 1, 0.9));
  std::this_thread::sleep_for(200ms);
  const Claim again = study.claim(*sampler, config, "alive");
  EXPECT_TRUE(again.rerun);
  EXPECT_EQ(again.number, stale.number);
  EXPECT_EQ(again.attempt, 2);
  EXPECT_EQ(again.params, stale.params);
  EXPECT_FALSE(study.beat(stale, "dead"));
  EXPECT_FALSE(study.finish(stale, "dead", TrialState::complete, 0.1, ""));
  EXPECT_TRUE(study.finish(again, "alive", TrialState::complete, 0.2, ""));
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].value, 0.2);
  EXPECT_EQ(trials[0].attempts, 2);
  EXPECT_TRUE(trials[0].epoch_values.empty());  // the dead run's epochs were cleared
  EXPECT_NE(trials[0].reason.find("worker dead stopped sending heartbeats"), std::string::npos);
}

TEST_P(StudyTest, ExpiredTrialFailsAfterMaxAttempts) {
  const auto space = config_space();
  Study study(url_, name_, &space);
  auto config = quick_config();
  config.heartbeat_seconds = 0.05;
  config.max_attempts = 1;
  const auto sampler = make_sampler(config);
  const Claim dead = study.claim(*sampler, config, "dead");
  std::this_thread::sleep_for(200ms);
  const Claim next = study.claim(*sampler, config, "alive");
  EXPECT_FALSE(next.rerun);
  EXPECT_EQ(next.number, dead.number + 1);
  const auto trials = study.trials();
  EXPECT_EQ(trials[0].state, TrialState::failed);
  EXPECT_NE(trials[0].reason.find("stopped sending heartbeats (attempt 1 of 1)"), std::string::npos);
}

TEST_P(StudyTest, WorkerRecordsFailuresAndKeepsGoing) {
  const auto space = config_space();
  Study study(url_, name_, &space);
  const Objective objective = [](const Overrides& p, EpochReporter& r) -> TrialOutcome {
    if (r.trial_number() == 1) throw Error("model: 4 conv layers need an input of at least 16 frames");
    if (r.trial_number() == 2) return {std::nan("")};
    return {config_objective_value(p)};
  };
  const auto summary = run_worker(study, quick_config(), objective, 4, quiet());
  EXPECT_EQ(summary.claimed, 4);
  EXPECT_EQ(summary.complete, 2);
  EXPECT_EQ(summary.failed, 2);
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 4u);
  EXPECT_EQ(trials[1].state, TrialState::failed);
  EXPECT_EQ(trials[1].reason, "model: 4 conv layers need an input of at least 16 frames");
  EXPECT_EQ(trials[2].state, TrialState::failed);
  EXPECT_NE(trials[2].reason.find("returned nan"), std::string::npos);
  EXPECT_EQ(trials[3].state, TrialState::complete);
}

TEST_P(StudyTest, MedianPrunerStopsTrialsBelowTheMedian) {
  const auto space = config_space();
  Study study(url_, name_, &space);
  auto config = quick_config();
  config.pruner = "median";
  config.pruner_warmup_epochs = 2;
  config.pruner_startup_trials = 2;
  // Per-trial learning curves (losses): trial 2 is worse than the median of
  // trials 0 and 1 at epoch 2; trial 3 is better.
  const std::vector<std::vector<double>> curves{{0.5, 0.4, 0.3}, {0.6, 0.5, 0.4}, {0.9, 0.8, 0.7}, {0.3, 0.2, 0.1}};
  std::vector<int> epochs_run(4, 0);
  const Objective objective = [&](const Overrides&, EpochReporter& r) -> TrialOutcome {
    const auto& curve = curves[r.trial_number()];
    double best = 1;
    for (int e = 1; e <= 3; ++e) {
      epochs_run[r.trial_number()] = e;
      best = std::min(best, curve[e - 1]);
      if (r.report(e, curve[e - 1])) break;
    }
    return {best};
  };
  const auto summary = run_worker(study, config, objective, 4, quiet());
  EXPECT_EQ(summary.pruned, 1);
  EXPECT_EQ(epochs_run, (std::vector<int>{3, 3, 2, 3}));
  const auto trials = study.trials();
  EXPECT_EQ(trials[2].state, TrialState::pruned);
  EXPECT_EQ(trials[2].value, 0.8);
  EXPECT_EQ(trials[2].epoch_values, (std::vector<double>{0.9, 0.8}));
  EXPECT_NE(trials[2].reason.find("median 0.45"), std::string::npos) << trials[2].reason;
  EXPECT_EQ(trials[3].state, TrialState::complete);
}

TEST(MedianPruner, WaitsForWarmupAndEnoughTrials) {
  const MedianPruner p{3, 2};
  const std::vector<double> others{0.4, 0.5, 0.6};
  EXPECT_FALSE(p.should_prune(2, 0.9, others));  // before warm-up
  EXPECT_TRUE(p.should_prune(3, 0.51, others));
  EXPECT_FALSE(p.should_prune(3, 0.5, others));  // equal to the median: kept
  EXPECT_FALSE(p.should_prune(3, 0.9, std::vector<double>{0.4}));  // too few to judge
  EXPECT_EQ(median(std::vector<double>{3, 1, 2, 10}), 2.5);
}

TEST_P(StudyTest, BestConfigIsATrainConfig) {
  const auto space = config_space();
  Study study(url_, name_, &space);
  Config base;
  base.model.n_dense = 125;  // a setting of the base config that best.toml keeps
  WorkerOptions options = quiet();
  options.best_config = dir_ / "best.toml";
  options.base_config = &base;
  const Objective objective = [](const Overrides& p, EpochReporter&) { return TrialOutcome{config_objective_value(p)}; };
  run_worker(study, quick_config(), objective, 6, options);
  const auto best = study.best();
  ASSERT_TRUE(best);
  const Config loaded = Config::load(dir_ / "best.toml", {});
  EXPECT_EQ(loaded.model.n_filters, best->params.number("model.n_filters"));
  EXPECT_EQ(loaded.train.learning_rate, best->params.number("train.learning_rate"));
  EXPECT_EQ(loaded.model.n_dense, 125);
  for (const auto& t : study.trials()) EXPECT_GE(*t.value, *best->value);
}

TEST_P(StudyTest, ThreadsShareOneBudget) {
  const auto space = config_space();
  { Study create(url_, name_, &space); }
  std::atomic<int> budget{7};
  auto work = [&](const std::string& worker) {
    Study study(url_, name_, nullptr);
    WorkerOptions options = quiet(worker);
    options.shared_budget = &budget;
    const Objective objective = [](const Overrides& p, EpochReporter&) {
      std::this_thread::sleep_for(5ms);
      return TrialOutcome{config_objective_value(p)};
    };
    run_worker(study, quick_config(), objective, 0, options);
  };
  std::thread a(work, "a"), b(work, "b");
  a.join();
  b.join();
  Study study(url_, name_, nullptr);
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 7u);
  std::set<std::string> workers;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number, static_cast<int>(i));
    EXPECT_EQ(trials[i].state, TrialState::complete);
    workers.insert(trials[i].worker);
  }
  EXPECT_EQ(workers.size(), 2u);
}

// Forks a worker process running n trials of a cheap objective that logs its runs.
pid_t fork_worker(const std::string& url, const std::string& name, int n, const std::filesystem::path& runs,
                  const std::string& worker, double heartbeat_seconds = 2, int hang_on_trial = -1,
                  const std::filesystem::path& hanging = {}) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  int status = 0;
  try {
    Study study(url, name, nullptr);
    const Objective objective = [&](const Overrides& p, EpochReporter& r) {
      log_run(runs, r.trial_number());
      if (r.trial_number() == hang_on_trial) {
        write_file_atomic(hanging, "hanging");
        std::this_thread::sleep_for(60s);
      }
      for (int e = 1; e <= 2; ++e) {
        std::this_thread::sleep_for(10ms);
        r.report(e, config_objective_value(p) + 1.0 / e);
      }
      return TrialOutcome{config_objective_value(p)};
    };
    auto config = quick_config();
    config.heartbeat_seconds = heartbeat_seconds;
    run_worker(study, config, objective, n, quiet(worker));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker %s: %s\n", worker.c_str(), e.what());
    status = 1;
  }
  std::fflush(stderr);
  _exit(status);
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void expect_complete_and_unique(Study& study, int n, const std::map<int, int>& runs) {
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(trials[i].number, i);  // none lost: numbers 0 .. n-1, each once
    EXPECT_EQ(trials[i].state, TrialState::complete) << "trial " << i << ": " << trials[i].reason;
    EXPECT_EQ(trials[i].epoch_values.size(), 2u);
  }
  for (const auto& [trial, count] : runs)
    if (trials[trial].attempts == 1) EXPECT_EQ(count, 1) << "trial " << trial << " ran twice";
}

TEST_P(StudyTest, TwoProcessesNeverRunATrialTwiceAndTheStudyResumes) {
  const auto space = config_space();
  { Study create(url_, name_, &space); }
  const auto runs = dir_ / "runs.txt";
  const pid_t a = fork_worker(url_, name_, 6, runs, "process-a");
  const pid_t b = fork_worker(url_, name_, 6, runs, "process-b");
  EXPECT_EQ(wait_exit(a), 0);
  EXPECT_EQ(wait_exit(b), 0);
  Study study(url_, name_, nullptr);
  expect_complete_and_unique(study, 12, runs_per_trial(runs));
  std::set<std::string> workers;
  for (const auto& t : study.trials()) workers.insert(t.worker);
  EXPECT_EQ(workers, (std::set<std::string>{"process-a", "process-b"}));

  // Resumable: a second run adds its trials after the first twelve.
  const pid_t c = fork_worker(url_, name_, 3, runs, "process-c");
  EXPECT_EQ(wait_exit(c), 0);
  expect_complete_and_unique(study, 15, runs_per_trial(runs));
}

TEST_P(StudyTest, KilledWorkerTrialIsReRunByTheNextWorker) {
  const auto space = config_space();
  { Study create(url_, name_, &space); }
  const auto runs = dir_ / "runs.txt", hanging = dir_ / "hanging";
  const double heartbeat = 1.0;
  const pid_t victim = fork_worker(url_, name_, 5, runs, "victim", heartbeat, 2, hanging);
  for (int i = 0; i < 1000 && !std::filesystem::exists(hanging); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(std::filesystem::exists(hanging)) << "the worker never reached trial 2";
  kill(victim, SIGKILL);
  EXPECT_EQ(wait_exit(victim), -1);
  std::this_thread::sleep_for(std::chrono::duration<double>(heartbeat + 0.3));  // let its heartbeat expire

  const pid_t rescuer = fork_worker(url_, name_, 3, runs, "rescuer", heartbeat);
  EXPECT_EQ(wait_exit(rescuer), 0);
  Study study(url_, name_, nullptr);
  const auto per_trial = runs_per_trial(runs);
  expect_complete_and_unique(study, 5, per_trial);
  const auto trials = study.trials();
  EXPECT_EQ(trials[2].attempts, 2);
  EXPECT_EQ(trials[2].worker, "rescuer");
  EXPECT_EQ(per_trial.at(2), 2);  // started by the victim, finished by the rescuer
  EXPECT_EQ(trials[0].worker, "victim");
  EXPECT_EQ(trials[4].worker, "rescuer");
}

}  // namespace
}  // namespace oneshot::tune
