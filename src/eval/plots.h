#pragma once
// The evaluation's figures, drawn with PLplot (pngcairo and svg drivers), each
// written as STEM.png and STEM.svg, atomically.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "eval/verification.h"
#include "plot/render.h"

namespace oneshot {


// Bars of per-class accuracy (0..1; NaN: no bar) titled "Mean accuracy: 0.xxx"
// as in the original, with "± ci95" when ci95 > 0.
PlotFiles plot_class_accuracy(const std::filesystem::path& stem, const std::vector<std::string>& classes,
                              const std::vector<double>& accuracy, double mean, double ci95 = 0,
                              PlotSize size = {800, 600});

// Heat map of counts [true][predicted] with the count in every cell and the
// class names on both axes.
PlotFiles plot_confusion(const std::filesystem::path& stem, const std::vector<std::string>& classes,
                         const std::vector<std::vector<int64_t>>& confusion, PlotSize size = {800, 700});

// Per-epoch training metrics, read from a run's metrics.csv by column name
// (extra columns are ignored; a missing or empty value is NaN).
struct TrainingCurves {
  std::vector<double> epoch, train_loss, train_accuracy, val_accuracy, val_ci95;
};
// Needs an "epoch" column and at least one row; throws oneshot::Error naming
// the file and the line otherwise.
TrainingCurves read_training_curves(const std::filesystem::path& path);

// Training loss (top) and training/validation accuracy (bottom) per epoch,
// the best validation epoch marked.
PlotFiles plot_training_curves(const std::filesystem::path& stem, const TrainingCurves& curves,
                               PlotSize size = {800, 700});

// The first two principal components of the rows of `x` (N, D): (N, 2)
// double scores, signs fixed so the largest |score| of each is positive.
struct Projection2D {
  torch::Tensor scores;
  double explained[2] = {0, 0};  // fraction of the total variance
};
Projection2D pca_2d(const torch::Tensor& x);

// Scatter of the 2-D PCA projection of the embeddings, one colour per class.
// labels[i] indexes class_names.
PlotFiles plot_embeddings_pca(const std::filesystem::path& stem, const torch::Tensor& embeddings,
                              const std::vector<int>& labels, const std::vector<std::string>& class_names,
                              const std::string& title = "Embeddings (PCA)", PlotSize size = {800, 650});

// The DET curve (Martin et al., "The DET curve in assessment of detection
// task performance", Eurospeech 1997): FRR against FAR, both on normal-deviate
// (probit) axes from 0.1 % to 99 % (points beyond drawn on the edge), the
// FAR = FRR diagonal and the EER point on it, and the operating point at
// at_far.target_far. Title: EER, FRR at the FAR, AUROC.
PlotFiles plot_det_curve(const std::filesystem::path& stem, const std::vector<OperatingPoint>& curve, double eer,
                         const RatesAtFar& at_far, double auroc, PlotSize size = {700, 650});

// Same-class and different-class score histograms on common bins, each as the
// fraction of its pairs per bin (so that the far more numerous different-class
// pairs do not hide the same-class ones), with a dashed vertical line per
// named threshold.
PlotFiles plot_score_histogram(const std::filesystem::path& stem, const ScoreHistogram& histogram,
                               const std::vector<std::pair<std::string, double>>& thresholds,
                               PlotSize size = {800, 500});

}  // namespace oneshot
