#pragma once
// Domain centring, model-free: embeddings re-centred on the mean embedding of
// the recordings they will be used on, before any score.
//
// Why: a run's embeddings are centred on its TRAINING clips' mean
// (model.embedding_norm = "centered_l2", SimpleShot). Clips of classes the
// model never saw sit away from that centre, all in much the same direction,
// so every pair of them looks a little alike and one clip against one clip
// separates classes less well than it could. Subtracting the mean of
// unlabelled recordings of the user's own domain, and normalising again, is
// the speaker-verification recipe for this (the "in-domain" global mean
// subtracted before scoring, as Kaldi's ivector-subtract-global-mean with the
// mean of in-domain data; Wang et al., SimpleShot 2019, centre on the base
// classes for the same reason). Measured in the README ("Domain centring").
//
// The embedding may be the concatenation of parts that were each normalised
// on their own (the learned embedding, then the band-statistics descriptor
// scaled by the square root of its weight; model/siamese.h): each part is
// centred on its own slice of the mean and scaled back to the length it had,
// so the parts keep their weights in every score.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace oneshot {

// The mean embedding of a domain and where it came from.
struct DomainCentre {
  std::vector<float> mean;  // embedding_dim values
  std::int64_t files = 0;   // recordings it was estimated from
  std::int64_t windows = 0; // their windows
  std::string sources;      // what they were: a JSON list of the paths as given
  std::string added;        // ISO 8601 UTC
};

// The domain's mean of `n` files: each row of `file_means` (n x dim,
// row-major) is one file's mean window embedding, and every file counts the
// same, whatever its length (an hour of background does not outweigh the
// other recordings). Throws oneshot::Error when n or dim is 0, the table's
// size is not n x dim, or a value is not finite.
std::vector<float> mean_of_files(const std::vector<float>& file_means, std::size_t n, std::size_t dim);

// The recordings a domain was estimated from (DomainCentre::sources, a JSON
// list of paths). Error when it is not one.
std::vector<std::string> domain_sources(const DomainCentre& domain);

// Re-centres `n` rows of `dim` values in place: in each part [offset,
// offset + parts[i]) of a row, subtracts the centre's slice and scales the
// result back to the slice's length before (a part of length 0 stays 0, and
// so does a part equal to the centre's slice). `parts` must add up to dim and
// `centre` hold dim values; else oneshot::Error.
void recentre_rows(float* rows, std::size_t n, std::size_t dim, const std::vector<std::size_t>& parts,
                   const std::vector<float>& centre);

}  // namespace oneshot
