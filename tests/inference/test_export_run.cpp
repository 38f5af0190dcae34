// Exporting a run (oneshot-audio export): the exported network takes exactly
// the log-mel the run's front end computes and gives the run's embeddings of
// the same audio; the model card describes the run, and a library's
// calibration and thresholds, as classify uses them.
#include <gtest/gtest.h>
#include <torch/script.h>

#include "audio/logmel.h"
#include "enroll/library.h"
#include "inference/library_scoring.h"
#include "inference/model_card.h"
#include "model/export_plan.h"
#include "model/export_torchscript.h"
#include "support/test_support.h"
#include "tiny_run.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

// tiny_run's configuration with every statistic moved off its initial value
// (band and embedding means, BatchNorm running statistics, the descriptor's
// standardisation), as training leaves them.
std::unique_ptr<RunModel> trained_tiny_run(const test::TempDir& dir, const std::string& descriptor = "none") {
  Config config = test::tiny_config();
  config.model.descriptor = descriptor;
  fs::create_directories(dir / "run");
  write_file_atomic(dir / "run" / "config.toml", config.to_toml());
  torch::manual_seed(4);
  Siamese model(config.model, 32, 126);
  {
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
    for (auto& b : model->named_buffers()) {
      if (!b.value().is_floating_point()) continue;
      const bool scale = b.key().find("var") != std::string::npos || b.key().find("std") != std::string::npos;
      if (scale) b.value().uniform_(0.5, 2.0, gen);
      else b.value().normal_(b.key().find("band_mean") != std::string::npos ? -6.0 : 0.0, 0.5, gen);
    }
  }
  save_best_weights(dir / "run" / "best.pt", model, nlohmann::json::object());
  return RunModel::load(dir / "run", 1);
}

torch::Tensor run_log_mel(RunModel& run, const std::vector<float>& samples) {
  LogMelExtractor extractor(run.config().features, run.sample_rate());
  auto x = torch::empty({1, 1, extractor.n_mels(), static_cast<int64_t>(extractor.n_frames(samples.size()))});
  extractor.log_mel(samples.data(), samples.size(), x.data_ptr<float>());
  return x;
}

TEST(ExportRun, ExportedNetworkOnTheRunsLogMelGivesTheRunsEmbedding) {
  for (const std::string descriptor : {"none", "band_stats"}) {
    SCOPED_TRACE(descriptor);
    test::TempDir dir;
    auto run = trained_tiny_run(dir, descriptor);
    EXPECT_EQ(run->embedding_dim(), descriptor == "none" ? 16 : 16 + 3 * 32);
    const ExportPlan plan = export_plan(*run->model(), 32, 126, "TorchScript");
    torch::jit::Module exported = torchscript_module(plan);
    for (std::size_t offset : {0u, 8000u}) {
      std::vector<float> x = test::noisy_chirp(run->window_samples() + offset);
      x.erase(x.begin(), x.begin() + static_cast<long>(offset));
      torch::NoGradGuard no_grad;
      const auto theirs = exported.forward({run_log_mel(*run, x)}).toTensor();
      const auto ours = run->embed_packed(x.data(), 1);  // the path enroll, classify, detect and embed take
      EXPECT_LT((theirs - ours).abs().max().item<double>(), 1e-5) << offset;
    }
  }
}

TEST(ExportRun, ModelCardGivesTheDescriptorsColumnsStandardisationAndWeight) {
  test::TempDir dir;
  auto run = trained_tiny_run(dir, "band_stats");
  const ExportPlan plan = export_plan(*run->model(), 32, 126, "ONNX");
  const auto card = model_card(*run, plan, "onnx", dir / "m.onnx");
  EXPECT_EQ(card["embedding_dim"], 16 + 96);
  ASSERT_TRUE(card.contains("descriptor")) << card.dump(2);
  const auto& d = card["descriptor"];
  EXPECT_EQ(d["kind"], "band_stats");
  EXPECT_EQ(d["embedding_columns"], nlohmann::json({16, 112}));
  EXPECT_EQ(d["weight"].get<double>(), run->config().model.descriptor_weight);
  const auto std_buffer = run->model()->descriptor->named_buffers()["std"];
  ASSERT_EQ(d["std"].size(), 96u);
  EXPECT_FLOAT_EQ(d["std"][40].get<float>(), std_buffer[40].item<float>());
  test::TempDir other;
  auto plain = trained_tiny_run(other, "none");
  EXPECT_FALSE(model_card(*plain, export_plan(*plain->model(), 32, 126, "ONNX"), "onnx", other / "m.onnx")
                   .contains("descriptor"));
}

TEST(ExportRun, ModelCardDescribesTheRunsFrontEndNormalisationAndHead) {
  test::TempDir dir;
  auto run = trained_tiny_run(dir);
  const ExportPlan plan = export_plan(*run->model(), 32, 126, "ONNX");
  const auto card = model_card(*run, plan, "onnx", dir / "out" / "m.onnx");
  EXPECT_EQ(model_card_path(dir / "m.onnx"), dir / "m.onnx.json");
  EXPECT_EQ(card["file"], "m.onnx");
  EXPECT_EQ(card["fingerprint"], run->fingerprint());
  EXPECT_EQ(card["sample_rate"], 16000);
  EXPECT_EQ(card["window_samples"], 32000);
  EXPECT_EQ(card["embedding_dim"], 16);
  EXPECT_EQ(card["log_mel"]["n_fft"], 512);
  EXPECT_EQ(card["log_mel"]["hop_length"], 256);
  EXPECT_EQ(card["log_mel"]["fmax"], 8000.0);  // fmax = 0 resolved
  EXPECT_EQ(card["input"]["shape"], nlohmann::json({"batch", 1, 32, "frames"}));
  EXPECT_EQ(card["input"]["frames"], 126);
  const auto band_mean = run->model()->input_norm->named_buffers()["band_mean"];
  ASSERT_EQ(card["normalisation"]["band_mean"].size(), 32u);
  EXPECT_FLOAT_EQ(card["normalisation"]["band_mean"][5].get<float>(), band_mean[5].item<float>());
  EXPECT_EQ(card["normalisation"]["embedding_mean"].size(), 16u);
  EXPECT_EQ(card["score_head"]["kind"], "distance");
  EXPECT_DOUBLE_EQ(card["score_head"]["scale"].get<double>(), std::abs(run->model()->output->weight.item<double>()));
  EXPECT_DOUBLE_EQ(card["score_head"]["bias"].get<double>(), run->model()->output->bias.item<double>());
  EXPECT_FALSE(card.contains("library"));
}

TEST(ExportRun, ModelCardGivesTheLibrarysCalibrationAndEachClasssThreshold) {
  test::TempDir dir;
  auto run = trained_tiny_run(dir);
  const ExportPlan plan = export_plan(*run->model(), 32, 126, "TorchScript");
  const auto dim = static_cast<std::size_t>(run->embedding_dim());
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    LibraryExample e;
    e.source = "/bell.wav";
    e.embedding.assign(dim, 0.25f);
    lib.add_examples("bell", false, {e});
    e.source = "/dog.wav";
    e.embedding.assign(dim, -0.25f);
    lib.add_examples("dog", false, {e});
    lib.set_threshold("dog", -1.5, "user");
    Calibration c;
    c.threshold = -3.25;
    c.far = 0.05;
    lib.set_calibration(c);
  }
  const ClassLibrary lib = ClassLibrary::open_read_only(dir / "lib.db");
  const auto card = model_card(*run, plan, "torchscript", dir / "m.pt", false, &lib);
  const auto& l = card["library"];
  EXPECT_EQ(l["calibration"]["threshold"], -3.25);
  EXPECT_EQ(l["calibration"]["far"], 0.05);
  // The thresholds classify uses (LibraryScorer), per class.
  LibraryScorer scorer(lib, *run, ScoringOptions{});
  ASSERT_EQ(l["classes"].size(), 2u);
  for (std::size_t c = 0; c < 2; ++c) {
    EXPECT_EQ(l["classes"][c]["name"], scorer.names()[c]);
    EXPECT_EQ(l["classes"][c]["threshold"].get<double>(), scorer.threshold(c));
  }
  EXPECT_EQ(l["classes"][1]["threshold"], -1.5);
  EXPECT_EQ(l["classes"][1]["threshold_source"], "user");

  // A library of another model is refused, naming it.
  LibraryModel other = run->library_model();
  other.fingerprint = "0123456789abcdef0123456789abcdef";
  ClassLibrary::open_or_create(dir / "other.db", other);
  const ClassLibrary other_lib = ClassLibrary::open_read_only(dir / "other.db");
  const std::string message = test::error_of([&] { model_card(*run, plan, "onnx", dir / "m.onnx", false, &other_lib); });
  EXPECT_NE(message.find("other.db"), std::string::npos) << message;
  EXPECT_NE(message.find(other.fingerprint), std::string::npos) << message;
}

}  // namespace
}  // namespace oneshot
