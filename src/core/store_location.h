#pragma once
// Where a store lives (a tuning study, a sound archive): a SQLite file, given
// as a path or as "sqlite:///relative.db" / "sqlite:////absolute.db" (the
// SQLAlchemy spelling that Optuna and hoplite configs use), or a PostgreSQL
// server, "postgresql://USER@HOST[:PORT]/DB" ("postgres://" too). One parser,
// so that every command takes the same spellings and refuses the same ones.
#include <string>

namespace oneshot {

bool is_postgres_url(const std::string& location);

// The SQLite file that `location` names: the path after "sqlite:///", or
// `location` itself when it is a plain path; empty for a PostgreSQL URL.
// Error (naming `location` and the accepted forms, `what` being "study" or
// "archive") for an empty location or "sqlite:///" alone (no file), for
// "sqlite:" without three slashes and for a URL of any other
// scheme (a name that starts like one, letters then "://"), which would
// otherwise be taken as a relative path through a folder named "sqlite:" or
// "postgresq:". A path whose name holds "://" later on stays a path.
std::string sqlite_file_of(const std::string& location, const std::string& what);

// The name to give sqlite3_open_v2 for the file at `path`: `path` itself,
// except where SQLite would not read it as a file: ":memory:" (an in-memory
// database: an index or an enrolment "succeeded" and nothing was kept) and a
// relative name starting "file:" (a URI where URIs are on) get "./" before
// them, so that every store is the file its name says.
std::string sqlite_open_name(const std::string& path);

}  // namespace oneshot
