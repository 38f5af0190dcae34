// The recordings a command is given (inference/enrolment.h expand_inputs):
// in a folder, files that are not audio by name (notes, metadata, a
// spreadsheet beside the recordings) are skipped and listed, as a dataset's
// class folders skip them; they used to be read, fail, and make embed and
// classify exit 1 though every recording was processed. A file named on its
// own is taken whatever its name (the reader says what it is).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "inference/enrolment.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

TEST(ExpandInputs, SidecarFilesInAFolderAreSkippedAndListed) {
  test::TempDir dir;
  const fs::path recs = dir / "recs";
  for (const char* name : {"b.wav", "a.FLAC", "sub/c.mp3", "a.txt", "meta.json", "sub/notes", ".DS_Store"})
    write_file_atomic(recs / name, "x");
  ASSERT_EQ(::mkfifo((recs / "pipe").c_str(), 0600), 0);  // not audio by name: never opened
  const InputFiles in = expand_inputs({recs.string(), (dir / "single.txt").string()});
  EXPECT_EQ(in.files, (std::vector<std::string>{(recs / "a.FLAC").string(), (recs / "b.wav").string(),
                                                (recs / "sub/c.mp3").string(), (dir / "single.txt").string()}));
  EXPECT_EQ(in.not_audio, (std::vector<std::string>{(recs / ".DS_Store").string(), (recs / "a.txt").string(),
                                                    (recs / "meta.json").string(), (recs / "pipe").string(),
                                                    (recs / "sub/notes").string()}));
  EXPECT_EQ(in.skipped_note(), "skipped 4 files that are not audio (no audio extension): " + (recs / "a.txt").string() +
                                   ", " + (recs / "meta.json").string() + ", " + (recs / "pipe").string() + ", " +
                                   (recs / "sub/notes").string() + "; and 1 hidden file (name starting with \".\"): " +
                                   (recs / ".DS_Store").string());
}

// Hidden files and folders were skipped without a word, though the README says
// they are named: a recording saved as .take2.wav was simply not processed.
TEST(ExpandInputs, HiddenFilesAndFoldersAreSkippedAndNamed) {
  test::TempDir dir;
  const fs::path recs = dir / "recs";
  for (const char* name : {"a.wav", ".hidden.wav", ".cache/b.wav"}) write_file_atomic(recs / name, "x");
  const InputFiles in = expand_inputs({recs.string()});
  EXPECT_EQ(in.files, std::vector<std::string>{(recs / "a.wav").string()});
  EXPECT_EQ(in.skipped_note(), "skipped 1 hidden file and 1 hidden folder (name starting with \".\"): " +
                                   (recs / ".cache").string() + "/, " + (recs / ".hidden.wav").string());
}

TEST(ExpandInputs, AFolderWithoutAudioIsNamedWithWhatItHolds) {
  test::TempDir dir;
  for (int i = 0; i < 7; ++i) write_file_atomic(dir / "notes" / ("n" + std::to_string(i) + ".txt"), "x");
  const std::string message = test::error_of([&] { expand_inputs({(dir / "notes").string()}); });
  EXPECT_NE(message.find((dir / "notes").string() + ": directory holds no audio files (7 other files: "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("n4.txt and 2 more)"), std::string::npos) << message;
  fs::create_directories(dir / "empty");
  EXPECT_NE(test::error_of([&] { expand_inputs({(dir / "empty").string()}); }).find("directory holds no files"),
            std::string::npos);
  // In place (classify, detect): the empty folder is listed with its error and the other inputs kept; with
  // nothing else left it is still the error.
  write_file_atomic(dir / "recs" / "a.wav", "x");
  const InputFiles in_place =
      expand_inputs({(dir / "empty").string(), (dir / "recs").string(), (dir / "notes").string()}, EmptyFolders::in_place);
  EXPECT_EQ(in_place.files, std::vector<std::string>{(dir / "recs" / "a.wav").string()});
  ASSERT_EQ(in_place.empty_folders.size(), 2u);
  EXPECT_EQ(in_place.empty_folders[0].first, (dir / "empty").string());
  EXPECT_NE(in_place.empty_folders[0].second.find("directory holds no files"), std::string::npos);
  EXPECT_NE(in_place.empty_folders[1].second.find("directory holds no audio files (7 other files"), std::string::npos);
  EXPECT_NE(test::error_of([&] { expand_inputs({(dir / "empty").string()}, EmptyFolders::in_place); })
                .find("directory holds no files"),
            std::string::npos);
  // A FIFO named as audio is still named: reading it could block for ever.
  write_file_atomic(dir / "live" / "a.wav", "x");
  ASSERT_EQ(::mkfifo((dir / "live" / "b.wav").c_str(), 0600), 0);
  EXPECT_NE(test::error_of([&] { expand_inputs({(dir / "live").string()}); }).find("is not a regular file"),
            std::string::npos);
}

// A link to a recording in the same tree (or in a folder named earlier) was
// listed under both names, so an archive indexed and found it twice.
TEST(ExpandInputs, ARecordingReachedUnderTwoNamesIsListedOnce) {
  test::TempDir dir;
  const fs::path recs = dir / "recs", more = dir / "more";
  write_file_atomic(recs / "b.wav", "x");
  write_file_atomic(recs / "c.wav", "y");
  fs::create_symlink(recs / "b.wav", recs / "a.wav");   // sorts first: kept under this name
  fs::create_symlink(dir / "gone.wav", recs / "e.wav");  // leads nowhere: kept, the reader names it
  fs::create_directories(more);
  fs::create_symlink(recs / "c.wav", more / "d.wav");  // a second folder reaching c.wav
  write_file_atomic(more / "f.wav", "z");
  const InputFiles in = expand_inputs({recs.string(), more.string()});
  EXPECT_EQ(in.files, (std::vector<std::string>{(recs / "a.wav").string(), (recs / "c.wav").string(),
                                                (recs / "e.wav").string(), (more / "f.wav").string()}));
  EXPECT_EQ(in.same_file, (std::vector<std::string>{(recs / "b.wav").string(), (more / "d.wav").string()}));
  EXPECT_TRUE(in.any_skipped());
  EXPECT_EQ(in.skipped_note(), "skipped 2 files that are a recording already listed (the same folder given twice, or another name of it, a link): " +
                                   (recs / "b.wav").string() + ", " + (more / "d.wav").string());
  // Named on the command line, a file is taken as given, even twice.
  EXPECT_EQ(expand_inputs({(recs / "a.wav").string(), (recs / "b.wav").string()}).files.size(), 2u);
}

}  // namespace
}  // namespace oneshot
