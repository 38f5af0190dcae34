// The spellings of a store's location that every command shares (studies, archives).
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/store_location.h"

using namespace oneshot;

namespace {
std::string error_of(const std::string& location) {
  try {
    (void)sqlite_file_of(location, "archive");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(StoreLocation, SqliteUrlsPathsAndPostgresUrls) {
  EXPECT_EQ(sqlite_file_of("sqlite:///relative.db", "study"), "relative.db");
  EXPECT_EQ(sqlite_file_of("sqlite:////abs/olute.db", "study"), "/abs/olute.db");
  EXPECT_EQ(sqlite_file_of("plain/path.db", "study"), "plain/path.db");
  EXPECT_EQ(sqlite_file_of("/tmp/odd://name.db", "study"), "/tmp/odd://name.db");  // not a scheme: a folder "odd:"
  EXPECT_EQ(sqlite_file_of("./x://y.db", "study"), "./x://y.db");
  EXPECT_EQ(sqlite_file_of("postgresql://u@h/db", "study"), "");
  EXPECT_EQ(sqlite_file_of("postgres://u@h/db", "study"), "");
  EXPECT_TRUE(is_postgres_url("postgresql://u@h/db"));
  EXPECT_FALSE(is_postgres_url("sqlite:///x.db"));
}

TEST(StoreLocation, OtherSchemesAndBrokenSqliteUrlsAreRefusedNamingTheForms) {
  EXPECT_NE(error_of("sqlite://x.db").find("sqlite://x.db: expected sqlite:///PATH"), std::string::npos);
  EXPECT_NE(error_of("sqlite:x.db").find("sqlite:x.db: expected sqlite:///PATH"), std::string::npos);
  const std::string other = error_of("postgresq://u@h/db");
  EXPECT_NE(other.find("postgresq://u@h/db: unknown archive URL scheme postgresq://"), std::string::npos) << other;
  EXPECT_NE(other.find("postgresql://USER@HOST/DB"), std::string::npos) << other;
  EXPECT_NE(error_of("").find("archive location \"\" names no file"), std::string::npos);
  EXPECT_NE(error_of("sqlite:///").find("names no file"), std::string::npos);
  EXPECT_NE(error_of("s3+https://bucket/x").find("unknown archive URL scheme s3+https://"), std::string::npos);
}

TEST(StoreLocation, NamesSqliteReadsSpeciallyOpenTheFileTheySay) {
  EXPECT_EQ(sqlite_open_name(":memory:"), "./:memory:");  // else an in-memory database: nothing kept
  EXPECT_EQ(sqlite_open_name("file:x.db"), "./file:x.db");  // else a URI where URIs are on
  EXPECT_EQ(sqlite_open_name("x.db"), "x.db");
  EXPECT_EQ(sqlite_open_name("/abs/:memory:"), "/abs/:memory:");
  EXPECT_EQ(sqlite_open_name("dir/file:x.db"), "dir/file:x.db");
}
