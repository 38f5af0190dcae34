#pragma once
// The SQLite implementation of ArchiveStore: one file, readable by any SQLite
// tool, transactional. As the class library (enroll/library.h): PRAGMA
// application_id "OSAR" says what the file is (another program's SQLite file
// is named and left as it is), rollback-journal mode, a two-minute busy
// timeout so that two processes queue, every change one IMMEDIATE transaction.
//
// Schema (version 1):
//   meta(key TEXT PRIMARY KEY, value TEXT)  schema_version, created, run,
//       fingerprint, embedding_dim, window_s, hop_s, sample_rate,
//       precision ("float32" or "float16")
//   files(id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT UNIQUE, size,
//       mtime_ns, head_hash TEXT, duration_s REAL, windows, indexed TEXT)
//   windows(id INTEGER PRIMARY KEY AUTOINCREMENT, file_id -> files.id ON
//       DELETE CASCADE, start_s REAL, embedding BLOB: embedding_dim
//       little-endian float32 or float16 values)
//   reviews(window_id -> windows.id ON DELETE CASCADE, class TEXT, verdict
//       TEXT, added TEXT, PRIMARY KEY(window_id, class))
// Ids are never reused (AUTOINCREMENT): a verdict table written before an
// `index --update` never names another window.
//
// A recording's windows are spooled to an unnamed temporary file while it is
// embedded (memory holds one batch, whatever the recording's length) and
// written in one short transaction by FileWriter::commit, so the write lock is
// held for the insert alone, not for the embedding; a search reads meanwhile.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "archive/archive_store.h"

namespace oneshot::archive {

std::unique_ptr<ArchiveStore> open_sqlite_archive(const std::filesystem::path& path, bool read_only);
std::unique_ptr<ArchiveStore> open_or_create_sqlite_archive(const std::filesystem::path& path,
                                                            const ArchiveModel& model, std::optional<bool> half);

// For tests: called after every statement that writes to an archive (each
// window's insert is one); an exception thrown by the hook fails that
// statement's change, which is rolled back.
void set_archive_statement_hook(std::function<void()> hook);
// For the programs' tests, the environment variable ONESHOT_TEST_ARCHIVE_FAULT=N[:kill]:
// the N-th statement that writes to an archive (1-based, counted per
// process; each window's insert is one) throws, or with ":kill" the process
// kills itself with SIGKILL.
// Every store calls this after each statement that writes (the PostgreSQL
// store's too: postgres_store.h), so that the hook and the variable count them.
void archive_statement_written();

}  // namespace oneshot::archive
