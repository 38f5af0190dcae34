#pragma once
// The demo (`oneshot-audio demo`: a small model trained on synthetic sounds in
// under a minute) as a fixture for end-to-end tests of the commands that need
// a trained run: made once per test program into a directory removed at exit.
// Its parts: run/ (the trained run, split.json naming the unseen test
// classes), data/ (the ESC-50-layout synthetic dataset: data/audio,
// data/meta/esc50.csv), examples/CLASS.wav (a new clip of three test
// classes) and long/recording.wav (a minute with events of the test classes).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace oneshot::test {

// The demo's directory; fails the calling test (and returns an empty path) when the demo cannot be made.
inline const std::filesystem::path& shared_demo() {
  static const auto dir = std::make_unique<TempDir>();
  static std::filesystem::path demo;
  static bool tried = false;
  if (!tried) {
    tried = true;
    std::string out;
    const std::filesystem::path d = dir->path() / "demo";
    if (run_command(cli_path().string() + " demo --quiet --out " + d.string(), &out) == 0) demo = d;
    else ADD_FAILURE() << "oneshot-audio demo failed:\n" << out;
  }
  return demo;
}

// The demo's unseen test classes (run/split.json "test").
inline std::vector<std::string> demo_test_classes(const std::filesystem::path& demo) {
  return nlohmann::json::parse(std::ifstream(demo / "run" / "split.json")).at("test").get<std::vector<std::string>>();
}

// The demo dataset's clips of class `name` (data/meta/esc50.csv: filename, fold, target, category).
inline std::vector<std::filesystem::path> demo_clips_of(const std::filesystem::path& demo, const std::string& name) {
  std::ifstream in(demo / "data" / "meta" / "esc50.csv");
  std::vector<std::filesystem::path> out;
  for (std::string line; std::getline(in, line);) {
    std::stringstream s(line);
    std::vector<std::string> cols;
    for (std::string f; std::getline(s, f, ',');) cols.push_back(f);
    if (cols.size() > 3 && cols[3] == name) out.push_back(demo / "data" / "audio" / cols[0]);
  }
  return out;
}

}  // namespace oneshot::test
