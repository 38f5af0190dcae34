#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "support/test_support.h"
#include "train/split.h"

using namespace oneshot;

namespace {

std::vector<std::string> names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("c" + std::to_string(i));
  return out;
}
std::vector<int> labels(int n_classes, int per_class) {
  std::vector<int> out;
  for (int c = 0; c < n_classes; ++c)
    for (int k = 0; k < per_class; ++k) out.push_back(c);
  return out;
}

void expect_partition(const ClassSplit& s, const std::vector<int>& present) {
  std::vector<int> all;
  for (const auto* part : {&s.train, &s.val, &s.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    all.insert(all.end(), part->begin(), part->end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, present) << "every present class exactly once";
}

}  // namespace

TEST(Split, DefaultIsFortyFiveFiveAndDisjoint) {
  const ClassSplit s = split_classes(names(50), labels(50, 40), SplitConfig{});
  EXPECT_EQ(s.train.size(), 40u);
  EXPECT_EQ(s.val.size(), 5u);
  EXPECT_EQ(s.test.size(), 5u);
  std::vector<int> all(50);
  for (int i = 0; i < 50; ++i) all[i] = i;
  expect_partition(s, all);
}

TEST(Split, SameSeedSameSplitOtherSeedOtherSplit) {
  SplitConfig a;
  const ClassSplit s1 = split_classes(names(50), labels(50, 2), a);
  const ClassSplit s2 = split_classes(names(50), labels(50, 2), a);
  EXPECT_EQ(s1.test, s2.test);
  EXPECT_EQ(s1.val, s2.val);
  a.seed = 2;
  const ClassSplit s3 = split_classes(names(50), labels(50, 2), a);
  EXPECT_TRUE(s3.test != s1.test || s3.val != s1.val);
}

TEST(Split, FractionsFollowTheOriginalNinetyPercentSplits) {
  SplitConfig c;
  c.n_test = 0.1;  // 50 - int(0.9 * 50) = 5
  c.n_val = 0.1;   // of the 45 left: 45 - int(0.9 * 45) = 5
  const ClassSplit s = split_classes(names(50), labels(50, 2), c);
  EXPECT_EQ(s.test.size(), 5u);
  EXPECT_EQ(s.val.size(), 5u);
  c.n_test = 0.25;  // 10 classes: 10 - int(7.5) = 3
  c.n_val = 0.5;    // 7 left: 7 - int(3.5) = 4
  const ClassSplit t = split_classes(names(10), labels(10, 2), c);
  EXPECT_EQ(t.test.size(), 3u);
  EXPECT_EQ(t.val.size(), 4u);
  EXPECT_EQ(t.train.size(), 3u);
}

TEST(Split, ExplicitClassesByName) {
  SplitConfig c;
  c.test_classes = {"c3", "c1"};
  c.val_classes = {"c7"};
  const ClassSplit s = split_classes(names(10), labels(10, 2), c);
  EXPECT_EQ(s.test, (std::vector<int>{1, 3}));
  EXPECT_EQ(s.val, (std::vector<int>{7}));
  EXPECT_EQ(s.train, (std::vector<int>{0, 2, 4, 5, 6, 8, 9}));
  // Explicit test classes, counted validation classes drawn from the rest.
  SplitConfig d;
  d.test_classes = {"c0", "c1"};
  d.n_val = 3;
  const ClassSplit t = split_classes(names(10), labels(10, 2), d);
  EXPECT_EQ(t.val.size(), 3u);
  for (int v : t.val) EXPECT_GT(v, 1);
}

TEST(Split, BadNamesAndImpossibleSplitsAreErrors) {
  SplitConfig c;
  c.test_classes = {"c1", "nope"};
  try {
    split_classes(names(10), labels(10, 2), c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"nope\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("split.test_classes"), std::string::npos) << e.what();
  }
  SplitConfig twice;
  twice.val_classes = {"c1", "c1"};
  EXPECT_THROW(split_classes(names(10), labels(10, 2), twice), Error);
  SplitConfig both;
  both.test_classes = {"c1"};
  both.val_classes = {"c1"};
  EXPECT_THROW(split_classes(names(10), labels(10, 2), both), Error);
  SplitConfig big;  // 6 classes, 5 + 5 asked
  EXPECT_THROW(split_classes(names(6), labels(6, 4), big), Error);
  SplitConfig one_left;
  one_left.n_test = 2;
  one_left.n_val = 3;
  EXPECT_THROW(split_classes(names(6), labels(6, 4), one_left), Error);
}

// A split that does not fit names what to lower, and the counts it
// suggests do split the data (a new user copies them).
TEST(Split, TooFewClassesSuggestsCountsThatSplitTheData) {
  for (int n_classes = 4; n_classes <= 14; ++n_classes) {
    SplitConfig too_many;  // the defaults: 5 test and 5 validation classes
    too_many.n_test = n_classes;
    too_many.n_val = n_classes;
    const std::string error = test::error_of([&] { split_classes(names(n_classes), labels(n_classes, 3), too_many); });
    const auto test_at = error.find("--set split.n_test=");
    const auto val_at = error.find("--set split.n_val=");
    ASSERT_NE(test_at, std::string::npos) << error;
    ASSERT_NE(val_at, std::string::npos) << error;
    SplitConfig suggested;
    suggested.n_test = std::stoi(error.substr(test_at + 19));
    suggested.n_val = std::stoi(error.substr(val_at + 18));
    const ClassSplit s = split_classes(names(n_classes), labels(n_classes, 3), suggested);
    EXPECT_GE(s.train.size(), 2u) << n_classes << " classes";
    EXPECT_GE(s.val.size(), 1u);
    EXPECT_GE(s.test.size(), 1u);
  }
  SplitConfig any;
  EXPECT_NE(test::error_of([&] { split_classes(names(3), labels(3, 3), any); }).find("at least 4 classes"),
            std::string::npos);
  SplitConfig named;  // a test class named: the hint is to name fewer or lower the other count
  named.test_classes = {"c0"};
  named.n_val = 5;  // of the 5 left: none trains
  const std::string error = test::error_of([&] { split_classes(names(6), labels(6, 3), named); });
  EXPECT_NE(error.find("name fewer classes in split.test_classes / split.val_classes"), std::string::npos) << error;
  EXPECT_EQ(error.find("--set split.n_val="), std::string::npos) << error;
}

// Before features: the dataset's clips split as their labels do.
TEST(Split, ADatasetsClipsSplitAsTheirLabels) {
  Dataset dataset;
  dataset.class_names = names(10);
  for (int label : labels(10, 3)) dataset.clips.push_back({"a.wav", "a.wav", label, 1});
  SplitConfig c;
  c.n_test = 3;
  c.n_val = 2;
  const ClassSplit from_dataset = split_dataset_classes(dataset, c);
  const ClassSplit from_labels = split_classes(names(10), labels(10, 3), c);
  EXPECT_EQ(from_dataset.train, from_labels.train);
  EXPECT_EQ(from_dataset.val, from_labels.val);
  EXPECT_EQ(from_dataset.test, from_labels.test);
  SplitConfig big;  // 5 + 5 of 10: none trains
  const std::string error = test::error_of([&] { split_dataset_classes(dataset, big); });
  EXPECT_NE(error.find("at least 2 are needed"), std::string::npos) << error;
  EXPECT_EQ(error, test::error_of([&] { split_classes(names(10), labels(10, 3), big); }));
}

TEST(Split, OnlyClassesWithClipsTakePart) {
  // Classes 0..9 named, only even ones have clips (an ESC-10-like subset).
  std::vector<int> l;
  for (int c = 0; c < 10; c += 2) l.insert(l.end(), 3, c);
  SplitConfig c;
  c.n_test = 1;
  c.n_val = 1;
  const ClassSplit s = split_classes(names(10), l, c);
  expect_partition(s, {0, 2, 4, 6, 8});
  SplitConfig odd;
  odd.test_classes = {"c1"};  // named but has no clips
  EXPECT_THROW(split_classes(names(10), l, odd), Error);
}

TEST(Split, JsonRoundTripByName) {
  const ClassSplit s = split_classes(names(20), labels(20, 2), SplitConfig{});
  const std::string json = s.to_json(names(20));
  EXPECT_NE(json.find("\"c"), std::string::npos);
  const ClassSplit back = ClassSplit::from_json(json, names(20), "split.json");
  EXPECT_EQ(back.train, s.train);
  EXPECT_EQ(back.val, s.val);
  EXPECT_EQ(back.test, s.test);
  // Another class order: names still resolve.
  std::vector<std::string> reversed = names(20);
  std::reverse(reversed.begin(), reversed.end());
  const ClassSplit r = ClassSplit::from_json(json, reversed, "split.json");
  ASSERT_EQ(r.test.size(), s.test.size());
  for (std::size_t i = 0; i < s.test.size(); ++i)
    EXPECT_NE(std::find(r.test.begin(), r.test.end(), 19 - s.test[i]), r.test.end());
  EXPECT_THROW(ClassSplit::from_json(json, names(3), "split.json"), Error);
  EXPECT_THROW(ClassSplit::from_json("{", names(20), "split.json"), Error);
  EXPECT_THROW(ClassSplit::from_json(R"({"train": ["c1"], "val": ["c1"], "test": []})", names(20), "split.json"),
               Error);
}

TEST(Split, ClipsOfClasses) {
  const std::vector<int> l = {0, 1, 2, 1, 0, 2};
  EXPECT_EQ(clips_of_classes(l, {1, 2}), (std::vector<std::size_t>{1, 2, 3, 5}));
  EXPECT_EQ(present_classes({3, 1, 3}), (std::vector<int>{1, 3}));
}
