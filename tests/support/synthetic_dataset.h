#pragma once
// A synthetic ESC-50-layout dataset for end-to-end tests (header-only: only
// the test programs that link oneshot_data include it).
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "data/synthetic.h"
#include "support/test_support.h"

namespace oneshot::test {

// Writes n_classes x clips_per_class clips to DIR/NAME and returns that path.
inline std::filesystem::path write_small_dataset(const std::filesystem::path& dir, int n_classes,
                                                 int clips_per_class, int sample_rate, double duration,
                                                 const std::string& name = "data") {
  SyntheticOptions o;
  o.n_classes = n_classes;
  o.clips_per_class = clips_per_class;
  o.sample_rate = sample_rate;
  o.duration = duration;
  write_synthetic_dataset(dir / name, o);
  return dir / name;
}

// The same, written once per test program and set of arguments into a
// directory removed at exit; for tests that only read the dataset.
inline const std::filesystem::path& shared_small_dataset(int n_classes, int clips_per_class, int sample_rate,
                                                         double duration) {
  static const auto dir = std::make_unique<TempDir>();
  static std::map<std::tuple<int, int, int, double>, std::filesystem::path> written;
  const auto key = std::make_tuple(n_classes, clips_per_class, sample_rate, duration);
  auto it = written.find(key);
  if (it == written.end()) {
    const std::string name = "synth-" + std::to_string(written.size());
    it = written.emplace(key, write_small_dataset(dir->path(), n_classes, clips_per_class, sample_rate, duration, name))
             .first;
  }
  return it->second;
}

}  // namespace oneshot::test
