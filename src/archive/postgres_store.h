#pragma once
// The PostgreSQL implementation of ArchiveStore (issue 19 item 1, "many
// hosts"): `index` workers on any number of machines given one archive URL
// and one list of recordings share the recordings between them, as `tune`
// workers share trials (src/tune/worker.h), over libpqxx.
//
// The URL: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?archive=NAME]
// ("postgres://" too; libpq's own parameters such as sslmode pass through).
// NAME (default `sound_archive`; letters, digits and _, at most 63) is the
// PostgreSQL schema that holds the archive's tables, so one database holds
// any number of archives. Messages name the URL without its password.
//
// Schema (version 1), the SQLite store's (sqlite_archive.h) in PostgreSQL
// types, in schema NAME:
//   meta(key TEXT PRIMARY KEY, value TEXT)  kind ("oneshot-audio sound
//       archive"), schema_version, created, run, fingerprint, embedding_dim,
//       window_s, hop_s, sample_rate, precision ("float32" or "float16")
//   files(id BIGSERIAL PRIMARY KEY, path TEXT UNIQUE, size, mtime_ns,
//       head_hash, duration_s DOUBLE PRECISION, windows, indexed TEXT)
//   windows(id BIGSERIAL PRIMARY KEY, file_id -> files.id ON DELETE CASCADE,
//       start_s DOUBLE PRECISION, embedding BYTEA: embedding_dim
//       little-endian float32 or float16 values, the SQLite store's bytes)
//   reviews(window_id -> windows.id ON DELETE CASCADE, class, verdict, added,
//       PRIMARY KEY(window_id, class))
//   claims(path TEXT PRIMARY KEY, worker TEXT, heartbeat DOUBLE PRECISION
//       (seconds since 1970 on the server's clock), timeout_s DOUBLE
//       PRECISION, claimed TEXT)
// Ids are never reused (sequences).
//
// Claims (try_begin_file): in one transaction holding the path's advisory
// lock, a worker claims a recording unless it is stored with the same
// identity already or another worker's claim on it is live (its heartbeat
// younger than that claim's timeout_s). A worker's heartbeat thread (its own
// connection) stamps all its claims every timeout/4 seconds while it embeds;
// a worker killed mid-file stops stamping, and once its claim is
// kClaimTimeoutSeconds old any other worker takes the file up and embeds it
// again. Heartbeats use the server's clock, so hosts' clocks need not agree.
// begin_file claims the recording whatever other claims say (one writer;
// `index` uses try_begin_file). A writer dropped before commit (an error, a
// bad recording) gives its claim up at once.
// The final store (FileWriter::commit) is conditional, under the same lock:
// when the recording was stored with the same identity since this writer
// claimed it (a worker taken over while it was slow, not dead, finished
// first), nothing is stored and FileWriter::stored_by_another() says so;
// otherwise the path's record is replaced, as in the SQLite store. So a file is never stored
// twice, and a recording with all its windows is one transaction (a worker
// killed mid-store leaves nothing: the server rolls its transaction back).
// For the fault injection of sqlite_archive.h (set_archive_statement_hook,
// ONESHOT_TEST_ARCHIVE_FAULT) a writing statement is a claim, a recording's
// old record's delete, its record, or one insert of up to 256 windows.
#include <memory>
#include <optional>
#include <string>

#include "archive/archive_store.h"

namespace oneshot::archive {

// A claim whose heartbeat is older than this is taken up by another worker.
inline constexpr double kClaimTimeoutSeconds = 60;

struct PostgresArchiveOptions {
  // Seconds after its last heartbeat at which this worker's claims may be
  // taken over (written with each claim; heartbeats every timeout/4).
  // The environment variable ONESHOT_ARCHIVE_CLAIM_TIMEOUT (seconds > 0,
  // for tests) replaces the default.
  double claim_timeout_s = 0;  // 0: kClaimTimeoutSeconds or the variable
  // This worker's name in the claims table (default host:pid:random).
  std::string worker;
};

// The URL without its password, for messages.
std::string redact_archive_url(const std::string& url);

std::unique_ptr<ArchiveStore> open_postgres_archive(const std::string& url, bool read_only,
                                                    const PostgresArchiveOptions& options = {});
std::unique_ptr<ArchiveStore> open_or_create_postgres_archive(const std::string& url, const ArchiveModel& model,
                                                              std::optional<bool> half,
                                                              const PostgresArchiveOptions& options = {});
// Whether the URL's database holds the archive (its schema with table meta).
// Error when the server cannot be reached.
bool postgres_archive_exists(const std::string& url);

}  // namespace oneshot::archive
