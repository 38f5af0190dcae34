// Dataset loading: ESC-50 CSV joined by file name, ESC-10 subset, missing
// rows, malformed CSV, paths escaping the root, folder-per-class layout.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "core/error.h"
#include "data/dataset.h"
#include "data/synthetic.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;

// A tiny but real WAV, so the files are what they claim to be.
void write_clip(const fs::path& path) {
  fs::create_directories(path.parent_path());
  write_wav16(path, std::vector<float>(64, 0.25f), 8000);
}

const char* kHeader = "filename,fold,target,category,esc10,src_file,take\n";

// The message of the Error thrown by load_dataset (fails the test if none).
std::string load_error(const fs::path& root, const DatasetOptions& options = {}) {
  try {
    load_dataset(root, options);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "load_dataset(" << root << ") did not throw";
  return {};
}

TEST(Esc50Dataset, JoinsLabelsByFileNameNotDirectoryOrder) {
  TempDir dir;
  // Files created in one order, listed in the CSV in another, and named so
  // that sorting them gives yet another order.
  for (const char* name : {"c.wav", "a.wav", "d.wav", "b.wav"}) write_clip(dir / "audio" / name);
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) +
                                             "d.wav,4,7,crow,False,4,A\n"
                                             "b.wav,1,5,dog,True,2,A\n"
                                             "a.wav,2,0,rain,True,1,A\n"
                                             "c.wav,3,5,dog,True,3,B\n");
  Dataset ds = load_dataset(dir.path());
  EXPECT_EQ(ds.layout, "esc50");
  // Class ids follow ascending targets: 0 rain, 5 dog, 7 crow.
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"rain", "dog", "crow"}));
  ASSERT_EQ(ds.clips.size(), 4u);
  std::vector<std::string> names;
  for (const auto& c : ds.clips) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"audio/a.wav", "audio/b.wav", "audio/c.wav", "audio/d.wav"}));
  EXPECT_EQ(ds.clips[0].class_id, 0);  // a: rain
  EXPECT_EQ(ds.clips[1].class_id, 1);  // b: dog
  EXPECT_EQ(ds.clips[2].class_id, 1);  // c: dog
  EXPECT_EQ(ds.clips[3].class_id, 2);  // d: crow
  EXPECT_EQ(ds.clips[0].fold, 2);
  EXPECT_EQ(ds.clips[3].fold, 4);
  EXPECT_TRUE(fs::exists(ds.clips[2].path));
  EXPECT_EQ(ds.clips[2].path.filename(), "c.wav");
}

TEST(Esc50Dataset, SyntheticLabelsMatchTheTargetInEachFileName) {
  TempDir dir;
  SyntheticOptions o;
  o.n_classes = 7;
  o.clips_per_class = 3;
  o.sample_rate = 8000;
  o.duration = 0.1;
  SyntheticDataset synth = write_synthetic_dataset(dir.path(), o);
  Dataset ds = load_dataset(dir.path());
  ASSERT_EQ(ds.clips.size(), 21u);
  EXPECT_EQ(ds.class_names, synth.class_names);
  const std::regex esc50_name(R"(audio/(\d)-\d+-[A-Z]-(\d+)\.wav)");
  for (const auto& clip : ds.clips) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(clip.name, m, esc50_name)) << clip.name;
    EXPECT_EQ(clip.class_id, std::stoi(m[2])) << clip.name;
    EXPECT_EQ(clip.fold, std::stoi(m[1])) << clip.name;
  }
  EXPECT_TRUE(std::is_sorted(ds.clips.begin(), ds.clips.end(),
                             [](const ClipEntry& a, const ClipEntry& b) { return a.name < b.name; }));
}

TEST(Esc50Dataset, Esc10SelectsTheSubsetWithDenseClassIds) {
  TempDir dir;
  SyntheticOptions o;
  o.n_classes = 10;
  o.clips_per_class = 2;
  o.sample_rate = 8000;
  o.duration = 0.1;
  SyntheticDataset synth = write_synthetic_dataset(dir.path(), o);
  DatasetOptions options;
  options.esc10 = true;
  Dataset ds = load_dataset(dir.path(), options);
  // The generator marks even targets as ESC-10.
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{synth.class_names[0], synth.class_names[2], synth.class_names[4],
                                                      synth.class_names[6], synth.class_names[8]}));
  ASSERT_EQ(ds.clips.size(), 10u);
  for (const auto& clip : ds.clips) {
    const int target = std::stoi(clip.name.substr(clip.name.rfind('-') + 1));
    EXPECT_EQ(target % 2, 0) << clip.name;
    EXPECT_EQ(ds.class_names[static_cast<std::size_t>(clip.class_id)], synth.class_names[static_cast<std::size_t>(target)]);
  }
  EXPECT_EQ(load_dataset(dir.path()).clips.size(), 20u);
}

TEST(Esc50Dataset, MissingFilesAreListedTogetherOrSkippedWhenAsked) {
  TempDir dir;
  write_clip(dir / "audio" / "here.wav");
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) +
                                             "gone1.wav,1,0,rain,False,1,A\n"
                                             "here.wav,1,0,rain,False,2,A\n"
                                             "gone2.wav,1,1,dog,False,3,A\n");
  const std::string message = load_error(dir.path());
  EXPECT_NE(message.find("gone1.wav"), std::string::npos) << message;
  EXPECT_NE(message.find("gone2.wav"), std::string::npos) << message;
  EXPECT_NE(message.find("2 listed audio file(s) missing"), std::string::npos) << message;

  DatasetOptions options;
  options.skip_bad = true;
  Dataset ds = load_dataset(dir.path(), options);
  ASSERT_EQ(ds.clips.size(), 1u);
  EXPECT_EQ(ds.clips[0].name, "audio/here.wav");
  ASSERT_EQ(ds.skipped.size(), 2u);
  EXPECT_EQ(ds.skipped[0].path.filename(), "gone1.wav");
  EXPECT_EQ(ds.skipped[1].path.filename(), "gone2.wav");
  EXPECT_NE(ds.skipped[0].reason.find("not found"), std::string::npos);
  // The class set does not depend on which files happen to exist.
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"rain", "dog"}));
}

TEST(Esc50Dataset, MissingFilesOutsideTheEsc10SubsetDoNotMatter) {
  TempDir dir;
  write_clip(dir / "audio" / "a.wav");
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) +
                                             "a.wav,1,0,dog,True,1,A\n"
                                             "gone.wav,1,1,rooster,False,2,A\n");
  DatasetOptions options;
  options.esc10 = true;
  EXPECT_EQ(load_dataset(dir.path(), options).clips.size(), 1u);
  EXPECT_FALSE(load_error(dir.path()).empty());
}

struct MalformedCase {
  const char* what;
  std::string csv;
  std::string expected;  // in the message, with the line number
};

TEST(Esc50Dataset, MalformedCsvNamesFileAndLine) {
  const std::vector<MalformedCase> cases = {
      {"too few fields", std::string(kHeader) + "a.wav,1,0,dog,True,1,A\nb.wav,1,0\n", "esc50.csv:3: expected 7 fields"},
      {"non-integer target", std::string(kHeader) + "a.wav,1,zero,dog,True,1,A\n", "esc50.csv:2: target \"zero\""},
      {"negative target", std::string(kHeader) + "a.wav,1,-3,dog,True,1,A\n", "esc50.csv:2: target \"-3\""},
      {"bad fold", std::string(kHeader) + "a.wav,x,0,dog,True,1,A\n", "esc50.csv:2: fold \"x\""},
      {"bad esc10", std::string(kHeader) + "a.wav,1,0,dog,maybe,1,A\n", "esc50.csv:2: esc10 \"maybe\""},
      {"empty filename", std::string(kHeader) + ",1,0,dog,True,1,A\n", "esc50.csv:2: empty filename"},
      {"unterminated quote", std::string(kHeader) + "\"a.wav,1,0,dog,True,1,A\n", "esc50.csv:2: unterminated"},
      {"duplicate", std::string(kHeader) + "a.wav,1,0,dog,True,1,A\na.wav,2,0,dog,True,1,B\n",
       "esc50.csv:3: duplicate filename \"a.wav\" (first on line 2)"},
      {"two categories for a target", std::string(kHeader) + "a.wav,1,0,dog,True,1,A\nb.wav,1,0,cat,True,2,A\n",
       "esc50.csv:3: target 0 is \"cat\""},
      {"missing column", "filename,fold,category,esc10\na.wav,1,dog,True\n", "esc50.csv:1: header lacks column(s) target"},
      {"empty file", "", "esc50.csv: empty file"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    write_clip(dir / "audio" / "a.wav");
    write_clip(dir / "audio" / "b.wav");
    write_text(dir / "meta" / "esc50.csv", c.csv);
    const std::string message = load_error(dir.path());
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
    // Malformed metadata is never "skipped".
    DatasetOptions skip;
    skip.skip_bad = true;
    EXPECT_THROW(load_dataset(dir.path(), skip), Error) << c.what;
  }
}

TEST(Esc50Dataset, ReportsEveryMalformedLineAtOnce) {
  TempDir dir;
  write_clip(dir / "audio" / "a.wav");
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) + "a.wav,1,0,dog,True,1,A\nb,1\nc,2\n");
  const std::string message = load_error(dir.path());
  EXPECT_NE(message.find("esc50.csv:3:"), std::string::npos) << message;
  EXPECT_NE(message.find("esc50.csv:4:"), std::string::npos) << message;
}

TEST(Esc50Dataset, AcceptsQuotesCrlfBomAndReorderedColumns) {
  TempDir dir;
  write_clip(dir / "audio" / "a b.wav");
  write_clip(dir / "audio" / "c.wav");
  write_text(dir / "meta" / "esc50.csv",
             "\xEF\xBB\xBFtake,category,target,fold,filename,esc10,src_file\r\n"
             "A,\"crackling, fire\",12,1,\"a b.wav\",True,1\r\n"
             "B,\"say \"\"hi\"\"\",3,2,c.wav,False,2\r\n\r\n");
  Dataset ds = load_dataset(dir.path());
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"say \"hi\"", "crackling, fire"}));
  ASSERT_EQ(ds.clips.size(), 2u);
  EXPECT_EQ(ds.clips[0].name, "audio/a b.wav");
  EXPECT_EQ(ds.clips[0].class_id, 1);
  EXPECT_EQ(ds.clips[1].class_id, 0);
}

TEST(Esc50Dataset, RejectsPathsEscapingTheRoot) {
  TempDir outside;
  write_clip(outside / "secret.wav");
  struct Case {
    const char* what;
    std::string filename;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"dot-dot", "../../" + outside.path().filename().string() + "/secret.wav", "escapes the dataset root"},
      {"dot-dot inside", "sub/../../meta/esc50.csv", "escapes the dataset root"},
      {"absolute", (outside / "secret.wav").string(), "absolute path"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    write_clip(dir / "audio" / "ok.wav");
    write_text(dir / "meta" / "esc50.csv",
               std::string(kHeader) + "ok.wav,1,0,dog,True,1,A\n" + c.filename + ",1,0,dog,True,2,A\n");
    const std::string message = load_error(dir.path());
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
    EXPECT_NE(message.find("esc50.csv:3"), std::string::npos) << c.what << ": " << message;
    DatasetOptions skip;
    skip.skip_bad = true;
    EXPECT_THROW(load_dataset(dir.path(), skip), Error) << c.what << ": never skipped silently";
  }
}

TEST(Esc50Dataset, AcceptsLinksThatStayInsideTheRoot) {
  TempDir dir;
  write_clip(dir / "store" / "real.wav");
  fs::create_directories(dir / "audio");
  fs::create_symlink("../store/real.wav", dir / "audio" / "alias.wav");
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) + "alias.wav,1,0,dog,True,1,A\n");
  Dataset ds = load_dataset(dir.path());
  ASSERT_EQ(ds.clips.size(), 1u);
  EXPECT_EQ(ds.clips[0].name, "audio/alias.wav");
}

// Issue 10, item 5: audio/ on another disk (and DVC's symlink cache,
// git-annex) was refused row by row as "resolves outside the dataset root".
TEST(Esc50Dataset, FollowsAnAudioFolderLinkedToAnotherPlace) {
  TempDir outside, dir;
  write_clip(outside / "a.wav");
  write_clip(outside / "b.wav");
  fs::create_directory_symlink(outside.path(), dir / "audio");
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) + "a.wav,1,0,dog,True,1,A\nb.wav,2,1,cat,True,1,A\n");
  Dataset ds = load_dataset(dir.path());
  ASSERT_EQ(ds.clips.size(), 2u);
  EXPECT_EQ(ds.clips[0].name, "audio/a.wav");
  EXPECT_TRUE(fs::exists(ds.clips[0].path));
}

TEST(Esc50Dataset, FollowsFileLinksOutOfTheRootAndListsBrokenOnes) {
  TempDir outside, dir;
  write_clip(outside / "annexed.wav");
  write_clip(dir / "audio" / "ok.wav");
  fs::create_symlink(outside / "annexed.wav", dir / "audio" / "link.wav");
  fs::create_symlink(outside / "nothing-here.wav", dir / "audio" / "dangling.wav");
  write_text(dir / "meta" / "esc50.csv",
             std::string(kHeader) + "ok.wav,1,0,dog,True,1,A\nlink.wav,1,0,dog,True,2,A\ndangling.wav,1,0,dog,True,3,A\n");
  const std::string message = load_error(dir.path());
  EXPECT_NE(message.find("dangling.wav: broken link (listed on line 4"), std::string::npos) << message;
  EXPECT_EQ(message.find("link.wav: "), std::string::npos) << "the good link is not a problem: " << message;
  DatasetOptions skip;
  skip.skip_bad = true;
  Dataset ds = load_dataset(dir.path(), skip);
  ASSERT_EQ(ds.clips.size(), 2u);
  EXPECT_EQ(ds.clips[0].name, "audio/link.wav");
  ASSERT_EQ(ds.skipped.size(), 1u);
}

TEST(Esc50Dataset, CollectProblemsLeavesMissingRowsForTheFeatureStep) {
  TempDir dir;
  write_clip(dir / "audio" / "here.wav");
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) + "here.wav,1,0,dog,True,1,A\ngone.wav,1,0,dog,True,2,A\n");
  DatasetOptions collect;
  collect.collect_problems = true;
  Dataset ds = load_dataset(dir.path(), collect);
  EXPECT_EQ(ds.clips.size(), 1u);
  ASSERT_EQ(ds.problems.size(), 1u);
  EXPECT_EQ(ds.problems[0].path.filename(), "gone.wav");
  EXPECT_NE(ds.problems[0].reason.find("file not found (listed on line 3"), std::string::npos);
  EXPECT_TRUE(ds.skipped.empty());
}

TEST(FoldersDataset, ClassesSortedByNameAudioFilesOnly) {
  TempDir dir;
  write_clip(dir / "dog" / "bark2.wav");
  write_clip(dir / "dog" / "bark1.wav");
  write_clip(dir / "cat" / "meow.flac");  // the extension decides, the decoder checks contents
  write_clip(dir / "cat" / "purr.OGG");
  write_text(dir / "cat" / "notes.txt", "not audio");
  write_clip(dir / "cat" / ".hidden.wav");
  write_clip(dir / ".oneshot-cache" / "x.wav");
  fs::create_directories(dir / "empty");
  write_clip(dir / "stray.wav");  // not in a class folder
  Dataset ds = load_dataset(dir.path());
  EXPECT_EQ(ds.layout, "folders");
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"cat", "dog"}));
  std::vector<std::string> names;
  std::vector<int> ids;
  for (const auto& c : ds.clips) {
    names.push_back(c.name);
    ids.push_back(c.class_id);
    EXPECT_EQ(c.fold, 0);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"cat/meow.flac", "cat/purr.OGG", "dog/bark1.wav", "dog/bark2.wav"}));
  EXPECT_EQ(ids, (std::vector<int>{0, 0, 1, 1}));
  // Every other file in a class folder is reported, with why.
  ASSERT_EQ(ds.ignored.size(), 2u);
  EXPECT_EQ(ds.ignored[0].path.filename(), ".hidden.wav");
  EXPECT_EQ(ds.ignored[0].reason, "hidden file");
  EXPECT_EQ(ds.ignored[1].path.filename(), "notes.txt");
  EXPECT_EQ(ds.ignored[1].reason, "not an audio file name");
}

// Issue 10, item 3: a class of MP3 files vanished without a word.
TEST(FoldersDataset, TakesEveryCommonAudioFormatByName) {
  TempDir dir;
  const std::vector<std::string> files = {"a.wav", "b.flac", "c.ogg", "d.opus", "e.mp3", "f.m4a", "g.MP4", "h.aac",
                                          "i.webm", "j.mov", "k.3gp", "l.aiff", "m.amr", "n.mka", "o.caf"};
  for (const auto& f : files) write_clip(dir / "mixed" / f);
  write_clip(dir / "mp3s" / "bark.mp3");
  Dataset ds = load_dataset(dir.path());
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"mixed", "mp3s"}));
  EXPECT_EQ(ds.clips.size(), files.size() + 1);
  EXPECT_TRUE(ds.ignored.empty());
}

TEST(FoldersDataset, AClassFolderWithoutAudioIsNamed) {
  TempDir dir;
  write_clip(dir / "dog" / "a.wav");
  write_text(dir / "cat" / "notes.txt", "x");
  write_text(dir / "cat" / "scores.csv", "x");
  fs::create_directories(dir / "empty");  // no files at all: not a class, nothing to report
  const std::string message = load_error(dir.path());
  EXPECT_NE(message.find("cat: class folder with no audio file (2 other file(s): .csv 1, .txt 1)"), std::string::npos)
      << message;
  DatasetOptions skip;
  skip.skip_bad = true;
  Dataset ds = load_dataset(dir.path(), skip);
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"dog"}));
  ASSERT_EQ(ds.skipped.size(), 1u);
  EXPECT_EQ(ds.skipped[0].path.filename(), "cat");
}

TEST(FoldersDataset, FollowsLinksOutOfTheRoot) {
  TempDir outside, dir;
  write_clip(outside / "sounds" / "x.wav");
  write_clip(dir / "dog" / "a.wav");
  fs::create_directory_symlink(outside / "sounds", dir / "linked_class");
  fs::create_symlink(outside / "sounds" / "x.wav", dir / "dog" / "b.wav");
  Dataset ds = load_dataset(dir.path());
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"dog", "linked_class"}));
  std::vector<std::string> names;
  for (const auto& c : ds.clips) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"dog/a.wav", "dog/b.wav", "linked_class/x.wav"}));
}

TEST(FoldersDataset, BrokenLinkIsAnErrorOrSkipped) {
  TempDir dir;
  write_clip(dir / "dog" / "a.wav");
  fs::create_symlink("missing.wav", dir / "dog" / "b.wav");
  EXPECT_NE(load_error(dir.path()).find("b.wav: broken link"), std::string::npos);
  DatasetOptions skip;
  skip.skip_bad = true;
  Dataset ds = load_dataset(dir.path(), skip);
  EXPECT_EQ(ds.clips.size(), 1u);
  ASSERT_EQ(ds.skipped.size(), 1u);
  EXPECT_EQ(ds.skipped[0].path.filename(), "b.wav");
}

TEST(Dataset, LayoutSelectionAndBadRoots) {
  TempDir dir;
  write_clip(dir / "audio" / "a.wav");
  write_text(dir / "meta" / "esc50.csv", std::string(kHeader) + "a.wav,1,0,dog,True,1,A\n");
  EXPECT_EQ(load_dataset(dir.path()).layout, "esc50");
  DatasetOptions folders;
  folders.layout = "folders";  // "audio" and "meta" are then just folders, and meta holds no audio
  EXPECT_NE(load_error(dir.path(), folders).find("meta: class folder with no audio file"), std::string::npos);
  folders.skip_bad = true;
  Dataset as_folders = load_dataset(dir.path(), folders);
  EXPECT_EQ(as_folders.class_names, (std::vector<std::string>{"audio"}));

  TempDir plain;
  write_clip(plain / "dog" / "a.wav");
  DatasetOptions esc50;
  esc50.layout = "esc50";
  EXPECT_NE(load_error(plain.path(), esc50).find("meta/esc50.csv: not found"), std::string::npos);
  DatasetOptions esc10;
  esc10.esc10 = true;
  EXPECT_NE(load_error(plain.path(), esc10).find("--esc10 needs the ESC-50 layout"), std::string::npos);
  DatasetOptions bogus;
  bogus.layout = "bogus";
  EXPECT_NE(load_error(plain.path(), bogus).find("unknown dataset layout"), std::string::npos);

  EXPECT_NE(load_error(dir / "nope").find("dataset directory not found"), std::string::npos);
  EXPECT_NE(load_error(dir / "audio" / "a.wav").find("not a directory"), std::string::npos);
  TempDir empty;
  EXPECT_NE(load_error(empty.path()).find("no class folders"), std::string::npos);
}

}  // namespace
}  // namespace oneshot
