#include "tune/study.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/json_text.h"

namespace oneshot::tune {
namespace {

using nlohmann::json;

// One schema, the same text for SQLite and PostgreSQL.
const char* const kSchema[] = {
    R"(CREATE TABLE IF NOT EXISTS tune_studies (
         name TEXT PRIMARY KEY,
         space TEXT NOT NULL,
         created DOUBLE PRECISION NOT NULL))",
    R"(CREATE TABLE IF NOT EXISTS tune_trials (
         study TEXT NOT NULL REFERENCES tune_studies(name),
         number INTEGER NOT NULL,
         params TEXT NOT NULL,
         state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed', 'pruned')),
         value DOUBLE PRECISION,
         worker TEXT NOT NULL,
         heartbeat DOUBLE PRECISION NOT NULL,
         heartbeat_seconds DOUBLE PRECISION NOT NULL,
         attempts INTEGER NOT NULL,
         started DOUBLE PRECISION NOT NULL,
         finished DOUBLE PRECISION,
         reason TEXT,
         PRIMARY KEY (study, number)))",
    R"(CREATE TABLE IF NOT EXISTS tune_trial_values (
         study TEXT NOT NULL,
         number INTEGER NOT NULL,
         epoch INTEGER NOT NULL,
         value DOUBLE PRECISION NOT NULL,
         PRIMARY KEY (study, number, epoch),
         FOREIGN KEY (study, number) REFERENCES tune_trials(study, number)))",
};

const char* const kTrialColumns =
    "number, params, state, value, worker, heartbeat, attempts, started, finished, reason";

// A JSON column as stored. A damaged one (another program's write, a bad
// sector) is an Error naming the study's database, the study and WHAT (the
// trial and column), never the JSON library's bare message.
json stored_json(const Database& db, const std::string& study, const std::string& what, const SqlValue& v) {
  try {
    return json::parse(as_string(v));
  } catch (const json::exception& e) {
    throw Error(db.describe() + ": study \"" + study + "\": " + what + " is not valid JSON (" + e.what() +
                "): the study database is damaged");
  }
}

// Whether `v` is a value parameter `p` can take: a number of its range's
// kind (whole for int), or one of its choices. Not its bounds: a point the
// sampler drew at a bound may round past it.
bool fits(const Param& p, const json& v) {
  switch (p.kind) {
    case ParamKind::choice: return std::find(p.choices.begin(), p.choices.end(), v) != p.choices.end();
    case ParamKind::integer: return v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                                               v.get<double>() == std::floor(v.get<double>()));
    default: return v.is_number() && std::isfinite(v.get<double>());
  }
}

// A trial's parameters as stored (column params of tune_trials), checked
// against the study's space: each of its parameters present, of its type.
Overrides stored_params(const Database& db, const std::string& study, const SearchSpace& space, const SqlValue& number,
                        const SqlValue& v) {
  const std::string what = "the params of trial " + as_string(number);
  Overrides o;
  try {
    o = Overrides::from_json(stored_json(db, study, what, v));
  } catch (const json::exception& e) {
    throw Error(db.describe() + ": study \"" + study + "\": " + what + " are malformed (" + e.what() + ")");
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind(db.describe(), 0) == 0) throw;
    throw Error(db.describe() + ": study \"" + study + "\": " + what + " are malformed (" + message + ")");
  }
  const std::string damaged = " (column params): the study database is damaged";
  for (const Param& p : space.params()) {
    if (!o.contains(p.name))
      throw Error(db.describe() + ": study \"" + study + "\": " + what + " lack " + p.name + damaged);
    const json& value = o.at(p.name);
    if (!fits(p, value))
      throw Error(db.describe() + ": study \"" + study + "\": " + what + ": " + p.name + " = " + json_text(value) +
                  " is not " +
                  (p.kind == ParamKind::choice ? std::string("one of its choices")
                   : p.kind == ParamKind::integer ? std::string("a whole number")
                                                  : std::string("a finite number")) +
                  " (" + kind_name(p.kind) + ")" + damaged);
  }
  for (const auto& item : o) {
    const std::string& key = item.first;  // not a structured binding: clang 14 cannot capture one
    if (std::none_of(space.params().begin(), space.params().end(), [&](const Param& p) { return p.name == key; }))
      throw Error(db.describe() + ": study \"" + study + "\": " + what + " hold " + key +
                  ", not a parameter of the study's search space" + damaged);
  }
  return o;
}

// The largest trial number a study holds: the next one (number + 1) must
// still be an int, as every trial number in memory is.
constexpr std::int64_t kMaxTrialNumber = std::numeric_limits<int>::max() - 1;

// A trial's number as stored, bounded: 2^63 - 1 overflowed the next claim's.
int stored_trial_number(const Database& db, const std::string& study, const SqlValue& v) {
  std::int64_t n = -1;
  try {
    n = as_int(v);
  } catch (const Error&) {
  }
  if (n < 0 || n > kMaxTrialNumber || (std::holds_alternative<double>(v) && std::get<double>(v) != static_cast<double>(n)))
    throw Error(db.describe() + ": study \"" + study + "\": a trial number \"" + as_string(v) +
                "\" (column number) is not a whole number in [0, " + std::to_string(kMaxTrialNumber) +
                "]: the study database is damaged");
  return static_cast<int>(n);
}

// The study's search space as stored (column space of tune_studies).
SearchSpace stored_space(const Database& db, const std::string& study, const SqlValue& v) {
  try {
    return SearchSpace::from_json(stored_json(db, study, "the stored search space", v));
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind(db.describe(), 0) == 0) throw;
    throw Error(db.describe() + ": study \"" + study + "\": " + message);
  }
}

TrialState stored_state(const Database& db, const std::string& study, const SqlValue& number, const SqlValue& v) {
  const std::string state = as_string(v);
  for (TrialState t : {TrialState::running, TrialState::complete, TrialState::failed, TrialState::pruned})
    if (state == state_name(t)) return t;
  throw Error(db.describe() + ": study \"" + study + "\": trial " + as_string(number) + " has an unknown state \"" +
              state + "\" (running, complete, failed or pruned): the study database is damaged");
}

// A number column of trial `number` as stored. Workers store finite values
// only (a non-finite objective or epoch value fails the trial, with no value),
// so text, infinity or NaN is damage, named with the study, trial and column:
// a -inf value would otherwise win best-trial selection.
double stored_number(const Database& db, const std::string& study, const SqlValue& number, const SqlValue& v,
                     const std::string& column) {
  double d = 0;
  try {
    d = as_double(v);
  } catch (const Error& e) {
    throw Error(db.describe() + ": study \"" + study + "\": trial " + as_string(number) + ", column " + column +
                ": " + e.what() + ": the study database is damaged");
  }
  if (!std::isfinite(d))
    throw Error(db.describe() + ": study \"" + study + "\": trial " + as_string(number) + ", column " + column +
                ": " + as_string(v) + " is not a finite number (tune stores none): the study database is damaged");
  return d;
}

TrialRecord trial_from_row(const Database& db, const std::string& study, const SearchSpace& space, const SqlRow& r) {
  auto number = [&](const SqlValue& v, const char* column) { return stored_number(db, study, r[0], v, column); };
  TrialRecord t;
  t.number = stored_trial_number(db, study, r[0]);
  t.params = stored_params(db, study, space, r[0], r[1]);
  t.state = stored_state(db, study, r[0], r[2]);
  if (!is_null(r[3])) t.value = number(r[3], "value");
  t.worker = as_string(r[4]);
  t.heartbeat = number(r[5], "heartbeat");
  const double attempts = number(r[6], "attempts");
  if (attempts < 1 || attempts > std::numeric_limits<int>::max() || attempts != std::floor(attempts))
    throw Error(db.describe() + ": study \"" + study + "\": trial " + as_string(r[0]) + ", column attempts: " +
                as_string(r[6]) + " is not a whole number of runs: the study database is damaged");
  t.attempts = static_cast<int>(attempts);
  t.started = number(r[7], "started");
  if (!is_null(r[8])) t.finished = number(r[8], "finished");
  if (!is_null(r[9])) t.reason = as_string(r[9]);
  return t;
}

// Reorders a stored point's keys as the space declares them.
Overrides in_space_order(const Overrides& o, const SearchSpace& space) {
  Overrides out;
  for (const auto& p : space.params())
    if (o.contains(p.name)) out.set(p.name, o.at(p.name));
  return out;
}

std::string lock_name(const std::string& study) { return "oneshot-tune:" + study; }
const char* const kSchemaLock = "oneshot-tune-schema";

// The most epochs a trial reports (tune.max_epochs' bound).
constexpr std::int64_t kMaxEpoch = 1000000;

}  // namespace

const char* state_name(TrialState s) {
  switch (s) {
    case TrialState::running: return "running";
    case TrialState::complete: return "complete";
    case TrialState::failed: return "failed";
    case TrialState::pruned: return "pruned";
  }
  return "?";
}

TrialState parse_state(const std::string& name) {
  if (name == "running") return TrialState::running;
  if (name == "complete") return TrialState::complete;
  if (name == "failed") return TrialState::failed;
  if (name == "pruned") return TrialState::pruned;
  throw Error("study: unknown trial state \"" + name + "\"");
}

std::string default_worker_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown-host");
  return std::string(host) + ":" + std::to_string(getpid());
}

Study Study::open_read_only(const std::string& url, const std::string& name) { return Study(url, name, ReadOnly{}); }

Study::Study(const std::string& url, const std::string& name, ReadOnly) : url_(url), name_(name) {
  if (name.empty()) throw Error(url + ": a study needs a name");
  db_ = open_database(url, /*read_only=*/true);
  read([&] {
    db_->claim_for_studies();  // a SQLite file of another program: named (nothing is written)
    if (!db_->has_table("tune_studies"))
      throw Error(db_->describe() + ": not a tuning study (it holds no study tables; tune creates them)");
    const auto rows = db_->query("SELECT space FROM tune_studies WHERE name = $1", {name_});
    if (rows.empty()) {
      std::string names;
      for (const auto& r : db_->query("SELECT name FROM tune_studies ORDER BY name"))
        names += (names.empty() ? "" : ", ") + as_string(r[0]);
      throw Error(db_->describe() + ": no study named \"" + name_ + "\" (studies: " +
                  (names.empty() ? "none" : names) + "; --study-name chooses one)");
    }
    space_ = stored_space(*db_, name_, rows[0][0]);
  });
}

void Study::read(const std::function<void()>& body) {
  if (reading_) {
    body();
    return;
  }
  db_->begin_read();
  reading_ = true;
  try {
    body();
  } catch (...) {
    reading_ = false;
    try {
      db_->rollback();
    } catch (...) {
    }
    throw;
  }
  reading_ = false;
  db_->commit();
}

Study::Study(const std::string& url, const std::string& name, const SearchSpace* space, bool adopt_stored_space)
    : url_(url), name_(name), db_(open_database(url)) {
  if (name.empty()) throw Error(url + ": a study needs a name");
  // The tables and the study in one transaction: a kill between them left
  // empty study tables, read as "no study". The schema's lock serialises
  // every opening process (PostgreSQL: two CREATE TABLE IF NOT EXISTS at once
  // collide), so it also covers this study's row: claims never write it.
  Transaction tx(*db_, kSchemaLock);
  create_schema();
  const auto rows = db_->query("SELECT space FROM tune_studies WHERE name = $1", {name_});
  if (rows.empty()) {
    if (!space) throw Error(db_->describe() + ": no study named \"" + name_ + "\" (give a search space to create it)");
    db_->execute("INSERT INTO tune_studies (name, space, created) VALUES ($1, $2, " + db_->now_sql() + ")",
                 {name_, json_text(space->to_json())});
    space_ = *space;
  } else {
    space_ = stored_space(*db_, name_, rows[0][0]);
    if (space && !adopt_stored_space && !(*space == space_))
      throw Error(db_->describe() + ": study \"" + name_ +
                  "\" was created with a different search space; use a new study name, or omit --space to use the stored one");
  }
  tx.commit();
}

void Study::create_schema() {  // inside the constructor's transaction
  db_->claim_for_studies();  // never a study's tables in another program's SQLite file
  for (const char* ddl : kSchema) db_->execute(ddl);
}

double Study::now() { return as_double(db_->query("SELECT " + db_->now_sql())[0][0]); }

Claim Study::claim(const Sampler& sampler, const TuneConfig& config, const std::string& worker) {
  Transaction tx(*db_, lock_name(name_));
  const std::string now = db_->now_sql();
  // A trial whose worker stopped beating: run it again, or give up on it.
  for (;;) {
    const auto expired = db_->query(
        "SELECT number, attempts, worker, params FROM tune_trials WHERE study = $1 AND state = 'running' "
        "AND heartbeat + heartbeat_seconds < " + now + " ORDER BY number LIMIT 1",
        {name_});
    if (expired.empty()) break;
    const auto number = as_int(expired[0][0]);
    const auto attempts = as_int(expired[0][1]);
    const std::string why = "worker " + as_string(expired[0][2]) + " stopped sending heartbeats (attempt " +
                            std::to_string(attempts) + " of " + std::to_string(config.max_attempts) + ")";
    if (attempts < config.max_attempts) {
      db_->execute("DELETE FROM tune_trial_values WHERE study = $1 AND number = $2", {name_, number});
      db_->execute("UPDATE tune_trials SET worker = $3, heartbeat = " + now + ", heartbeat_seconds = $4, "
                   "attempts = attempts + 1, started = " + now + ", reason = $5 WHERE study = $1 AND number = $2",
                   {name_, number, worker, config.heartbeat_seconds, "re-run: " + why});
      Claim c;
      c.number = static_cast<int>(number);
      c.attempt = static_cast<int>(attempts + 1);
      c.params = in_space_order(stored_params(*db_, name_, space_, expired[0][0], expired[0][3]), space_);
      c.rerun = true;
      tx.commit();
      return c;
    }
    db_->execute("UPDATE tune_trials SET state = 'failed', finished = " + now + ", reason = $3 "
                 "WHERE study = $1 AND number = $2",
                 {name_, number, why});
  }

  // A new point, seeing every trial so far (running and failed ones as infinitely bad, as hyperopt).
  const auto rows = db_->query("SELECT number, params, state, value FROM tune_trials WHERE study = $1 ORDER BY number", {name_});
  std::vector<Observation> history;
  for (const auto& r : rows) {
    Observation o;
    stored_trial_number(*db_, name_, r[0]);
    o.params = stored_params(*db_, name_, space_, r[0], r[1]);
    const auto state = stored_state(*db_, name_, r[0], r[2]);
    if ((state == TrialState::complete || state == TrialState::pruned) && !is_null(r[3]))
      o.loss = stored_number(*db_, name_, r[0], r[3], "value");
    history.push_back(std::move(o));
  }
  const int number = rows.empty() ? 0 : stored_trial_number(*db_, name_, rows.back()[0]) + 1;
  Claim c;
  c.number = number;
  c.params = sampler.suggest(space_, history, mix_seed(static_cast<std::uint64_t>(config.seed), static_cast<std::uint64_t>(number)));
  db_->execute("INSERT INTO tune_trials (study, number, params, state, worker, heartbeat, heartbeat_seconds, attempts, started) "
               "VALUES ($1, $2, $3, 'running', $4, " + now + ", $5, 1, " + now + ")",
               {name_, std::int64_t{number}, json_text(c.params.to_json()), worker, config.heartbeat_seconds});
  tx.commit();
  return c;
}

bool Study::beat(const Claim& c, const std::string& worker) {
  return db_->execute("UPDATE tune_trials SET heartbeat = " + db_->now_sql() +
                          " WHERE study = $1 AND number = $2 AND attempts = $3 AND worker = $4 AND state = 'running'",
                      {name_, std::int64_t{c.number}, std::int64_t{c.attempt}, worker}) == 1;
}

bool Study::report(const Claim& c, const std::string& worker, int epoch, double value) {
  Transaction tx(*db_, lock_name(name_));  // the heartbeat and the value: both or neither
  if (!beat(c, worker)) return false;
  db_->execute("INSERT INTO tune_trial_values (study, number, epoch, value) VALUES ($1, $2, $3, $4) "
               "ON CONFLICT (study, number, epoch) DO UPDATE SET value = excluded.value",
               {name_, std::int64_t{c.number}, std::int64_t{epoch}, value});
  tx.commit();
  return true;
}

bool Study::finish(const Claim& c, const std::string& worker, TrialState state, std::optional<double> value,
                   const std::string& reason) {
  const SqlValue v = value ? SqlValue(*value) : SqlValue(nullptr);
  const SqlValue why = reason.empty() ? SqlValue(nullptr) : SqlValue(reason);
  return db_->execute("UPDATE tune_trials SET state = $5, value = $6, reason = COALESCE($7, reason), heartbeat = " + db_->now_sql() +
                          ", finished = " + db_->now_sql() +
                          " WHERE study = $1 AND number = $2 AND attempts = $3 AND worker = $4 AND state = 'running'",
                      {name_, std::int64_t{c.number}, std::int64_t{c.attempt}, worker, std::string(state_name(state)), v,
                       why}) == 1;
}

std::vector<TrialRecord> Study::trials() {
  std::vector<TrialRecord> out;
  read([&] {  // the trials and their values: one snapshot
  for (const auto& r : db_->query(std::string("SELECT ") + kTrialColumns + " FROM tune_trials WHERE study = $1 ORDER BY number", {name_})) {
    out.push_back(trial_from_row(*db_, name_, space_, r));
    out.back().params = in_space_order(out.back().params, space_);
  }
  const auto values = db_->query("SELECT number, epoch, value FROM tune_trial_values WHERE study = $1 ORDER BY number, epoch", {name_});
  std::size_t t = 0;
  for (const auto& v : values) {
    const auto number = as_int(v[0]);
    while (t < out.size() && out[t].number < number) ++t;
    if (t == out.size()) break;
    if (out[t].number != number) continue;
    // Epochs count from 1 up to tune.max_epochs' bound; a damaged one must not size the list.
    std::int64_t epoch = 0;
    try {
      epoch = as_int(v[1]);
    } catch (const Error&) {
    }
    if (epoch < 1 || epoch > kMaxEpoch)
      throw Error(db_->describe() + ": study \"" + name_ + "\": trial " + as_string(v[0]) +
                  ", tune_trial_values column epoch: \"" + as_string(v[1]) + "\" is not an epoch in [1, " +
                  std::to_string(kMaxEpoch) + "]: the study database is damaged");
    auto& ev = out[t].epoch_values;
    if (ev.size() < static_cast<std::size_t>(epoch)) ev.resize(static_cast<std::size_t>(epoch), std::nan(""));
    ev[static_cast<std::size_t>(epoch - 1)] =
        stored_number(*db_, name_, v[0], v[2], "value of epoch " + std::to_string(epoch) + " (tune_trial_values)");
  }
  });
  return out;
}

std::optional<TrialRecord> Study::best() {
  const auto rows = db_->query(std::string("SELECT ") + kTrialColumns +
                                   " FROM tune_trials WHERE study = $1 AND state = 'complete' AND value IS NOT NULL "
                                   "ORDER BY value, number LIMIT 1",
                               {name_});
  if (rows.empty()) return std::nullopt;
  TrialRecord t = trial_from_row(*db_, name_, space_, rows[0]);
  t.params = in_space_order(t.params, space_);
  return t;
}

std::vector<double> Study::values_at_epoch(int epoch, int exclude) {
  std::vector<double> out;
  for (const auto& r : db_->query("SELECT v.value, v.number, v.epoch FROM tune_trial_values v JOIN tune_trials t "
                                  "ON t.study = v.study AND t.number = v.number "
                                  "WHERE v.study = $1 AND v.epoch = $2 AND t.state = 'complete' AND t.number <> $3",
                                  {name_, std::int64_t{epoch}, std::int64_t{exclude}}))
    out.push_back(stored_number(*db_, name_, r[1], r[0], "value of epoch " + as_string(r[2]) + " (tune_trial_values)"));
  return out;
}

}  // namespace oneshot::tune
