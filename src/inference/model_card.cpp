#include "inference/model_card.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/number_text.h"
#include "enroll/decision.h"
#include "inference/library_scoring.h"

namespace oneshot {
namespace fs = std::filesystem;
namespace {

std::vector<double> values_of(const torch::Tensor& t) {
  const auto c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

const ExportLayer* find_layer(const ExportPlan& plan, const std::string& kind) {
  for (const auto& l : plan.layers)
    if (l.kind == kind) return &l;
  return nullptr;
}

nlohmann::json head_card(const ExportPlan& plan) {
  const std::string m = plan.dist == "l1" ? "|a - b|" : "(a - b)^2";
  nlohmann::json head = {{"kind", plan.head}, {"dist", plan.dist}, {"merge", m + " elementwise"}};
  const double bias = plan.head_bias.item<double>();
  if (plan.head == "distance") {
    head["bias"] = bias;
    head["scale"] = std::abs(plan.head_weight.item<double>());
    head["score"] = "bias - scale * sum(" + m + ")";
  } else if (plan.head == "monotone") {
    head["bias"] = bias;
    head["weights"] = values_of(plan.head_weight.abs().flatten());
    head["score"] = "bias - sum(weights * " + m + ")";
  } else {
    head["bias"] = bias;
    head["weights"] = values_of(plan.head_weight.flatten());
    head["score"] = "bias + sum(weights * " + m + ")";
  }
  // Training makes same-class scores rank above different-class ones, not
  // sigmoid(score) a probability: a clip scores about `bias` against itself
  // (-0.007 to 0 in the dev runs), so sigmoid never passed 0.5.
  head["meaning"] = "an uncalibrated score, higher = more similar (sigmoid(score) is not a probability); "
                    "decide with a calibrated threshold: export with --library for its thresholds and logistic "
                    "confidence";
  return head;
}

nlohmann::json library_card(const ClassLibrary& library, RunModel& run) {
  LibraryScorer scorer(library, run, ScoringOptions{});  // Error naming both fingerprints when they differ
  nlohmann::json card = {{"path", fs::absolute(library.path()).lexically_normal().string()},
                         {"aggregate", scorer.aggregate() + " over each class's examples"},
                         {"score_norm", scorer.normalised() ? "as-norm" : "none"},
                         {"cohort_size", scorer.cohort_size()}};
  if (scorer.normalised())
    card["note"] = "thresholds apply to AS-normalised scores (enroll/score_norm.h: each score standardised by the "
                   "top-K statistics of both sides against the library's cohort (the run's training clips, or "
                   "with a domain its windows), which is not exported); raw head scores are not comparable with them";
  if (const auto domain = library.domain()) {
    // Without the centre, the thresholds mean nothing to another program.
    card["domain"] = {{"mean", domain->mean},
                      {"files", domain->files},
                      {"windows", domain->windows},
                      {"parts", run.embedding_parts()},
                      {"note", "before scoring, every embedding (examples and windows) is re-centred: each part "
                               "(consecutive slices of the lengths in parts) minus its slice of mean, scaled back to "
                               "the length it had (enroll/domain_centre.h)"}};
  }
  const auto curve_json = [](const std::vector<FarPoint>& curve) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : curve) points.push_back({{"far", p.far}, {"threshold", p.threshold}, {"frr", p.frr}});
    return points;
  };
  const auto calibration_json = [&](const Calibration& cal) {
    nlohmann::json c = {{"method", cal.method},         {"far", cal.far},
                        {"threshold", cal.threshold},   {"frr", cal.frr},
                        {"floor", cal.floor},           {"classes", cal.classes},
                        {"same_pairs", cal.same_pairs}, {"different_pairs", cal.different_pairs},
                        {"normalised", cal.normalised}};
    if (cal.logistic) c["logistic"] = {{"a", cal.logistic->a}, {"b", cal.logistic->b}, {"confidence", "sigmoid(a * score + b)"}};
    c["far_curve"] = curve_json(cal.far_curve);
    c["by_examples"] = nlohmann::json::array();  // the curves of classes of several example recordings
    for (const auto& e : cal.by_examples) {
      nlohmann::json entry = {{"examples", e.examples}, {"far_curve", curve_json(e.far_curve)}};
      if (e.logistic) entry["logistic"] = {{"a", e.logistic->a}, {"b", e.logistic->b}};
      c["by_examples"].push_back(entry);
    }
    return c;
  };
  if (const auto cal = library.calibration()) card["calibration"] = calibration_json(*cal);
  // The thresholds of scores centred on the recordings being scored (detect's
  // recording, classify's batch): another program that centres the same way
  // needs them and the parts to centre by.
  const auto centred_json = [&](const Calibration& rec, const char* note) {
    nlohmann::json c = calibration_json(rec);
    c["parts"] = run.embedding_parts();
    c["note"] = note;
    if (const auto cal = library.calibration()) {
      // The threshold that applies (far, threshold and frr above are the calibration's stored point: one class
      // at its rate), as library_threshold is for the library's own scores.
      const std::vector<bool> positive = scorer.positive();
      const auto n_positive = static_cast<std::size_t>(std::count(positive.begin(), positive.end(), true));
      const double rate = centred_far(cal->far);
      c["library_far"] = rate;
      if (!rec.far_curve.empty() && n_positive > 0) {
        const FarPoint p = library_threshold(rec, rate, n_positive);
        c["library_threshold"] = {{"library_far", rate}, {"per_class_far", p.far}, {"threshold", p.threshold},
                                  {"frr", p.frr}, {"note", "a class of one example recording; a class of several: "
                                                           "its by_examples curve at per_class_far"}};
      }
    }
    return c;
  };
  if (const auto rec = library.recording_calibration())
    card["recording_calibration"] = centred_json(
        *rec, "for raw scores (not AS-normalised) of embeddings re-centred on the mean of the recordings being "
              "scored (detect: a recording's non-overlapping sounding windows, at least 24 input lengths; classify: the "
              "mean of each file's sounding windows over 24 or more files), each part "
              "(consecutive slices of the lengths in parts) minus its slice of that mean and scaled back to the length "
              "it had; at the rate library_far shared out over its classes (the library's rate, or the default rate "
              "of a library with a domain where the library keeps the default of one without: centred scores carry "
              "over to new classes as a domain's do)");
  if (const auto batch = library.batch_calibration())
    card["batch_calibration"] = centred_json(
        *batch, "for classify --batch-cohort of 24 files or more: embeddings re-centred as for recording_calibration on the mean of "
                "the files' mean sounding windows, then every score AS-normalised against the files' own sounding "
                "windows (each file's evenly strided to its share of 2000, at most 2000 in all; K the library's "
                "cohort_top_k, at most half of them but at least 10); at the rate library_far");
  if (const auto point = scorer.calibrated())
    card["library_threshold"] = {{"library_far", scorer.far()}, {"per_class_far", point->far},
                                 {"threshold", point->threshold}, {"frr", point->frr}};
  nlohmann::json classes = nlohmann::json::array();
  for (std::size_t c = 0; c < scorer.n_classes(); ++c) {
    nlohmann::json entry = {{"name", scorer.names()[c]}, {"negative", static_cast<bool>(scorer.negative()[c])}};
    if (!scorer.negative()[c]) {
      try {
        entry["threshold"] = scorer.threshold(c);
        entry["threshold_source"] = scorer.threshold_source(c);
        // The curve (and confidence) of its number of example recordings.
        entry["calibration_examples"] = scorer.calibration_examples(c);
      } catch (const Error& e) {
        entry["threshold"] = nullptr;
        entry["threshold_source"] = e.what();
      }
    }
    classes.push_back(entry);
  }
  card["classes"] = classes;
  card["decision"] = "a window or file is accepted as a class when its score against the class exceeds the class's "
                     "threshold (strictly)";
  return card;
}

}  // namespace

fs::path model_card_path(const fs::path& exported) { return fs::path(exported.string() + ".json"); }

nlohmann::json model_card(RunModel& run, const ExportPlan& plan, const std::string& format, const fs::path& exported,
                          bool with_frontend, const ClassLibrary* library) {
  const FeaturesConfig& f = run.config().features;
  const double fmax = f.fmax > 0 ? f.fmax : f.sample_rate / 2.0;
  nlohmann::json card;
  card["card"] = "oneshot-audio model card, version 1";
  card["format"] = format;
  card["file"] = exported.filename().string();
  card["run"] = fs::absolute(run.run_dir()).lexically_normal().string();
  card["fingerprint"] = run.fingerprint();
  card["sample_rate"] = run.sample_rate();
  card["window_samples"] = run.window_samples();
  card["window_s"] = run.window_seconds();
  card["embedding_dim"] = plan.embedding_dim;
  card["encoder"] = plan.arch;
  card["model_config"] = run.model()->configuration();

  const std::string log_formula = f.log == "nonzero" ? "ln(mel_power * 32768^2) where mel_power != 0, else 0"
                                                     : "ln(max(mel_power, log_floor))";
  card["log_mel"] = {{"n_fft", f.n_fft},
                     {"hop_length", f.hop_length},
                     {"win_length", f.n_fft},
                     {"window", "hann, periodic (scipy.signal.get_window('hann', n_fft, fftbins=True))"},
                     {"center", true},
                     {"pad_mode", f.pad_mode},
                     {"power", 2.0},
                     {"n_mels", f.n_mels},
                     {"fmin", f.fmin},
                     {"fmax", fmax},
                     {"mel_scale", f.mel_scale},
                     {"mel_norm", "slaney (area)"},
                     {"log", f.log},
                     {"log_floor", f.log_floor},
                     {"formula", log_formula},
                     {"librosa", "librosa.feature.melspectrogram(y=y, sr=" + std::to_string(f.sample_rate) +
                                     ", n_fft=" + std::to_string(f.n_fft) + ", hop_length=" +
                                     std::to_string(f.hop_length) + ", n_mels=" + std::to_string(f.n_mels) +
                                     ", fmin=" + short_number(f.fmin) + ", fmax=" + short_number(fmax) +
                                     ", htk=" + (f.mel_scale == "htk" ? "True" : "False") + ", center=True, pad_mode='" +
                                     f.pad_mode + "', power=2.0)"}};
  card["audio"] = "mono float samples in [-1, 1] at sample_rate; a window of window_samples (shorter clips "
                  "zero-padded at the end, as training pads them)";

  nlohmann::json input;
  if (with_frontend) {
    input = {{"name", "waveform"},
             {"shape", {"batch", run.window_samples()}},
             {"dtype", "float32"},
             {"units", "mono samples in [-1, 1] at sample_rate (the log-mel front end runs inside)"}};
  } else {
    const nlohmann::json frames = plan.any_frames() ? nlohmann::json("frames") : nlohmann::json(plan.n_frames);
    input = {{"name", "log_mel"},
             {"shape", {"batch", 1, plan.n_mels, frames}},
             {"dtype", "float32"},
             {"frames", plan.n_frames},
             {"min_frames", plan.min_frames},
             {"units", "the log-mel spectrogram as log_mel describes (natural log of mel power, mel bands x frames, "
                       "frame t centred on sample t * hop_length), before any normalisation"}};
    if (plan.any_frames())
      input["note"] = "the encoder pools over time: any number of frames >= min_frames; frames is the run's window";
  }
  card["input"] = input;
  card["output"] = {{"name", "embedding"}, {"shape", {"batch", plan.embedding_dim}}, {"dtype", "float32"}};

  nlohmann::json norm = {{"applied", "inside the exported network; listed for reference"},
                         {"sound_span", card["model_config"].value("model.sound_span", "whole")},
                         {"clip_norm", card["model_config"].value("model.clip_norm", "none")},
                         {"input_norm", card["model_config"].value("model.input_norm", "none")},
                         {"embedding_norm", card["model_config"].value("model.embedding_norm", "none")}};
  if (const auto* l = find_layer(plan, "band_norm")) {
    norm["band_mean"] = values_of(l->tensors.at("mean"));
    norm["band_std"] = values_of(l->tensors.at("std"));
  }
  if (const auto* l = find_layer(plan, "center")) norm["embedding_mean"] = values_of(l->tensors.at("mean"));
  if (const auto* l = find_layer(plan, "sound_span"))
    norm["sound_span_below_loudest"] = l->eps;  // natural-log power
  norm["order"] = "sound_span (when \"tile\": the frames from the first to the last whose ln(sum of mel power) is "
                  "within sound_span_below_loudest of the loudest frame's, repeated over the window), "
                  "clip_norm (subtract the clip's mean log-mel), input_norm ((x - band_mean) / band_std per mel "
                  "band), encoder, embedding_norm (subtract embedding_mean, divide by the L2 norm), then "
                  "descriptor when present (appended after the learned embedding)";
  if (const auto* l = find_layer(plan, "band_statistics")) {
    const int64_t dim = l->tensors.at("mean").numel();
    card["descriptor"] = {
        {"kind", "band_stats"},
        {"weight", card["model_config"].value("model.descriptor_weight", l->scale * l->scale)},
        {"embedding_columns", {plan.embedding_dim - dim, plan.embedding_dim}},  // [first, end)
        {"input", "the clip after sound_span, before clip_norm and input_norm (B, 1, n_mels, T >= 2)"},
        {"statistics", "per mel band m over frames t: mean_t x[m,t] minus the clip's mean over (m, t); "
                       "sqrt(mean_t (x[m,t] - mean_t x[m,t])^2); mean_t |x[m,t+1] - x[m,t]|; concatenated "
                       "[means, deviations, fluxes] (3 n_mels)"},
        {"formula", "z = (s - mean) / std; appended z / max(|z|_2, 1e-8) * sqrt(weight)"},
        {"mean", values_of(l->tensors.at("mean"))},
        {"std", values_of(l->tensors.at("std"))},
        {"meaning", "the head's distance over all dims scores cos(embedding) + weight * cos(descriptor)"}};
  }
  card["normalisation"] = norm;
  card["score_head"] = head_card(plan);
  if (format == "torchscript")
    card["methods"] = {{"forward", "forward(log_mel) -> embedding"},
                       {"score", "score(queries (Q, D), references (R, D)) -> (Q, R) head scores"}};
  if (library) card["library"] = library_card(*library, run);
  return card;
}

}  // namespace oneshot
