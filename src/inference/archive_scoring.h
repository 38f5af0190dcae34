#pragma once
// The scores `search` ranks an archive's windows by (app/cmd_search.cpp,
// bench/bench_archive_search.cpp), as archive::BlockScorer functions that
// several threads may call at once (src/archive/search.h):
//  - example_scorer: the run's head (RunModel::score, higher = more similar)
//    of each window against each of an example's Q window embeddings, the
//    mean over the Q (classify's default aggregate, "mean");
//  - class_scorer: the score LibraryScorer gives the window for one class
//    (AS-normalised when the library scores so), as classify and detect use.
#include <torch/torch.h>

#include <cstddef>

#include "archive/search.h"
#include "inference/library_scoring.h"
#include "inference/run_model.h"

namespace oneshot {

// `queries` (Q, D) float32, Q >= 1; `run` and `queries` must outlive the scorer.
archive::BlockScorer example_scorer(RunModel& run, const torch::Tensor& queries);
// Class `class_index` of `scorer` (which must outlive the returned function);
// `dim`: the run's embedding size.
archive::BlockScorer class_scorer(LibraryScorer& scorer, std::size_t class_index, int64_t dim);

}  // namespace oneshot
