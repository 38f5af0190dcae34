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
};

// The file stem of a result: "test_grid", "val_episodes_5way_1shot",
// "test_episodes_5way_5shot_prototype" (the aggregate only matters for K > 1).
std::string result_name(const std::string& split, const EvalConfig& config);

// protocol, split, parameters, classes, per-class accuracy (null when a class
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

// The names of result.classes (table order), "class N" where unnamed.
std::vector<std::string> table_class_names(const EvalResult& result, const std::vector<std::string>& names);

}  // namespace oneshot
