// Output paths of the commands (core/atomic_file.h): a symbolic link's target
// is replaced, a named pipe, a character device or "-" is written through, and
// a directory, a read-only place or a missing directory is named before any
// work; a full disk or a kill while writing leaves the previous file.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/npy.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

fs::path wav() { return test::fixture("librosa/tones_22k.wav"); }

std::string logmel(const fs::path& out, const std::string& env = "") {
  return env + " " + test::cli_path().string() + " logmel " + quoted(wav()) + " " + quoted(out);
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::future<std::string> read_fifo(const fs::path& path) {
  return std::async(std::launch::async, [path] {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY);
    char buf[65536];
    ssize_t n;
    while (fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    if (fd >= 0) ::close(fd);
    return out;
  });
}

NpyArray npy_of_bytes(const fs::path& dir, const std::string& bytes) {
  write_file_atomic(dir / "copy.npy", bytes);
  return read_npy(dir / "copy.npy");
}

TEST(CliOutputs, LogmelIntoASymbolicLinkReplacesItsTarget) {
  TempDir dir;
  fs::create_directories(dir / "store");
  write_file_atomic(dir / "store" / "real.npy", "stale");
  fs::create_symlink("store/real.npy", dir / "link.npy");
  std::string out;
  ASSERT_EQ(test::run_command(logmel(dir / "link.npy"), &out), 0) << out;
  EXPECT_TRUE(fs::is_symlink(dir / "link.npy"));
  EXPECT_EQ(read_npy(dir / "store" / "real.npy").shape.size(), 2u);
  EXPECT_EQ(names_in(dir / "store"), std::vector<std::string>{"real.npy"});
}

TEST(CliOutputs, LogmelIntoANamedPipeStreams) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "out.npy").c_str(), 0644), 0);
  auto bytes = read_fifo(dir / "out.npy");
  std::string out;
  ASSERT_EQ(test::run_command(logmel(dir / "out.npy"), &out), 0) << out;
  const NpyArray a = npy_of_bytes(dir.path(), bytes.get());
  EXPECT_EQ(a.shape.size(), 2u);
  struct stat st {};
  ASSERT_EQ(::lstat((dir / "out.npy").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the pipe became a file";
}

TEST(CliOutputs, LogmelToStandardOutputWithDash) {
  TempDir dir;
  const std::string command = "cd " + quoted(dir.path()) + " && (" + test::cli_path().string() + " logmel " +
                              quoted(wav()) + " - 2>err.txt) > stdout.npy";
  std::string out;
  ASSERT_EQ(test::run_command(command, &out), 0) << out << read_file(dir / "err.txt");
  EXPECT_EQ(read_npy(dir / "stdout.npy").shape.size(), 2u);  // the summary line went to stderr
  EXPECT_TRUE(contains(read_file(dir / "err.txt"), "n_mels x frames"));
  EXPECT_FALSE(fs::exists(dir / "-"));
}

TEST(CliOutputs, ResultsOnAFullStandardOutputAreAnErrorNotASuccess) {
  // classify, search, library and score-events print their product on
  // standard output: written into a full disk it used to end with status 0
  // and an empty file. /dev/full fails every write with ENOSPC.
  struct stat st {};
  if (::stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode)) GTEST_SKIP() << "no /dev/full";
  TempDir dir;
  test::write_text(dir / "ref.tsv", "filename\tonset\toffset\tevent_label\na.wav\t1\t2\tdog\n");
  const std::string score = test::cli_path().string() + " score-events --reference " + quoted(dir / "ref.tsv") +
                            " --estimate " + quoted(dir / "ref.tsv");
  std::string out;
  ASSERT_EQ(test::run_command(score + " --format json", &out), 0) << out;  // the same command succeeds elsewhere
  for (const std::string format : {"table", "json", "csv"}) {
    EXPECT_EQ(test::run_command("(" + score + " --format " + format + " >/dev/full)", &out), 1) << format << ": " << out;
    EXPECT_TRUE(contains(out, "error: standard output: the disk is full")) << format << ": " << out;
  }
  // More than a buffer's worth: the write fails while the command runs, and the reason is still
  // named at its end (search and detect said only "could not be written").
  std::string many = "filename\tonset\toffset\tevent_label\n";
  for (int i = 0; i < 2000; ++i) many += "a.wav\t" + std::to_string(i) + "\t" + std::to_string(i + 0.5) + "\tlabel" + std::to_string(i) + "\n";
  test::write_text(dir / "many.tsv", many);
  const std::string score_many = test::cli_path().string() + " score-events --reference " + quoted(dir / "many.tsv") +
                                 " --estimate " + quoted(dir / "many.tsv") + " --format csv";
  ASSERT_EQ(test::run_command(score_many + " | wc -c", &out), 0) << out;
  ASSERT_GT(std::stol(out), 16384) << "not more than a buffer's worth";
  EXPECT_EQ(test::run_command("(" + score_many + " >/dev/full)", &out), 1) << out;
  EXPECT_TRUE(contains(out, "error: standard output: the disk is full")) << out;
}

TEST(CliOutputs, LogmelIntoACharacterDeviceWritesThrough) {
  TempDir dir;
  const fs::path node = dir / "null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) GTEST_SKIP() << "mknod not permitted";
  std::string out;
  ASSERT_EQ(test::run_command(logmel(node), &out), 0) << out;
  struct stat st {};
  ASSERT_EQ(::lstat(node.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device node was replaced by a file";
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"null"});
}

TEST(CliOutputs, LogmelRefusesADirectoryAndAMissingDirectoryBeforeAnyWork) {
  TempDir dir;
  fs::create_directories(dir / "adir");
  std::string out;
  // The input is missing too: the output is named first, before any decoding.
  const std::string missing_input = test::cli_path().string() + " logmel " + quoted(dir / "missing.wav") + " ";
  EXPECT_EQ(test::run_command(missing_input + quoted(dir / "adir"), &out), 1);
  EXPECT_TRUE(contains(out, (dir / "adir").string()) && contains(out, "is a directory")) << out;
  EXPECT_EQ(test::run_command(missing_input + quoted(dir / "nope" / "x.npy"), &out), 1);
  EXPECT_TRUE(contains(out, (dir / "nope").string()) && contains(out, "no such directory")) << out;
  EXPECT_FALSE(fs::exists(dir / "nope"));
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"adir"});
}

TEST(CliOutputs, LogmelOnAFullDiskKeepsThePreviousFileAndSaysSo) {
  TempDir dir;
  write_file_atomic(dir / "out.npy", "previous");
  for (int step = 1; step <= 4; ++step) {  // the header's write, the data's, the fsync, the rename
    std::string out;
    EXPECT_EQ(test::run_command(logmel(dir / "out.npy", "ONESHOT_WRITE_FAULT=enospc@" + std::to_string(step)), &out), 1)
        << out;
    EXPECT_TRUE(contains(out, "disk is full") && contains(out, (dir / "out.npy").string())) << step << ": " << out;
    EXPECT_EQ(read_file(dir / "out.npy"), "previous");
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.npy"});
  }
}

TEST(CliOutputs, LogmelKilledAtEachWriteStepLeavesOldOrNew) {
  TempDir dir;
  write_file_atomic(dir / "out.npy", "previous");
  std::string out;
  for (int step = 1; step <= 5; ++step) {  // the two writes, the fsync, the rename, just after it
    test::run_command(logmel(dir / "out.npy", "ONESHOT_WRITE_FAULT=kill@" + std::to_string(step)), &out);
    const std::string now = read_file(dir / "out.npy");
    if (step <= 4)
      EXPECT_EQ(now, "previous") << step;
    else
      EXPECT_EQ(read_npy(dir / "out.npy").shape.size(), 2u) << step;  // killed after the rename: the new file, whole
    write_file_atomic(dir / "out.npy", "previous");  // and its commit removes the dead process's temporary
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.npy"}) << step;
  }
}

TEST(CliOutputs, LogmelIntoAReadOnlyFileSystemIsNamed) {
  TempDir dir;
  test::SmallDisk mnt(dir / "ro", "64k", true);
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  std::string out;
  const int code = test::run_command(logmel(mnt / "x.npy"), &out);
  mnt.unmount();
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(contains(out, "read-only file system") && contains(out, mnt.path().string())) << out;
}

// best.toml on a full disk: the workers' writes after each trial only log the
// error, and tune said "written to" and exited 0 with no file written.
TEST(CliOutputs, TuneWhoseBestTomlCannotBeWrittenFailsAndDoesNotClaimIt) {
  TempDir dir;
  test::SmallDisk full(dir / "full", "16k");
  if (!full.mounted()) GTEST_SKIP() << full.why();
  std::string out;
  // Filled to the last block (dd stops at ENOSPC).
  test::run_command("dd if=/dev/zero of=" + quoted(full / "filler") + " bs=4k 2>/dev/null", &out);
  const int code = test::run_command(test::cli_path().string() + " tune --objective branin --study " +
                                         quoted(dir / "s.db") + " --trials 1 --best " + quoted(full / "best.toml"),
                                     &out);
  const bool written = fs::exists(full / "best.toml");
  full.unmount();
  EXPECT_EQ(code, 1) << out;
  EXPECT_FALSE(written);
  EXPECT_TRUE(contains(out, "disk is full") && contains(out, (full / "best.toml").string())) << out;
  EXPECT_FALSE(contains(out, "written to")) << out;
}

// Model commands: the outputs are checked before the library or the run is
// even opened (both are missing here, and are not what the error names).
TEST(CliOutputs, DetectAndEmbedNameABadOutputBeforeLoadingAnything) {
  TempDir dir;
  write_file_atomic(dir / "afile", "x");
  std::string out;
  const std::string cli = test::cli_path().string();
  EXPECT_EQ(test::run_command(cli + " detect --library " + quoted(dir / "none.db") + " --out " + quoted(dir / "afile") +
                                  " " + quoted(wav()),
                              &out),
            1);
  EXPECT_TRUE(contains(out, (dir / "afile").string()) && contains(out, "not a directory")) << out;

  fs::create_directories(dir / "emb");
  ASSERT_EQ(::mkfifo((dir / "emb" / "embeddings.npy").c_str(), 0644), 0);
  EXPECT_EQ(test::run_command(cli + " embed --run " + quoted(dir / "norun") + " --out " + quoted(dir / "emb") + " " +
                                  quoted(wav()),
                              &out),
            1);
  EXPECT_TRUE(contains(out, "embeddings.npy") && contains(out, "named pipe") && contains(out, "regular file")) << out;

  fs::create_directories(dir / "det" / "events.tsv");
  EXPECT_EQ(test::run_command(cli + " detect --library " + quoted(dir / "none.db") + " --out " + quoted(dir / "det") +
                                  " " + quoted(wav()),
                              &out),
            1);
  EXPECT_TRUE(contains(out, (dir / "det" / "events.tsv").string()) && contains(out, "is a directory")) << out;
}

TEST(CliOutputs, FeaturesAndTuneNameABadOutputBeforeAnyWork) {
  TempDir dir;
  write_file_atomic(dir / "afile", "x");
  std::string out;
  const std::string cli = test::cli_path().string();
  EXPECT_EQ(test::run_command(cli + " features --data " + quoted(dir / "nodata") + " --cache " + quoted(dir / "afile"), &out),
            1);
  EXPECT_TRUE(contains(out, (dir / "afile").string()) && contains(out, "not a directory")) << out;

  EXPECT_EQ(test::run_command(cli + " tune --objective branin --study " + quoted(dir / "s.db") + " --trials 1 --best " +
                                  quoted(dir / "nope" / "best.toml"),
                              &out),
            1);
  EXPECT_TRUE(contains(out, (dir / "nope").string()) && contains(out, "no such directory")) << out;
  EXPECT_FALSE(fs::exists(dir / "s.db")) << "the study was created before the check";
}

// export writes a file and its model card beside it (FILE.json): --out /dev/null
// made a regular file /dev/null.json, a FIFO a FIFO.json. Refused before the run loads.
TEST(CliOutputs, ExportRefusesADeviceOrANamedPipeBeforeLoadingTheRun) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "pipe.onnx").c_str(), 0644), 0);
  const std::string cli = test::cli_path().string();
  for (const auto& [out, what] : {std::pair<fs::path, std::string>{dir / "pipe.onnx", "is a named pipe"},
                                  {"/dev/null", "is a character device"}}) {
    std::string log;
    EXPECT_EQ(test::run_command(cli + " export --run " + quoted(dir / "norun") + " --format onnx --out " + quoted(out),
                                &log),
              1);
    EXPECT_TRUE(contains(log, out.string() + ": " + what) && contains(log, "model card")) << log;
    EXPECT_FALSE(contains(log, "norun")) << log;
  }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"pipe.onnx"});
}

// "-" is standard output for a file, never a directory: `detect --out -` made
// a directory named "-" (its events already go to standard output).
TEST(CliOutputs, AnOutputDirectoryOfDashIsRefusedNotCreated) {
  TempDir dir;
  std::string out;
  const std::string cli = "cd " + quoted(dir.path()) + " && " + test::cli_path().string();
  EXPECT_EQ(test::run_command(cli + " detect --library " + quoted(dir / "none.db") + " --out - " + quoted(wav()), &out),
            1);
  EXPECT_TRUE(contains(out, "--out - :") && contains(out, "the events already go to standard output") &&
              contains(out, "./-"))
      << out;
  EXPECT_FALSE(contains(out, "none.db")) << "refused before the library is opened: " << out;
  EXPECT_EQ(test::run_command(cli + " embed --run " + quoted(dir / "norun") + " --out - " + quoted(wav()), &out), 1);
  EXPECT_TRUE(contains(out, "-: an output directory is needed here") && !contains(out, "norun")) << out;
  EXPECT_TRUE(names_in(dir.path()).empty()) << "a directory named \"-\" was created";
}

// A class library and a study are SQLite files written in place: a missing or
// read-only directory is named before the model loads or any trial runs, not
// as SQLite's "unable to open database file" (the study: after the search
// space was read; the library: after the model loaded).
TEST(CliOutputs, ALibraryOrStudyInAMissingOrReadOnlyDirectoryIsNamedBeforeAnyWork) {
  TempDir dir;
  std::string out;
  const std::string cli = test::cli_path().string();
  const std::string enroll = cli + " enroll --class bell --run " + quoted(dir / "norun") + " " + quoted(wav());
  EXPECT_EQ(test::run_command(enroll + " --library " + quoted(dir / "nope" / "lib.db"), &out), 1);
  EXPECT_TRUE(contains(out, (dir / "nope").string() + ": no such directory") && !contains(out, "norun")) << out;
  const std::string tune = cli + " tune --objective branin --trials 1 --best " + quoted(dir / "best.toml");
  EXPECT_EQ(test::run_command(tune + " --study " + quoted(dir / "nope" / "s.db"), &out), 1);
  EXPECT_TRUE(contains(out, (dir / "nope").string() + ": no such directory")) << out;
  EXPECT_EQ(test::run_command(tune + " --study sqlite:///" + (dir / "nope" / "s.db").string(), &out), 1);
  EXPECT_TRUE(contains(out, (dir / "nope").string() + ": no such directory")) << out;
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{}) << "nothing created";

  test::SmallDisk mnt(dir / "ro", "64k", true);
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  const int enroll_code = test::run_command(enroll + " --library " + quoted(mnt / "lib.db"), &out);
  const std::string enroll_out = out;
  const int tune_code = test::run_command(tune + " --study " + quoted(mnt / "s.db"), &out);
  mnt.unmount();
  EXPECT_EQ(enroll_code, 1);
  EXPECT_TRUE(contains(enroll_out, "read-only file system") && contains(enroll_out, mnt.path().string()) &&
              !contains(enroll_out, "norun"))
      << enroll_out;
  EXPECT_EQ(tune_code, 1);
  EXPECT_TRUE(contains(out, "read-only file system") && contains(out, mnt.path().string())) << out;
  EXPECT_FALSE(fs::exists(dir / "best.toml"));
}

}  // namespace
}  // namespace oneshot
