// Results files, figures and the report.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/plots.h"
#include "eval/results.h"
#include "eval_fixtures.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// Where figures go: a temporary directory, or ONESHOT_KEEP_PLOTS to look at them.
fs::path plot_dir(const test::TempDir& tmp) {
  if (const char* keep = std::getenv("ONESHOT_KEEP_PLOTS")) return keep;
  return tmp.path();
}

uint32_t big_endian32(const std::string& s, std::size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

// A PNG file: signature, IHDR first with the expected size, IEND last.
void expect_png(const fs::path& path, int width, int height) {
  SCOPED_TRACE(path.string());
  const std::string bytes = read_file(path);
  ASSERT_GT(bytes.size(), 1000u) << "an empty or near-empty image";
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  EXPECT_EQ(big_endian32(bytes, 16), static_cast<uint32_t>(width));
  EXPECT_EQ(big_endian32(bytes, 20), static_cast<uint32_t>(height));
  EXPECT_EQ(bytes.substr(bytes.size() - 8, 4), "IEND");
}

// Tags balance (a small well-formedness check: declarations, comments,
// self-closing tags and quoted attributes handled).
bool xml_balanced(const std::string& text, std::string* why) {
  std::vector<std::string> stack;
  std::size_t i = 0;
  while ((i = text.find('<', i)) != std::string::npos) {
    if (text.compare(i, 4, "<!--") == 0) {
      i = text.find("-->", i);
      if (i == std::string::npos) return *why = "unterminated comment", false;
      continue;
    }
    std::size_t end = i + 1;
    char quote = 0;
    for (; end < text.size(); ++end) {
      if (quote) {
        if (text[end] == quote) quote = 0;
      } else if (text[end] == '"' || text[end] == '\'') {
        quote = text[end];
      } else if (text[end] == '>') {
        break;
      }
    }
    if (end >= text.size()) return *why = "unterminated tag at " + std::to_string(i), false;
    const std::string tag = text.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty() || tag[0] == '?' || tag[0] == '!' || tag.back() == '/') continue;
    const std::string name = tag.substr(tag[0] == '/' ? 1 : 0, tag.find_first_of(" \t\r\n/", 1) - (tag[0] == '/'));
    if (tag[0] != '/') {
      stack.push_back(name);
    } else if (stack.empty() || stack.back() != name) {
      return *why = "</" + name + "> closes <" + (stack.empty() ? "nothing" : stack.back()) + ">", false;
    } else {
      stack.pop_back();
    }
  }
  if (!stack.empty()) return *why = "<" + stack.back() + "> never closed", false;
  return true;
}

// The SVG's text with numeric character references (&#x64;) decoded: the svg
// driver writes every character of a label that way.
std::string svg_text(const fs::path& path) {
  const std::string raw = read_file(path);
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw.compare(i, 3, "&#x") == 0) {
      const std::size_t end = raw.find(';', i);
      if (end != std::string::npos) {
        const unsigned long code = std::stoul(raw.substr(i + 3, end - i - 3), nullptr, 16);
        out += code < 128 ? static_cast<char>(code) : '?';
        i = end;
        continue;
      }
    }
    out += raw[i];
  }
  return out;
}

void expect_svg(const fs::path& path, int width, int height) {
  SCOPED_TRACE(path.string());
  const std::string text = read_file(path);
  ASSERT_GT(text.size(), 1000u);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("width=\"" + std::to_string(width) + "pt\""), std::string::npos);
  EXPECT_NE(text.find("height=\"" + std::to_string(height) + "pt\""), std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
  std::string why;
  EXPECT_TRUE(xml_balanced(text, &why)) << why;
}

void expect_plot(const PlotFiles& files, PlotSize size) {
  expect_png(files.png, size.width, size.height);
  expect_svg(files.svg, size.width, size.height);
  // Written atomically: no temporary files left beside them.
  for (const auto& entry : fs::directory_iterator(files.png.parent_path()))
    EXPECT_EQ(entry.path().filename().string().find(".plot-"), std::string::npos) << entry.path();
}

const std::vector<std::string> kNames{"dog", "crackling_fire", "chirping_birds", "rain", "door_wood_knock"};

EvalResult sample_result() {
  EvalResult r;
  r.protocol = "grid";
  r.classes = {4, 1, 7};
  r.confusion = {{300, 60, 40}, {20, 370, 10}, {100, 100, 200}};
  r.class_accuracy = {0.75, 0.925, 0.5};
  r.mean_accuracy = (0.75 + 0.925 + 0.5) / 3;
  r.decisions = 1200;
  r.seconds = 1.5;
  return r;
}

std::vector<std::string> sample_names() {
  std::vector<std::string> names(8);
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = "name" + std::to_string(i);
  names[4] = "dog, barking";  // a comma: CSV quoting
  return names;
}

TEST(Results, JsonAndCsvAgreeWithTheConfusionMatrix) {
  test::TempDir tmp;
  ResultContext context{"test", EvalConfig{}, sample_names()};
  const auto files = write_result(tmp / "results", "test_grid", sample_result(), context);
  const json j = json::parse(read_file(files.json));
  EXPECT_EQ(j["protocol"], "grid");
  EXPECT_EQ(j["split"], "test");
  EXPECT_EQ(j["classes"], (std::vector<std::string>{"dog, barking", "name1", "name7"}));
  EXPECT_EQ(j["parameters"]["seed"], 1);
  const auto confusion = j["confusion"].get<std::vector<std::vector<int64_t>>>();
  double mean = 0;
  int64_t total = 0;
  for (std::size_t i = 0; i < confusion.size(); ++i) {
    int64_t row = 0;
    for (auto v : confusion[i]) row += v;
    total += row;
    EXPECT_EQ(j["class_decisions"][i], row);
    EXPECT_DOUBLE_EQ(j["class_accuracy"][i].get<double>(), static_cast<double>(confusion[i][i]) / row);
    mean += j["class_accuracy"][i].get<double>() / confusion.size();
  }
  EXPECT_EQ(j["decisions"], total);
  EXPECT_DOUBLE_EQ(j["mean_accuracy"].get<double>(), mean);
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 1.5);

  EXPECT_EQ(read_file(files.class_accuracy_csv),
            "class,accuracy,correct,decisions\n"
            "\"dog, barking\",0.750000,300,400\n"
            "name1,0.925000,370,400\n"
            "name7,0.500000,200,400\n");
  EXPECT_EQ(read_file(files.confusion_csv),
            "true\\predicted,\"dog, barking\",name1,name7\n"
            "\"dog, barking\",300,60,40\n"
            "name1,20,370,10\n"
            "name7,100,100,200\n");
}

TEST(Results, EpisodesRecordTheirParametersAndAnUnqueriedClassIsNull) {
  EvalResult r = sample_result();
  r.protocol = "episodes";
  r.confusion[2] = {0, 0, 0};
  r.class_accuracy[2] = std::nan("");
  r.ci95 = 0.01;
  r.std = 0.2;
  EvalConfig config;
  config.protocol = "episodes";
  config.shots = 5;
  config.aggregate = "prototype";
  ResultContext context{"val", config, sample_names()};
  EXPECT_EQ(result_name("val", config), "val_episodes_5way_5shot_prototype");
  config.shots = 1;
  EXPECT_EQ(result_name("test", config), "test_episodes_5way_1shot");
  const json j = result_to_json(r, context);
  EXPECT_TRUE(j["class_accuracy"][2].is_null());
  EXPECT_EQ(j["parameters"]["ways"], 5);
  EXPECT_EQ(j["parameters"]["shots"], 5);
  EXPECT_EQ(j["parameters"]["aggregate"], "prototype");
  EXPECT_EQ(j["parameters"]["episodes"], 10000);
  EXPECT_DOUBLE_EQ(j["ci95"].get<double>(), 0.01);
  const std::string table = format_result_table(r, context);
  EXPECT_NE(table.find("± 0.010"), std::string::npos) << table;
  EXPECT_NE(table.find("name7"), std::string::npos) << table;
}

TEST(Plots, ClassAccuracyBars) {
  test::TempDir tmp;
  auto files = plot_class_accuracy(plot_dir(tmp) / "accuracy", kNames, {0.9, 0.55, std::nan(""), 0.3, 1.0}, 0.6875);
  expect_plot(files, {800, 600});
  EXPECT_NE(svg_text(files.svg).find("Mean accuracy: 0.688"), std::string::npos) << "the mean in the title";
  auto episodes = plot_class_accuracy(plot_dir(tmp) / "accuracy_ci", kNames, {0.9, 0.5, 0.7, 0.3, 1.0}, 0.68, 0.012,
                                      {640, 480});
  expect_plot(episodes, {640, 480});
  EXPECT_THROW(plot_class_accuracy(tmp / "bad", kNames, {0.5}, 0.5), Error);
}

TEST(Plots, ConfusionHeatMap) {
  test::TempDir tmp;
  std::vector<std::vector<int64_t>> cm{{380, 5, 5, 5, 5}, {10, 300, 50, 20, 20}, {0, 0, 400, 0, 0},
                                       {100, 100, 100, 50, 50}, {1, 2, 3, 4, 390}};
  auto files = plot_confusion(plot_dir(tmp) / "confusion", kNames, cm);
  expect_plot(files, {800, 700});
  const std::string svg = svg_text(files.svg);
  for (const auto& name : kNames) EXPECT_NE(svg.find(name), std::string::npos) << name;
  EXPECT_NE(svg.find(">390<"), std::string::npos) << "counts are written in the cells";
  // Fifty classes still draw.
  std::vector<std::string> many;
  std::vector<std::vector<int64_t>> big(50, std::vector<int64_t>(50, 3));
  for (int i = 0; i < 50; ++i) many.push_back("class_" + std::to_string(i)), big[i][i] = 300;
  expect_plot(plot_confusion(plot_dir(tmp) / "confusion50", many, big, {1200, 1100}), {1200, 1100});
}

TEST(Plots, TrainingCurvesFromMetricsCsv) {
  test::TempDir tmp;
  // Columns in another order, extra ones, an empty value: read by name.
  write_file_atomic(tmp / "metrics.csv",
                    "epoch,seconds,train_loss,train_accuracy,val_accuracy,val_ci95,learning_rate,steps\n"
                    "1,10.5,0.69,0.52,0.31,0.02,0.001,64\n"
                    "2,10.1,0.61,0.63,0.45,0.02,0.00099,128\n"
                    "3,10.3,0.52,0.71,,0.02,0.00098,192\n"
                    "4,10.0,0.47,0.77,0.52,0.02,0.00097,256\n");
  const auto curves = read_training_curves(tmp / "metrics.csv");
  EXPECT_EQ(curves.epoch, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(curves.train_loss, (std::vector<double>{0.69, 0.61, 0.52, 0.47}));
  EXPECT_TRUE(std::isnan(curves.val_accuracy[2]));
  EXPECT_DOUBLE_EQ(curves.val_accuracy[3], 0.52);
  expect_plot(plot_training_curves(plot_dir(tmp) / "training_curves", curves), {800, 700});

  // One epoch only, and no validation column: still a figure.
  write_file_atomic(tmp / "one.csv", "epoch,train_loss\n1,0.7\n");
  expect_plot(plot_training_curves(tmp / "one", read_training_curves(tmp / "one.csv")), {800, 700});

  write_file_atomic(tmp / "bad.csv", "epoch,train_loss\n1,0.7\n2,abc\n");
  try {
    read_training_curves(tmp / "bad.csv");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  write_file_atomic(tmp / "header.csv", "step,loss\n1,0.5\n");
  EXPECT_THROW(read_training_curves(tmp / "header.csv"), Error);
  write_file_atomic(tmp / "empty.csv", "epoch,train_loss\n");
  EXPECT_THROW(read_training_curves(tmp / "empty.csv"), Error);
}

TEST(Plots, PcaFindsTheDirectionsOfLargestVariance) {
  // Points spread along (1, 1, 0) most, along (1, -1, 0) less, nothing along z.
  std::vector<double> rows;
  for (int i = 0; i < 20; ++i) {
    // b is symmetric about the middle while a is antisymmetric: uncorrelated.
    const double a = (i - 9.5), b = (i < 5 || i >= 15) ? 1.0 : -1.0;
    rows.insert(rows.end(), {a + b, a - b, 5.0});
  }
  auto x = torch::tensor(rows, torch::kDouble).view({20, 3});
  const auto p = pca_2d(x);
  ASSERT_EQ(p.scores.sizes(), (std::vector<int64_t>{20, 2}));
  const double var1 = 2 * 665.0 / 20, var2 = 2.0;  // per-point variances along the two axes (x sqrt 2 scaled)
  EXPECT_NEAR(p.explained[0], var1 / (var1 + var2), 1e-9);
  EXPECT_NEAR(p.explained[0] + p.explained[1], 1.0, 1e-9);
  for (int i = 0; i < 20; ++i) {
    EXPECT_NEAR(std::abs(p.scores[i][0].item<double>()), std::abs(i - 9.5) * std::sqrt(2.0), 1e-9);
    EXPECT_NEAR(std::abs(p.scores[i][1].item<double>()), std::sqrt(2.0), 1e-9);
  }
  // More columns than rows takes the other route (Gram matrix) to the same scores.
  auto wide = torch::cat({x, torch::zeros({20, 30}, torch::kDouble)}, 1);
  // (Signs may differ here: this data has ties for the largest |score|.)
  EXPECT_TRUE(torch::allclose(pca_2d(wide).scores.abs(), p.scores.abs(), 1e-9, 1e-9));
}

TEST(Plots, EmbeddingsPca) {
  test::TempDir tmp;
  auto features = test::synthetic_features({10, 10, 10, 10});
  auto model = test::tiny_model(features);
  EvalSubset subset = subset_of_classes(features, {0, 1, 2, 3});
  auto embeddings = embed_subset(model, features, subset);
  auto files = plot_embeddings_pca(plot_dir(tmp) / "embeddings_pca", embeddings, subset.labels,
                                   features.class_names());
  expect_plot(files, {800, 650});
  EXPECT_NE(svg_text(files.svg).find("class_d"), std::string::npos) << "the legend names the classes";
  EXPECT_THROW(plot_embeddings_pca(tmp / "bad", embeddings, {0, 1}, features.class_names()), Error);
}

}  // namespace
}  // namespace oneshot
