#pragma once
// The model card of an exported run (oneshot-audio export): a JSON file beside
// the exported network that tells another program everything it needs to
// feed it and use its output as oneshot-audio does: the audio rate and window,
// the log-mel front end's settings and units, the input and output names and
// shapes, the normalisation statistics (applied inside the exported network;
// given for reference), the embedding size, the score head and its
// parameters, the run's fingerprint and, with a class library, its
// calibration and each class's decision threshold.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "enroll/library.h"
#include "inference/run_model.h"
#include "model/export_plan.h"

namespace oneshot {

// The card's file for an exported FILE: FILE + ".json" (model.onnx -> model.onnx.json).
std::filesystem::path model_card_path(const std::filesystem::path& exported);

// The card of `run` exported as `format` ("onnx" or "torchscript") into
// `exported`, from its plan. `with_frontend`: the ONNX file takes waveforms
// (the input section says so). `library`: adds its calibration and
// thresholds; Error naming the library when it was embedded with another
// model (fingerprints differ).
nlohmann::json model_card(RunModel& run, const ExportPlan& plan, const std::string& format,
                          const std::filesystem::path& exported, bool with_frontend = false,
                          const ClassLibrary* library = nullptr);

}  // namespace oneshot
