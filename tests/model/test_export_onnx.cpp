// ONNX export: ONNX Runtime (onnxruntime-node, which scripts/test.sh installs
// into BUILD_DIR/onnx-node) runs the exported file and gives our embeddings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

#include "audio/logmel.h"
#include "core/error.h"
#include "export_test_util.h"
#include "model/export_onnx.h"
#include "model/export_plan.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

namespace fs = std::filesystem;
using test::kFrames;
using test::kMels;

// Float32 through another runtime's kernels, which sum in their own order
// (the same with ONNX Runtime's graph optimisations off). Measured: below
// 1e-5 on these tiny networks, 5e-5 on real runs' unit-length embeddings
// (README, "Export"); the bound leaves room for other CPUs' kernels.
constexpr double kEmbeddingTolerance = 1e-4;

// The node_modules holding onnxruntime-node: $ONESHOT_ONNX_NODE, else
// onnx-node/node_modules beside this test program (BUILD_DIR/onnx-node).
fs::path onnx_node_modules() {
  if (const char* dir = std::getenv("ONESHOT_ONNX_NODE")) return fs::path(dir) / "node_modules";
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return self.parent_path() / "onnx-node" / "node_modules";
}

// Why ONNX Runtime cannot run here, or "" when it can.
std::string onnx_runtime_missing() {
  if (test::run_command("node --version >/dev/null 2>&1") != 0) return "node is not installed";
  if (!fs::exists(onnx_node_modules() / "onnxruntime-node"))
    return onnx_node_modules().string() + "/onnxruntime-node is not installed (scripts/test.sh installs it: npm ci "
                                          "--ignore-scripts in BUILD_DIR/onnx-node from tests/model/onnx-node)";
  return "";
}

// Runs `model` in ONNX Runtime on `x` (input `input_name`); the embeddings, or an undefined tensor (see `log`).
torch::Tensor run_in_onnx_runtime(const fs::path& model, const std::string& input_name, const torch::Tensor& x,
                                  int64_t dim, const test::TempDir& tmp, std::string* log) {
  test::write_floats(tmp / "input.f32", x);
  std::ostringstream shape, cmd;
  for (int64_t i = 0; i < x.dim(); ++i) shape << (i ? "," : "") << x.size(i);
  cmd << "node " << (test::model_tests_dir() / "export" / "onnx_embed.js").string() << " "
      << onnx_node_modules().string() << " " << model.string() << " " << input_name << " "
      << (tmp / "input.f32").string() << " " << shape.str() << " " << (tmp / "output.f32").string();
  fs::remove(tmp / "output.f32");
  if (test::run_command(cmd.str(), log) != 0) return {};
  return test::read_floats(tmp / "output.f32", {x.size(0), dim});
}

TEST(ExportOnnx, OnnxRuntimeGivesOurEmbeddingsForEveryEncoderAndNormalisation) {
  if (const std::string why = onnx_runtime_missing(); !why.empty())
    GTEST_SKIP() << "ONNX Runtime check of the ONNX export skipped: " << why;
  test::TempDir tmp;
  for (const auto& c : test::export_cases()) {
    SCOPED_TRACE(c.name);
    Siamese model = test::trained_like(c.config, 13);
    const ExportPlan plan = export_plan(*model, kMels, kFrames, "ONNX");
    const fs::path path = tmp / (c.name + ".onnx");
    save_onnx(plan, path);
    const auto x = test::random_log_mel(5, kFrames, 4);
    std::string log;
    const auto theirs = run_in_onnx_runtime(path, "log_mel", x, plan.embedding_dim, tmp, &log);
    ASSERT_TRUE(theirs.defined()) << log;
    EXPECT_NE(log.find("\"inputs\":[\"log_mel\"],\"outputs\":[\"embedding\"]"), std::string::npos) << log;
    torch::NoGradGuard no_grad;
    const auto ours = model->embed(x);
    EXPECT_LT(test::max_abs_diff(theirs, ours), kEmbeddingTolerance);
    EXPECT_GT(test::max_abs_diff(ours[0], ours[1]), 1e-3);  // a network that tells clips apart
    if (plan.any_frames()) {  // one file, any clip length
      for (int64_t frames : {32, 77}) {
        const auto y = test::random_log_mel(2, frames, static_cast<uint64_t>(frames));
        const auto e = run_in_onnx_runtime(path, "log_mel", y, plan.embedding_dim, tmp, &log);
        ASSERT_TRUE(e.defined()) << log;
        EXPECT_LT(test::max_abs_diff(e, model->embed(y)), kEmbeddingTolerance) << frames << " frames";
      }
    }
  }
}

TEST(ExportOnnx, FileIsAnOpset17ModelWithTheTrainedWeightsAsInitializers) {
  Siamese model = test::trained_like(test::export_cases()[0].config, 2);
  const std::string bytes = onnx_model_bytes(export_plan(*model, kMels, kFrames, "ONNX"));
  // The first conv's weights appear verbatim (raw little-endian float32).
  const auto w = model->named_parameters()["encoder.blocks.0.weight"].contiguous();
  const std::string raw(reinterpret_cast<const char*>(w.data_ptr<float>()), w.numel() * sizeof(float));
  EXPECT_NE(bytes.find(raw), std::string::npos);
  EXPECT_NE(bytes.find("BatchNormalization"), std::string::npos);
  EXPECT_NE(bytes.find("log_mel"), std::string::npos);
  EXPECT_NE(bytes.find("frames"), std::string::npos);  // the symbolic time axis of the compact encoder
}


// --with-frontend: the graph takes waveforms and computes the log-mel itself.
struct FrontendCase {
  FeaturesConfig features;
  std::size_t window = 0;
  std::vector<float> samples;  // (2, window): a chirp in noise, and a quiet tone with a silent stretch
};

FrontendCase frontend_case(const std::string& pad_mode) {
  FrontendCase c;
  c.features.sample_rate = 16000;
  c.features.duration = 1.0;
  c.features.n_fft = 512;
  c.features.hop_length = 256;
  c.features.n_mels = kMels;
  c.features.pad_mode = pad_mode;
  c.window = 16000;
  c.samples.resize(2 * c.window);
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (std::size_t i = 0; i < c.window; ++i) {
    const double t = static_cast<double>(i) / 16000;
    c.samples[i] = 0.3f * static_cast<float>(std::sin(2 * M_PI * (200 + 2000 * t) * t)) + noise(rng);
    c.samples[c.window + i] = i > 4000 && i < 9000 ? 0.0f : 1e-3f * static_cast<float>(std::sin(2 * M_PI * 440 * t));
  }
  return c;
}

torch::Tensor our_log_mel(const FrontendCase& c) {
  LogMelExtractor extractor(c.features, c.features.sample_rate);
  const auto frames = static_cast<int64_t>(extractor.n_frames(c.window));
  auto x = torch::empty({2, 1, kMels, frames});
  for (int64_t b = 0; b < 2; ++b)
    extractor.log_mel(c.samples.data() + b * c.window, c.window, x.data_ptr<float>() + b * kMels * frames);
  return x;
}

TEST(ExportOnnx, FrontEndComputesOurLogMelFromWaveforms) {
  if (const std::string why = onnx_runtime_missing(); !why.empty())
    GTEST_SKIP() << "ONNX Runtime check of the ONNX export skipped: " << why;
  test::TempDir tmp;
  for (const std::string pad : {"reflect", "constant"}) {
    SCOPED_TRACE(pad);
    const FrontendCase c = frontend_case(pad);
    const torch::Tensor ours = our_log_mel(c);
    const int64_t frames = ours.size(3);
    // A plan of one flatten: the graph's output is the log-mel itself.
    ExportPlan plan;
    plan.arch = "front end only";
    plan.n_mels = kMels;
    plan.n_frames = plan.min_frames = frames;
    plan.embedding_dim = kMels * frames;
    ExportLayer flatten;
    flatten.kind = "flatten";
    flatten.name = "flatten";
    plan.layers.push_back(flatten);
    OnnxOptions options;
    options.frontend = OnnxFrontend::from(c.features, c.window);
    save_onnx(plan, tmp / "frontend.onnx", options);
    const auto waveform = torch::from_blob(const_cast<float*>(c.samples.data()), {2, static_cast<int64_t>(c.window)});
    std::string log;
    const auto theirs = run_in_onnx_runtime(tmp / "frontend.onnx", "waveform", waveform, plan.embedding_dim, tmp, &log);
    ASSERT_TRUE(theirs.defined()) << log;
    const auto diff = (theirs.view_as(ours) - ours).abs();
    // Where the mel power is at least 1e-6 (ln -13.8; the loud clip's bands
    // reach ln 3) the float32 DFT by matrix product and FFTW agree to 1e-4
    // nepers (measured: 3e-6), far inside librosa's own float32 differences.
    const auto audible = ours > std::log(1e-6);
    ASSERT_GT(audible.sum().item<int64_t>(), 100);
    const double audible_max = diff.masked_select(audible).max().item<double>();
    const double all_median = diff.flatten().median().item<double>();
    std::printf("[front end %s] max |diff| where mel power >= 1e-6: %.3g nepers; median |diff| over all: %.3g\n",
                pad.c_str(), audible_max, all_median);
    EXPECT_LT(audible_max, 1e-4);
    EXPECT_LT(all_median, 1e-5);

    // The whole network from waveforms: our embeddings of our log-mel.
    Siamese model = test::trained_like(test::export_cases()[0].config, 21);
    const ExportPlan whole = export_plan(*model, kMels, frames, "ONNX");
    save_onnx(whole, tmp / "whole.onnx", options);
    const auto e = run_in_onnx_runtime(tmp / "whole.onnx", "waveform", waveform, whole.embedding_dim, tmp, &log);
    ASSERT_TRUE(e.defined()) << log;
    torch::NoGradGuard no_grad;
    EXPECT_LT(test::max_abs_diff(e, model->embed(ours)), kEmbeddingTolerance);
  }
}

}  // namespace
}  // namespace oneshot
