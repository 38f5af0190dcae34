#pragma once
// Which of a search's scored windows a user is asked to review (`search
// --sample`, issue 19 item 4), after Perch's agile-modelling notebooks, which
// offer the top hits, a random sample and margin sampling (the windows the
// current classifier is least sure of) for each review round:
//
//  - top:      the K best windows (what `search` shows without --sample);
//  - random:   K windows drawn uniformly without replacement, reproducible
//              from the seed (the same candidates and seed give the same K,
//              in whatever order the candidates arrive): an unbiased look at
//              the archive, for estimating precision;
//  - balanced: the candidates sorted by score and cut into K bins of equal
//              count (score quantiles), one window drawn from each (seeded):
//              hits spread from the best to the worst scores, so a review
//              sees where the class stops;
//  - margin:   the K windows whose score is nearest the class's decision
//              threshold (|score - threshold|, ties by lower id): the ones
//              the library cannot decide, whose verdicts move the threshold
//              most (needs a threshold: search --library).
// Model-free and pure: the candidates come from archive/search.h.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "archive/search.h"

namespace oneshot::archive {

enum class SampleMethod { top, random, balanced, margin };

// "top", "random", "balanced", "margin"; Error naming the text otherwise.
SampleMethod parse_sample_method(const std::string& text);
const char* sample_method_name(SampleMethod method);

struct SampleOptions {
  SampleMethod method = SampleMethod::top;
  std::size_t k = 10;
  std::uint64_t seed = 1;  // random and balanced
  double threshold = std::numeric_limits<double>::quiet_NaN();  // margin: the class's threshold
};

// K of `candidates` (all of them when there are K or fewer) chosen by
// options.method, best score first (ties: lower id first). Candidates with a
// NaN score are never chosen. Error for margin without a finite threshold or
// for K = 0. Duplicated ids among the candidates are an Error (a caller's bug).
std::vector<ScoredWindow> sample_for_review(std::vector<ScoredWindow> candidates, const SampleOptions& options);

}  // namespace oneshot::archive
