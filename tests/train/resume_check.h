#pragma once
// The resume-exactness check the training tests share: a run of `config`
// interrupted mid-interval (interval 2, after step 3) into `run_dir`, then
// resumed, gives the uninterrupted run's history (`reference`) exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "train/trainer.h"

namespace oneshot::test {

inline void expect_resumes_exactly(const Config& config, const FeatureSet& data,
                                   const std::vector<EpochMetrics>& reference, const std::filesystem::path& run_dir) {
  TrainOptions o;
  o.progress = false;
  o.run_dir = run_dir;
  o.after_step = [](int epoch, std::int64_t step) { return !(epoch == 2 && step == 3); };
  const TrainResult first = train(config, data, o);
  ASSERT_EQ(first.status, TrainStatus::Interrupted) << first.message;
  o.after_step = nullptr;
  const TrainResult resumed = train(config, data, o);
  ASSERT_TRUE(resumed.resumed);
  ASSERT_EQ(resumed.history.size(), reference.size());
  for (std::size_t i = 0; i < reference.size(); ++i) {
    EXPECT_DOUBLE_EQ(resumed.history[i].train_loss, reference[i].train_loss) << "interval " << i + 1;
    EXPECT_DOUBLE_EQ(resumed.history[i].train_accuracy, reference[i].train_accuracy) << "interval " << i + 1;
    EXPECT_DOUBLE_EQ(resumed.history[i].val_accuracy, reference[i].val_accuracy) << "interval " << i + 1;
  }
}

}  // namespace oneshot::test
