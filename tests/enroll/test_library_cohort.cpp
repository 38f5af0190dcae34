// Schema version 2 of class libraries: the score-normalisation cohort, the
// settings, the calibration's method / normalisation / logistic fields read
// back exactly; a version-1 library (written here by hand with the version-1
// schema) still opens and scores as before, and enroll's open_or_create
// upgrades it in place, keeping its classes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

LibraryModel model(const std::string& fingerprint = "f1", std::int64_t dim = 3) {
  LibraryModel m;
  m.run = "/runs/" + fingerprint;
  m.fingerprint = fingerprint;
  m.embedding_dim = dim;
  m.window_s = 5;
  m.sample_rate = 22050;
  return m;
}

void sql(const fs::path& path, const std::string& statements) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << why;
}

std::string meta_value(const fs::path& path, const std::string& key) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  std::string out = "(none)";
  if (sqlite3_step(stmt) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

long long count_rows(const fs::path& path, const std::string& table) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, ("SELECT count(*) FROM " + table).c_str(), -1, &stmt, nullptr);
  long long n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

// A version-1 library as the previous release wrote it: one class, one
// example (embedding 1, 2, 3), a per-pair calibration.
void write_version_1(const fs::path& path) {
  const float emb[3] = {1, 2, 3};
  std::string hex;
  const auto* bytes = reinterpret_cast<const unsigned char*>(emb);
  for (std::size_t i = 0; i < sizeof emb; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02X", bytes[i]);
    hex += b;
  }
  sql(path,
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE classes(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, negative INTEGER NOT NULL, "
      "threshold REAL, threshold_source TEXT NOT NULL DEFAULT '', added TEXT NOT NULL);"
      "CREATE TABLE examples(id INTEGER PRIMARY KEY, class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE "
      "CASCADE, source TEXT NOT NULL, segment_start REAL, segment_end REAL, window_start REAL NOT NULL, "
      "embedding BLOB NOT NULL, added TEXT NOT NULL);"
      "INSERT INTO meta VALUES('schema_version', '1'), ('created', '2026-01-01T00:00:00Z'), ('run', '/runs/f1'), "
      "('fingerprint', 'f1'), ('embedding_dim', '3'), ('window_s', '5'), ('sample_rate', '22050'), "
      "('calibration_far', '0.05'), ('calibration_threshold', '-6.13'), ('calibration_frr', '0.3'), "
      "('calibration_floor', '-12'), ('calibration_same_pairs', '10'), ('calibration_different_pairs', '90'), "
      "('calibration_classes', '5');"
      "INSERT INTO classes VALUES(1, 'dog', 0, -6.13, 'calibration', '2026-01-01T00:00:00Z');"
      "INSERT INTO examples VALUES(1, 1, '/a/dog.wav', NULL, NULL, 0, X'" +
          hex + "', '2026-01-01T00:00:00Z');");
}

TEST(LibraryCohort, CohortSettingsAndCalibrationReadBackExactly) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  ClassLibrary lib = ClassLibrary::open_or_create(path, model());
  EXPECT_TRUE(lib.cohort().empty());
  // A new library records the defaults.
  const LibrarySettings defaults = lib.settings();
  EXPECT_EQ(defaults.score_norm, "as-norm");
  EXPECT_EQ(defaults.cohort_top_k, 100);
  EXPECT_EQ(meta_value(path, "score_norm"), "as-norm");
  EXPECT_EQ(meta_value(path, "schema_version"), "2");

  const std::vector<CohortMember> cohort{{"audio/a.wav", "cat", {0.5f, -0.0f, 1e-42f}},
                                         {"audio/b.wav", "cow", {1, 2, 3}}};
  lib.set_cohort(cohort);
  const auto back = ClassLibrary::open(path).cohort();
  ASSERT_EQ(back.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back[i].source, cohort[i].source);
    EXPECT_EQ(back[i].class_name, cohort[i].class_name);
    EXPECT_EQ(std::memcmp(back[i].embedding.data(), cohort[i].embedding.data(), 3 * sizeof(float)), 0);
  }
  lib.set_cohort({cohort[1]});  // replaces
  EXPECT_EQ(lib.cohort().size(), 1u);
  EXPECT_THROW(lib.set_cohort({{"x", "y", {1, 2}}}), Error);  // wrong dimension
  EXPECT_EQ(lib.cohort().size(), 1u);

  lib.set_settings({"none", 7, 3});
  EXPECT_EQ(lib.settings().score_norm, "none");
  EXPECT_EQ(lib.settings().cohort_top_k, 7);
  EXPECT_EQ(lib.settings().enrol_views, 3);
  EXPECT_THROW(lib.set_settings({"z-norm", 7, 3}), Error);
  EXPECT_THROW(lib.set_settings({"none", 0, 3}), Error);
  EXPECT_THROW(lib.set_settings({"none", 7, 0}), Error);

  Calibration c;
  c.far = 0.1;
  c.threshold = 1.0 / 3;
  c.method = "simulated";
  c.normalised = true;
  c.logistic = LogisticCalibration{2.0 / 7, -1.0 / 9};
  lib.set_calibration(c);
  auto got = ClassLibrary::open(path).calibration();
  ASSERT_TRUE(got && got->logistic);
  EXPECT_EQ(got->threshold, c.threshold);
  EXPECT_EQ(got->method, "simulated");
  EXPECT_TRUE(got->normalised);
  EXPECT_EQ(got->logistic->a, c.logistic->a);
  EXPECT_EQ(got->logistic->b, c.logistic->b);
  c.logistic.reset();
  c.normalised = false;
  lib.set_calibration(c);
  got = lib.calibration();
  EXPECT_FALSE(got->logistic);
  EXPECT_FALSE(got->normalised);
}

TEST(LibraryCohort, AVersion1LibraryOpensAndEnrollUpgradesIt) {
  TempDir dir;
  const fs::path path = dir.path() / "v1.db";
  write_version_1(path);
  {
    const ClassLibrary lib = ClassLibrary::open(path);  // read only: not upgraded
    EXPECT_TRUE(lib.cohort().empty());
    EXPECT_EQ(lib.settings().score_norm, "as-norm");  // the default, but without a cohort scores stay raw
    const auto c = lib.calibration();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->method, "pairs");
    EXPECT_FALSE(c->normalised);
    EXPECT_FALSE(c->logistic);
    EXPECT_EQ(c->threshold, -6.13);
    ASSERT_EQ(lib.examples().size(), 1u);
  }
  EXPECT_EQ(meta_value(path, "schema_version"), "1");
  ClassLibrary lib = ClassLibrary::open_or_create(path, model());
  EXPECT_EQ(meta_value(path, "schema_version"), "2");
  ASSERT_EQ(lib.examples().size(), 1u);
  EXPECT_EQ(lib.examples()[0].embedding, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(lib.classes()[0].threshold, -6.13);
  lib.set_cohort({{"audio/a.wav", "cat", {1, 1, 1}}});
  EXPECT_EQ(ClassLibrary::open(path).cohort().size(), 1u);
}

TEST(LibraryCohort, SetCohortUpgradesAVersion1LibraryOpenedForReading) {
  TempDir dir;
  const fs::path path = dir.path() / "v1.db";
  write_version_1(path);
  ClassLibrary lib = ClassLibrary::open(path);
  lib.set_cohort({{"audio/a.wav", "cat", {1, 1, 1}}});
  EXPECT_EQ(meta_value(path, "schema_version"), "2");
  EXPECT_EQ(lib.cohort().size(), 1u);
}

TEST(LibraryCohort, ReembeddingDropsTheOldModelsCohort) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  ClassLibrary lib = ClassLibrary::open_or_create(path, model());
  LibraryExample e;
  e.source = "/a/dog.wav";
  e.embedding = {1, 2, 3};
  lib.add_examples("dog", false, {e});
  lib.set_cohort({{"audio/a.wav", "cat", {1, 1, 1}}});
  e.class_name = "dog";
  e.embedding = {4, 5, 6, 7};
  lib.replace_examples(model("f2", 4), {e});
  EXPECT_TRUE(lib.cohort().empty());
}

TEST(LibraryCohort, ANewerSchemaIsStillRefused) {
  TempDir dir;
  const fs::path path = dir.path() / "v5.db";
  write_version_1(path);
  sql(path, "UPDATE meta SET value = '5' WHERE key = 'schema_version'");  // version 4 (the domain's cohort) is this program's
  EXPECT_THROW(ClassLibrary::open(path), Error);
  EXPECT_THROW(ClassLibrary::open_or_create(path, model()), Error);
  EXPECT_EQ(meta_value(path, "schema_version"), "5");
}

// `value` stored as the meta `key`: reading the calibration is an Error
// naming the library, `named` and the damage.
void expect_calibration_damage_named(const fs::path& path, const std::string& key, const std::string& value,
                                     const std::string& named) {
  std::string quoted;
  for (char ch : value) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
  sql(path, "INSERT OR REPLACE INTO meta VALUES('" + key + "', '" + quoted + "');");
  try {
    (void)ClassLibrary::open(path).calibration();
    ADD_FAILURE() << "accepted \"" << value << "\"";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find(named), std::string::npos) << what;
    EXPECT_NE(what.find("damaged"), std::string::npos) << what;
  }
}

TEST(LibraryCohort, TheFalseAcceptCurveReadsBackExactlyAndADamagedOneIsNamed) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  auto lib = ClassLibrary::open_or_create(path, model());
  Calibration c;
  c.method = "simulated";
  c.far = 0.05;
  c.threshold = 0.7;
  c.far_curve = {{1e-4, 2.0 / 3, 0.9}, {0.01, 0.1 / 3, 1.0 / 7}, {0.5, -1.0 / 9, 0}};
  lib.set_calibration(c);
  auto got = ClassLibrary::open(path).calibration();
  ASSERT_TRUE(got);
  ASSERT_EQ(got->far_curve.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got->far_curve[i].far, c.far_curve[i].far);
    EXPECT_EQ(got->far_curve[i].threshold, c.far_curve[i].threshold);
    EXPECT_EQ(got->far_curve[i].frr, c.far_curve[i].frr);
  }
  // Rewritten without a curve: the old curve is gone, not kept.
  c.far_curve.clear();
  lib.set_calibration(c);
  EXPECT_TRUE(ClassLibrary::open(path).calibration()->far_curve.empty());

  for (const std::string bad : {"0.1 1", "0.1 1 0.5 7", "0.2 1 0.5;0.1 2 0.6", "0.1 1 1.5", "1.2 1 0.5", "0.1 nan 0.5",
                                "0.1 1 0.5;", "x", ""}) {
    expect_calibration_damage_named(path, "calibration_far_curve", bad, "calibration_far_curve");
  }
}

TEST(LibraryCohort, TheCurvesForSeveralExamplesReadBackExactlyAndDamageIsNamed) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  auto lib = ClassLibrary::open_or_create(path, model());
  Calibration c;
  c.method = "simulated";
  c.far_curve = {{0.01, 1.0, 0.5}, {0.5, -1.0, 0}};
  EXPECT_FALSE(ClassLibrary::open(path).calibration());
  lib.set_calibration(c);
  EXPECT_FALSE(ClassLibrary::open(path).calibration()->examples_simulated);  // made before the curves
  c.examples_simulated = true;
  c.by_examples = {{2, 40, 900, LogisticCalibration{1.0 / 3, -0.25}, {{0.01, 0.5, 0.25}, {0.5, -1.5, 0}}},
                   {5, 12, 300, std::nullopt, {{1e-4, 2.0 / 7, 1}}}};
  lib.set_calibration(c);
  const auto got = ClassLibrary::open(path).calibration();
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->examples_simulated);
  ASSERT_EQ(got->by_examples.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto &a = got->by_examples[i], &b = c.by_examples[i];
    EXPECT_EQ(a.examples, b.examples);
    EXPECT_EQ(a.targets, b.targets);
    EXPECT_EQ(a.non_targets, b.non_targets);
    EXPECT_EQ(a.logistic.has_value(), b.logistic.has_value());
    if (a.logistic) {
      EXPECT_EQ(a.logistic->a, b.logistic->a);
      EXPECT_EQ(a.logistic->b, b.logistic->b);
    }
    ASSERT_EQ(a.far_curve.size(), b.far_curve.size());
    for (std::size_t p = 0; p < a.far_curve.size(); ++p) {
      EXPECT_EQ(a.far_curve[p].far, b.far_curve[p].far);
      EXPECT_EQ(a.far_curve[p].threshold, b.far_curve[p].threshold);
      EXPECT_EQ(a.far_curve[p].frr, b.far_curve[p].frr);
    }
  }
  // Rewritten without them: gone.
  c.by_examples.clear();
  lib.set_calibration(c);
  EXPECT_TRUE(ClassLibrary::open(path).calibration()->by_examples.empty());

  const std::string curve = R"("far_curve": "0.01 1 0.5")";
  for (const std::string& bad : std::vector<std::string>{
       std::string("not json"), std::string("{}"), std::string("[1]"),
        R"([{"examples": 1, "targets": 1, "non_targets": 1, )" + curve + "}]",
        R"([{"examples": 2.5, "targets": 1, "non_targets": 1, )" + curve + "}]",
        R"([{"examples": 3, "targets": 1, "non_targets": 1, )" + curve + R"(}, {"examples": 2, "targets": 1, "non_targets": 1, )" + curve + "}]",
        R"([{"examples": 2, "targets": 0, "non_targets": 1, )" + curve + "}]",
        R"([{"examples": 2, "targets": 1, "non_targets": 1e300, )" + curve + "}]",
        R"([{"examples": 2, "targets": 1, "non_targets": 1, "logistic": [1], )" + curve + "}]",
        std::string(R"([{"examples": 2, "targets": 1, "non_targets": 1, "far_curve": ""}])"),
        std::string(R"([{"examples": 2, "targets": 1, "non_targets": 1, "far_curve": "0.5 1 0.5;0.1 1 0.5"}])"),
        std::string(R"([{"examples": 2, "targets": 1, "non_targets": 1}])")}) {
    expect_calibration_damage_named(path, "calibration_by_examples", bad, "calibration_");
  }
}

// The domain (version 3): stored and read back exactly, the library marked
// version 3 only once it holds one, removed, dropped by replace_examples (the
// old model's mean), and a damaged row named.
TEST(LibraryDomain, StoredExactlyRemovedAndDamageNamed) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  {
    ClassLibrary lib = ClassLibrary::open_or_create(path, model());
    EXPECT_FALSE(lib.domain().has_value());
    EXPECT_EQ(meta_value(path, "schema_version"), "2");
    DomainCentre d;
    d.mean = {0.25f, -1.5f, 3.0f};
    d.files = 12;
    d.windows = 40;
    d.sources = R"(["/rec/a.wav", "/rec/b.wav"])";
    lib.set_domain(d);
    Calibration c;
    c.method = "simulated";
    c.domain_centred = true;
    lib.set_calibration(c);
  }
  EXPECT_EQ(meta_value(path, "schema_version"), "3");
  {
    const ClassLibrary lib = ClassLibrary::open_read_only(path);
    const auto d = lib.domain();
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->mean, (std::vector<float>{0.25f, -1.5f, 3.0f}));
    EXPECT_EQ(d->files, 12);
    EXPECT_EQ(d->windows, 40);
    EXPECT_EQ(d->sources, R"(["/rec/a.wav", "/rec/b.wav"])");
    EXPECT_FALSE(d->added.empty());
    EXPECT_TRUE(lib.calibration()->domain_centred);
  }
  {
    ClassLibrary lib = ClassLibrary::open(path);
    // Another embedding size, a NaN, no files: refused, nothing changed.
    DomainCentre bad;
    bad.mean = {1, 2};
    bad.files = bad.windows = 1;
    EXPECT_THROW(lib.set_domain(bad), Error);
    bad.mean = {1, std::nanf(""), 3};
    EXPECT_THROW(lib.set_domain(bad), Error);
    bad.mean = {1, 2, 3};
    bad.files = 0;
    EXPECT_THROW(lib.set_domain(bad), Error);
    EXPECT_EQ(lib.domain()->files, 12);
  }
  // Damage by another tool is named with the library and the way out.
  sql(path, "UPDATE domain SET files = 'many'");
  try {
    (void)ClassLibrary::open_read_only(path).domain();
    FAIL() << "a damaged count was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("enroll --domain"), std::string::npos) << e.what();
  }
  sql(path, "UPDATE domain SET files = 12, embedding = x'00'");
  EXPECT_THROW((void)ClassLibrary::open_read_only(path).domain(), Error);
  sql(path, "UPDATE domain SET embedding = x'0000803F0000803F0000803F'");  // three 1.0f
  {
    ClassLibrary lib = ClassLibrary::open(path);
    EXPECT_EQ(lib.domain()->mean, (std::vector<float>{1, 1, 1}));
    lib.set_domain(std::nullopt);
    EXPECT_FALSE(lib.domain().has_value());
    DomainCentre d;
    d.mean = {1, 0, 0};
    d.files = d.windows = 1;
    lib.set_domain(d);
    // Re-embedding with another model drops the old model's domain.
    lib.replace_examples(model("f2"), {});
    EXPECT_FALSE(lib.domain().has_value());
  }
}

TEST(LibraryDomain, ItsCohortIsStoredInOrderWithSchemaFourAndGoesWithIt) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  DomainCentre d;
  d.mean = {0.25f, -1.5f, 3.0f};
  d.files = 2;
  d.windows = 3;
  d.sources = R"(["/rec/a.wav", "/rec/b.wav"])";
  {
    ClassLibrary lib = ClassLibrary::open_or_create(path, model());
    lib.set_domain(d);  // a domain stored before the cohort was kept: version 3, as then
    EXPECT_EQ(meta_value(path, "schema_version"), "3");
    EXPECT_TRUE(lib.domain()->cohort.empty());
    d.cohort = {{1, 0, 0}, {0, 2, 0}, {0.5f, 0.5f, -4}};
    lib.set_domain(d);
    Calibration c;
    c.method = "simulated";
    c.normalised = c.domain_centred = true;
    c.cohort = "domain";
    lib.set_calibration(c);
    c.cohort = "class";  // neither kind: refused, nothing written
    EXPECT_THROW(lib.set_calibration(c), Error);
  }
  EXPECT_EQ(meta_value(path, "schema_version"), "4");  // a version-3 program refuses it
  {
    const ClassLibrary lib = ClassLibrary::open_read_only(path);
    EXPECT_EQ(lib.domain()->cohort, d.cohort);
    EXPECT_EQ(lib.calibration()->cohort, "domain");
  }
  // A damaged window is named with its table and the way out; an unknown kind too.
  sql(path, "UPDATE domain_cohort SET embedding = x'0000803F' WHERE id = 2");
  try {
    (void)ClassLibrary::open_read_only(path).domain();
    FAIL() << "a damaged cohort window was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("domain_cohort"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  sql(path, "UPDATE meta SET value = 'speakers' WHERE key = 'calibration_cohort'");
  EXPECT_THROW((void)ClassLibrary::open_read_only(path).calibration(), Error);
  {
    ClassLibrary lib = ClassLibrary::open(path);
    // A new domain replaces the whole cohort; removing the domain removes it.
    d.cohort = {{0, 0, 1}};
    lib.set_domain(d);
    EXPECT_EQ(lib.domain()->cohort, d.cohort);
    lib.set_domain(std::nullopt);
    d.cohort.clear();
    lib.set_domain(d);
    EXPECT_TRUE(lib.domain()->cohort.empty());
    EXPECT_EQ(meta_value(path, "schema_version"), "4");  // never lowered
    d.cohort = {{0, 3, 0}};
    lib.set_domain(d);
    lib.replace_examples(model("f2"), {});
  }
  EXPECT_EQ(count_rows(path, "domain_cohort"), 0);
}

// The recording calibration (scores centred on the recording: detect's
// default without a domain) sits beside the library's own under its own keys:
// each reads back exactly and neither touches the other; it must be centred
// and raw; removed on request and with the model (replace_examples); its
// damage is named by its own key.
TEST(LibraryCohort, TheRecordingCalibrationReadsBackBesideTheLibrarysAndGoesWithTheModel) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  auto lib = ClassLibrary::open_or_create(path, model());
  EXPECT_FALSE(lib.recording_calibration());
  Calibration own;
  own.method = "simulated";
  own.far = 0.03;
  own.threshold = 1.5;
  own.normalised = true;
  own.far_curve = {{0.01, 2.0, 0.5}, {0.5, -1.0, 0}};
  lib.set_calibration(own);
  EXPECT_FALSE(ClassLibrary::open(path).recording_calibration());  // the library's alone is not one

  Calibration centred;
  centred.method = "simulated";
  centred.far = 0.03;
  centred.threshold = -7.25;
  centred.floor = -20.5;
  centred.domain_centred = true;
  centred.examples_simulated = true;
  centred.logistic = LogisticCalibration{0.25, 3.0};
  centred.far_curve = {{1e-4, -2.0 / 3, 0.9}, {0.5, -30.0 / 7, 0}};
  centred.by_examples = {{3, 10, 90, std::nullopt, {{0.01, -5.5, 0.25}}}};
  lib.set_recording_calibration(centred);
  {
    const ClassLibrary r = ClassLibrary::open_read_only(path);
    const auto got = r.recording_calibration();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->threshold, centred.threshold);
    EXPECT_EQ(got->floor, centred.floor);
    EXPECT_TRUE(got->domain_centred);
    EXPECT_FALSE(got->normalised);
    ASSERT_TRUE(got->logistic);
    EXPECT_EQ(got->logistic->a, 0.25);
    ASSERT_EQ(got->far_curve.size(), 2u);
    EXPECT_EQ(got->far_curve[1].threshold, -30.0 / 7);
    ASSERT_EQ(got->by_examples.size(), 1u);
    EXPECT_EQ(got->by_examples[0].far_curve[0].threshold, -5.5);
    // The library's own calibration is untouched.
    const auto mine = r.calibration();
    ASSERT_TRUE(mine);
    EXPECT_EQ(mine->threshold, 1.5);
    EXPECT_TRUE(mine->normalised);
    EXPECT_FALSE(mine->domain_centred);
    EXPECT_FALSE(mine->logistic);
  }
  // Only centred raw scores have such a calibration.
  Calibration wrong = centred;
  wrong.normalised = true;
  EXPECT_THROW(lib.set_recording_calibration(wrong), Error);
  wrong = centred;
  wrong.domain_centred = false;
  EXPECT_THROW(lib.set_recording_calibration(wrong), Error);
  EXPECT_EQ(ClassLibrary::open(path).recording_calibration()->threshold, -7.25);  // a refused write changed nothing

  sql(path, "UPDATE meta SET value = '0.2 1 0.5;0.1 2 0.6' WHERE key = 'recording_calibration_far_curve';");
  const std::string damaged = test::error_of([&] { (void)ClassLibrary::open(path).recording_calibration(); });
  EXPECT_NE(damaged.find("recording_calibration_far_curve"), std::string::npos) << damaged;
  EXPECT_NE(damaged.find("damaged"), std::string::npos) << damaged;
  EXPECT_TRUE(ClassLibrary::open(path).calibration());  // the library's own still reads
  lib.set_recording_calibration(std::nullopt);
  EXPECT_FALSE(ClassLibrary::open(path).recording_calibration());
  EXPECT_TRUE(ClassLibrary::open(path).calibration());

  lib.set_recording_calibration(centred);
  lib.replace_examples(model("f2"), {});
  EXPECT_FALSE(ClassLibrary::open(path).recording_calibration());
  EXPECT_FALSE(ClassLibrary::open(path).calibration());
}

// The batch calibration (classify's batches: centred on themselves and
// AS-normalised against their own windows) sits beside the others under its
// own keys; it must be centred, normalised and against the domain's (the
// batch's own) cohort; removed on request and with the model.
TEST(LibraryCohort, TheBatchCalibrationReadsBackBesideTheOthersAndGoesWithTheModel) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  auto lib = ClassLibrary::open_or_create(path, model());
  EXPECT_FALSE(lib.batch_calibration());
  Calibration recording;
  recording.method = "simulated";
  recording.far = 0.03;
  recording.threshold = -7.25;
  recording.domain_centred = true;
  recording.far_curve = {{1e-4, -2.0, 0.9}, {0.5, -30.0, 0}};
  lib.set_recording_calibration(recording);
  EXPECT_FALSE(ClassLibrary::open(path).batch_calibration());  // the recording calibration is not one

  Calibration batch = recording;
  batch.threshold = 2.75;
  batch.normalised = true;
  batch.cohort = "domain";
  batch.far_curve = {{1e-4, 4.0, 0.8}, {0.5, -1.0, 0}};
  lib.set_batch_calibration(batch);
  {
    const ClassLibrary r = ClassLibrary::open_read_only(path);
    const auto got = r.batch_calibration();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->threshold, 2.75);
    EXPECT_TRUE(got->normalised);
    EXPECT_TRUE(got->domain_centred);
    EXPECT_EQ(got->cohort, "domain");
    ASSERT_EQ(got->far_curve.size(), 2u);
    EXPECT_EQ(got->far_curve[0].threshold, 4.0);
    EXPECT_EQ(r.recording_calibration()->threshold, -7.25);  // untouched
  }
  for (auto spoil : {+[](Calibration& c) { c.normalised = false; }, +[](Calibration& c) { c.domain_centred = false; },
                     +[](Calibration& c) { c.cohort = "training"; }}) {
    Calibration wrong = batch;
    spoil(wrong);
    EXPECT_THROW(lib.set_batch_calibration(wrong), Error);
  }
  EXPECT_EQ(ClassLibrary::open(path).batch_calibration()->threshold, 2.75);  // a refused write changed nothing
  lib.set_batch_calibration(std::nullopt);
  EXPECT_FALSE(ClassLibrary::open(path).batch_calibration());
  EXPECT_TRUE(ClassLibrary::open(path).recording_calibration());

  lib.set_batch_calibration(batch);
  lib.replace_examples(model("f2"), {});
  EXPECT_FALSE(ClassLibrary::open(path).batch_calibration());
}

}  // namespace
}  // namespace oneshot
