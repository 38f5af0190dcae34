#pragma once
// Task augmentation: transformed copies of a step's classes as new classes
// (augment.new_class). With 30 training classes of 8 clips, prototypical
// episodes see few distinct tasks; a time-reversed or pitch-shifted copy of a
// class is a plausible sound of another class (the pitch shift as a view of
// the same class lowered accuracy, README "Augmentations the cache did not
// have": pitch tells many environmental classes apart). Following "rotation
// as a new class" for few-shot images (Liu et al. 2020, Task Augmentation by
// Rotating for Meta-Learning), each class of a step is, with probability p,
// replaced by a transformed copy of another class of the same step, so that
// the copy and its source meet in one episode and the embedding must tell
// them apart (temporal shape, pitch).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/config.h"
#include "train/pairs.h"
#include "train/rng.h"

namespace oneshot {

// What a row of a step is: 0 as drawn; else the transform applied to its
// clip. Labels of a copy are source label + classes x transform, so that
// they never meet a real class's label.
enum NewClassTransform : int { kAsDrawn = 0, kReversed = 1, kShiftedUp = 2, kShiftedDown = 3 };

// The transforms augment.new_class_transform allows ("reverse": 1;
// "shift": 2, 3; "reverse+shift": 1, 2, 3). Throws oneshot::Error otherwise.
std::vector<int> new_class_transforms(const std::string& name);

// Rewrites `step` (its clip lists) and `labels` (one a row, every input's rows
// in order) in place: the rows of a class (one label) are, with probability
// config.new_class, given the clips of another class of the step that is
// kept as drawn (its rows in order, cycled when the counts differ), a
// transform drawn from config.new_class_transform and the label source +
// classes x transform. A (source, transform) is used once a step and at least
// one class stays as drawn. Returns each row's transform (all 0, and no
// draws, when config.new_class is 0). `classes` is above every label.
std::vector<int> draw_new_classes(TrainStep& step, std::vector<int>& labels, int classes, const AugmentConfig& config,
                                  Rng& rng);

// One clip (M, T) under a transform: reversed in time, or moved up or down by
// `shift` mel bands (shift_bands). Throws oneshot::Error for an unknown one.
torch::Tensor transform_clip(const torch::Tensor& clip, int transform, int shift);

}  // namespace oneshot
