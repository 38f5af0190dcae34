// A run directory's JSON files (train/run_dir, train/split): run.json and
// split.json, from one input (its first byte picks which), or an Error
// naming the file.
#include <fstream>

#include "fuzz_support.h"
#include "train/run_dir.h"
#include "train/split.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  if (size == 0) return 0;
  const bool split = data[0] & 1;
  const auto path = fuzz::write_input(data + 1, size - 1, split ? "split.json" : "run.json");
  if (split) {
    const std::vector<std::string> classes = {"dog", "rain", "sea_waves", "crying_baby", "clock_tick", "sneezing"};
    fuzz::expect_clean("ClassSplit::from_json", [&] {
      const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
      const ClassSplit s = ClassSplit::from_json(text, classes, path.string());
      const ClassSplit again = ClassSplit::from_json(s.to_json(classes), classes, "again.json");
      fuzz::require(again.train == s.train && again.val == s.val && again.test == s.test,
                    "a split reads back as written");
    });
  } else {
    fuzz::expect_clean("RunInfo::load", [&] {
      const RunInfo info = RunInfo::load(path);
      const RunInfo again = RunInfo::from_json(info.to_json(), "again.json");
      fuzz::require(again.to_json() == info.to_json(), "run.json reads back as written");
    });
  }
  return 0;
}
