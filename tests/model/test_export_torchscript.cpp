// TorchScript export: the scripted module gives our embeddings and scores,
// after a save and torch::jit::load here and in PyTorch (Debian's python3-torch).
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "export_test_util.h"
#include "model/export_plan.h"
#include "model/export_torchscript.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

using test::kFrames;
using test::kMels;

// Float32 through differently ordered but equal arithmetic (NCHW vs our
// folded input BatchNorm, one matmul vs expanded differences in the head).
constexpr double kEmbeddingTolerance = 1e-5;

torch::Tensor script_forward(torch::jit::Module& m, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return m.forward({x}).toTensor();
}

TEST(ExportTorchScript, SavedModuleGivesOurEmbeddingsAndScoresForEveryEncoderAndHead) {
  test::TempDir tmp;
  for (const auto& c : test::export_cases()) {
    SCOPED_TRACE(c.name);
    Siamese model = test::trained_like(c.config, 11);
    const ExportPlan plan = export_plan(*model, kMels, kFrames, "TorchScript");
    const auto path = tmp / (c.name + ".pt");
    save_torchscript(plan, path, "{\"card\": 1}");
    torch::jit::ExtraFilesMap extra{{"model_card.json", ""}};
    torch::jit::Module loaded = torch::jit::load(path.string(), c10::nullopt, extra);
    EXPECT_EQ(extra["model_card.json"], "{\"card\": 1}");

    const auto x = test::random_log_mel(5, kFrames, 3);
    torch::NoGradGuard no_grad;
    const auto ours = model->embed(x);
    const auto theirs = script_forward(loaded, x);
    ASSERT_EQ(theirs.sizes(), ours.sizes());
    EXPECT_LT(test::max_abs_diff(theirs, ours), kEmbeddingTolerance) << torchscript_source(plan);
    // Not a trivially constant network: the clips' embeddings differ.
    EXPECT_GT(test::max_abs_diff(ours[0], ours[1]), 1e-3);

    const auto scores = loaded.get_method("score")({ours, ours}).toTensor();
    const auto expected = model->score_matrix(ours, ours);
    EXPECT_LT(test::max_abs_diff(scores, expected), 1e-4 * std::max(1.0, expected.abs().max().item<double>()));
  }
}

TEST(ExportTorchScript, CompactEncoderTakesAnyClipLengthFrom32Frames) {
  ModelConfig config = test::export_cases()[0].config;
  Siamese model = test::trained_like(config, 5);
  const ExportPlan plan = export_plan(*model, kMels, kFrames, "TorchScript");
  EXPECT_TRUE(plan.any_frames());
  torch::jit::Module m = torchscript_module(plan);
  for (int64_t frames : {32, 57, 200}) {
    const auto x = test::random_log_mel(2, frames, static_cast<uint64_t>(frames));
    torch::NoGradGuard no_grad;
    EXPECT_LT(test::max_abs_diff(script_forward(m, x), model->embed(x)), kEmbeddingTolerance) << frames;
  }
}

TEST(ExportTorchScript, UnsupportedConfigurationIsRefusedNamingTheKey) {
  Siamese model = test::trained_like(test::export_cases()[0].config, 1);
  nlohmann::json config = model->configuration();
  config["model.pooling"] = "transformer";
  const std::string message = test::error_of([&] { check_exportable(config, "TorchScript"); });
  EXPECT_NE(message.find("model.pooling = \"transformer\""), std::string::npos) << message;
  EXPECT_NE(message.find("\"meanmax\""), std::string::npos) << message;
  config = model->configuration();
  config.erase("model.arch");
  EXPECT_NE(test::error_of([&] { check_exportable(config, "ONNX"); }).find("model.arch"), std::string::npos);
  EXPECT_EQ(test::error_of([&] { check_exportable(model->configuration(), "ONNX"); }), "");
}

// The python3 that imports torch: $ONESHOT_PYTHON, Debian's /usr/bin/python3
// (python3-torch installs there), then python3 on the PATH.
std::string python_with_torch() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("ONESHOT_PYTHON")) candidates.push_back(p);
  candidates.push_back("/usr/bin/python3");
  candidates.push_back("python3");
  for (const auto& python : candidates)
    if (test::run_command(python + " -c 'import torch' 2>/dev/null") == 0) return python;
  return "";
}

TEST(ExportTorchScript, PyTorchLoadsTheFileAndGivesOurEmbeddings) {
  const std::string python = python_with_torch();
  if (python.empty())
    GTEST_SKIP() << "no python3 that can import torch (Debian: apt-get install python3-torch; scripts/test.sh "
                    "installs it; or set ONESHOT_PYTHON): the PyTorch check of the TorchScript export is skipped";
  test::TempDir tmp;
  for (const auto& c : test::export_cases()) {
    SCOPED_TRACE(c.name);
    Siamese model = test::trained_like(c.config, 7);
    const auto path = tmp / (c.name + ".pt");
    save_torchscript(export_plan(*model, kMels, kFrames, "TorchScript"), path, "{\"embedding_dim\": 8}");
    const auto x = test::random_log_mel(4, kFrames, 9);
    test::write_floats(tmp / "input.f32", x);
    std::ostringstream cmd;
    cmd << python << " " << (test::model_tests_dir() / "export" / "torchscript_embed.py").string() << " "
        << path.string() << " " << (tmp / "input.f32").string() << " 4,1," << kMels << "," << kFrames << " "
        << (tmp / "output.f32").string();
    std::string out;
    ASSERT_EQ(test::run_command(cmd.str(), &out), 0) << out;
    EXPECT_NE(out.find("\"embedding_dim\": 8"), std::string::npos) << out;  // the card travels inside
    torch::NoGradGuard no_grad;
    const auto ours = model->embed(x);
    const auto theirs = test::read_floats(tmp / "output.f32", {4, ours.size(1)});
    ASSERT_TRUE(theirs.defined()) << out;
    EXPECT_LT(test::max_abs_diff(theirs, ours), kEmbeddingTolerance);
    const auto scores = test::read_floats(tmp / "output.f32.scores", {4, 4});
    ASSERT_TRUE(scores.defined());
    const auto expected = model->score_matrix(theirs, theirs);
    EXPECT_LT(test::max_abs_diff(scores, expected), 1e-4 * std::max(1.0, expected.abs().max().item<double>()));
  }
}

}  // namespace
}  // namespace oneshot
