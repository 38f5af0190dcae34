#pragma once
// A study: a search space and its trials, kept in a database (SQLite file or
// PostgreSQL) that any number of workers on any number of machines share.
// Every change is one statement or one write transaction, so a worker that
// dies leaves the study consistent (creating the study, claiming a trial,
// recording an epoch's value, finishing or pruning a trial); every multi-
// statement read is one read transaction (read()); its running trial's heartbeat expires
// and the next claim re-runs it (or, after tune.max_attempts, fails it).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tune/database.h"
#include "tune/sampler.h"
#include "tune/space.h"

namespace oneshot {
struct TuneConfig;
}

namespace oneshot::tune {

enum class TrialState { running, complete, failed, pruned };
const char* state_name(TrialState state);
TrialState parse_state(const std::string& name);

struct TrialRecord {
  int number = 0;  // 0, 1, 2 ... in order of suggestion
  Overrides params;
  TrialState state = TrialState::running;
  std::optional<double> value;      // complete: the objective; pruned: best reported value
  std::vector<double> epoch_values; // value after epoch 1, 2, ...
  std::string worker;
  double heartbeat = 0;             // seconds since 1970, database clock
  double started = 0;
  std::optional<double> finished;
  int attempts = 1;                 // runs started (more than 1 after a worker died)
  std::string reason;               // why it failed, was pruned or re-run
};

// A trial handed to one worker. `attempt` identifies this run: updates from
// a worker whose trial was taken over (after its heartbeat expired) are ignored.
struct Claim {
  int number = 0;
  int attempt = 1;
  Overrides params;
  bool rerun = false;  // a trial whose previous worker stopped sending heartbeats
};

class Study {
 public:
  // Opens study `name` at `url`, creating the tables and the study as needed.
  // With a space, a new study stores it and an existing one must have been
  // created with the same, unless adopt_stored_space (then the stored one is
  // used: the space was a default, not the user's choice); with none
  // (nullptr), the study must exist.
  Study(const std::string& url, const std::string& name, const SearchSpace* space, bool adopt_stored_space = false);
  // Opens an existing study to read it (tune-report): a SQLite file read-only
  // (a missing one is "no such file", nothing is created; a SQLite file of
  // another program or without a study's tables is named and left alone), a
  // PostgreSQL session read-only. Every change through it is an Error.
  static Study open_read_only(const std::string& url, const std::string& name);

  // Runs `body` in one read transaction: trials(), best() and the rest called
  // inside see one snapshot, whatever workers commit meanwhile.
  void read(const std::function<void()>& body);

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  const SearchSpace& space() const { return space_; }
  Database& database() { return *db_; }

  // In one write transaction: the oldest running trial whose heartbeat has
  // expired is re-claimed (or marked failed once it has been attempted
  // tune.max_attempts times); failing that, the sampler proposes a new point
  // from every trial so far (seeded by tune.seed and the trial number).
  Claim claim(const Sampler& sampler, const TuneConfig& config, const std::string& worker);

  // Each returns false when the trial is no longer this worker's run.
  bool beat(const Claim& claim, const std::string& worker);
  bool report(const Claim& claim, const std::string& worker, int epoch, double value);
  bool finish(const Claim& claim, const std::string& worker, TrialState state, std::optional<double> value,
              const std::string& reason);

  std::vector<TrialRecord> trials();
  std::optional<TrialRecord> best();  // the complete trial with the lowest value
  // Values at `epoch` of complete trials other than `exclude` (the median pruner's reference).
  std::vector<double> values_at_epoch(int epoch, int exclude);
  double now();

 private:
  struct ReadOnly {};
  Study(const std::string& url, const std::string& name, ReadOnly);
  void create_schema();
  std::string url_, name_;
  bool reading_ = false;
  SearchSpace space_;
  std::unique_ptr<Database> db_;
};

// A name for this process: host:pid.
std::string default_worker_name();

}  // namespace oneshot::tune
