#pragma once
// Evaluation results on disk: RUN/results/NAME.json plus CSV tables, written
// atomically, and the table printed on the terminal.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "eval/protocols.h"

namespace oneshot {

// What a result was computed on, besides the result itself.
struct ResultContext {
  std::string split;                     // "test" or "val"
  EvalConfig config;                     // the protocol's parameters
  std::vector<std::string> class_names;  // FeatureSet class names, by id
  std::string checkpoint = "best";       // the weights: "best" (best.pt) or "last" (last.pt)
};

// The file stem of a result: "test_grid", "val_episodes_5way_1shot",
// "test_episodes_5way_5shot_prototype" (the aggregate only matters for K > 1),
// with "_last" appended for last.pt's weights ("test_grid_last").
std::string result_name(const std::string& split, const EvalConfig& config, const std::string& checkpoint = "best");

// protocol, split, checkpoint, parameters, classes, per-class accuracy (null when a class
// was never queried), decisions, mean, std, ci95, confusion, seconds (embeddings included), embedding_seconds.
nlohmann::json result_to_json(const EvalResult& result, const ResultContext& context);

struct ResultFiles {
  std::filesystem::path json, class_accuracy_csv, confusion_csv;
};

// Writes DIR/NAME.json, DIR/NAME_class_accuracy.csv and DIR/NAME_confusion.csv
// (creating DIR), each atomically.
ResultFiles write_result(const std::filesystem::path& dir, const std::string& name, const EvalResult& result,
                         const ResultContext& context);

// The class table with the mean (and its CI for episodes), for the terminal.
std::string format_result_table(const EvalResult& result, const ResultContext& context);

// --- verification ------------------------------------------------------------
// "test_verification", "val_verification_last"; scores made otherwise than
// raw add what made them: "test_verification_asnorm",
// "test_verification_centred_asnorm_last".
std::string verification_result_name(const std::string& split, const std::string& checkpoint = "best",
                                     const VerificationScoring& scoring = {});

// How the scores were made, in words: "raw", "AS-norm against the training
// clips (K = 100)", "centred on the evaluated clips", "centred on the
// evaluated clips, AS-norm against them (K at most half of them)".
std::string describe_scoring(const VerificationScoring& scoring);

// protocol "verification", split, checkpoint, parameters (far, bins,
// enrolled_classes, draws, seed, scoring {centre: "split" or "none",
// score_norm: "as-norm" or "none", cohort: "training clips", "evaluated
// clips" or null, cohort_top_k, text: describe_scoring}), classes, clips, target_pairs,
// nontarget_pairs, eer, frr_at_far, far_reached, threshold_at_far, auroc,
// target_mean, nontarget_mean, histogram {edges, target, nontarget},
// det {threshold, far, frr} (thinned; threshold null for -inf),
// calibration {source, far, threshold, frr, classes, clips, target_pairs,
// nontarget_pairs}, enrolment {classes, enrolled_classes, draws, threshold,
// top1, accepted, rejected, their _std, enrolled_queries, unknown_queries},
// seconds, embedding_seconds. Rates in [0, 1]; undefined values are null.
nlohmann::json verification_to_json(const VerificationResult& result, const ResultContext& context,
                                     const VerificationOptions& options);

struct VerificationFiles {
  std::filesystem::path json, histogram_csv, det_csv;
};
// DIR/NAME.json, DIR/NAME_histogram.csv (bin_low,bin_high,same_class,different_class)
// and DIR/NAME_det.csv (threshold,far,frr), each atomically.
VerificationFiles write_verification_result(const std::filesystem::path& dir, const std::string& name,
                                            const VerificationResult& result, const ResultContext& context,
                                            const VerificationOptions& options);

// EER, FRR at the FAR, AUROC, pair counts and the enrolment task, for the terminal.
std::string format_verification_table(const VerificationResult& result, const ResultContext& context,
                                      const VerificationOptions& options);

// The names of result.classes (table order), "class N" where unnamed.
std::vector<std::string> table_class_names(const EvalResult& result, const std::vector<std::string>& names);

}  // namespace oneshot
