// `tune-report`: the study's best parameters, a table of its trials, and figures.
// Model-free: runs in the front end without LibTorch.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/store_location.h"
#include "tune/report.h"
#include "tune/report_plots.h"
#include "tune/study.h"

namespace oneshot::cli {
namespace {

struct ReportOptions {
  std::string study, study_name = "default", out;
  bool no_plots = false;
};

// Figures beside a SQLite study (in DIR/tune-report), else in ./tune-report.
std::filesystem::path default_report_dir(const std::string& url) {
  const std::string file = sqlite_file_of(url, "study");
  return (file.empty() ? std::filesystem::path() : std::filesystem::path(file).parent_path()) / "tune-report";
}

void run_tune_report(const ReportOptions& r) {
  if (!r.no_plots) check_output_directory(r.out.empty() ? default_report_dir(r.study) : std::filesystem::path(r.out));
  // Read-only (a misspelt path creates nothing), and one snapshot: a trial
  // finished by a worker meanwhile is in both the table and the figures, or in neither.
  tune::Study study = tune::Study::open_read_only(r.study, r.study_name);
  std::string report;
  std::vector<tune::TrialRecord> trials;
  study.read([&] {
    report = tune::format_report(study);
    if (!r.no_plots) trials = study.trials();
  });
  std::fputs(report.c_str(), stdout);
  if (r.no_plots) return;
  const std::filesystem::path dir = r.out.empty() ? default_report_dir(r.study) : std::filesystem::path(r.out);
  const auto figures = tune::write_report_plots(study.space(), trials, dir);
  std::printf("\nFigures (%zu, PNG and SVG) in %s:\n", figures.size(), dir.string().c_str());
  for (const auto& f : figures) std::printf("  %s\n", f.png.filename().string().c_str());
}

}  // namespace

void add_tune_report_command(CLI::App& app) {
  auto r = std::make_shared<ReportOptions>();
  auto* report = app.add_subcommand("tune-report", "Show a study: best parameters, every trial, and figures");
  report->add_option("--study", r->study, "Study database: FILE, sqlite:///FILE or postgresql://USER@HOST/DB")->required();
  report->add_option("--study-name", r->study_name, "Study name within the database")->capture_default_str();
  report->add_option("--out", r->out, "Directory for the figures (default: tune-report beside a SQLite study)");
  report->add_flag("--no-plots", r->no_plots, "Only the text report");
  report->callback([r] { run_tune_report(*r); });
}

}  // namespace oneshot::cli
