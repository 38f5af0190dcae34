// oneshot-audio-model: every command, LibTorch linked. Users run oneshot-audio
// (frontend.cpp), which execs this for the commands that need the model.
#include "commands.h"
#include "core/error.h"

namespace oneshot::cli {

// Declared here rather than in commands.h, which every command file includes
// (a change there rebuilds them all); move it there with the next change to it.
void add_export_command(CLI::App& app);
void add_index_command(CLI::App& app);   // cmd_index.cpp (issue 19)
void add_search_command(CLI::App& app);  // cmd_search.cpp (issue 19)
void add_review_command(CLI::App& app);  // cmd_review.cpp (issue 19)

[[noreturn]] void hand_over_to_model() {
  throw Error("internal: a command handed over to the model executable from the model executable");
}

}  // namespace oneshot::cli

int main(int argc, char** argv) {
  CLI::App app;
  oneshot::cli::set_up_app(app);
  oneshot::cli::add_logmel_command(app);
  oneshot::cli::add_features_command(app);
  oneshot::cli::add_evaluate_command(app);
  oneshot::cli::add_tune_command(app);
  oneshot::cli::add_tune_report_command(app);
  oneshot::cli::add_train_command(app);
  oneshot::cli::add_run_command(app);
  oneshot::cli::add_demo_command(app);
  oneshot::cli::add_enroll_command(app);
  oneshot::cli::add_classify_command(app);
  oneshot::cli::add_detect_command(app);
  oneshot::cli::add_embed_command(app);
  oneshot::cli::add_export_command(app);
  oneshot::cli::add_index_command(app);
  oneshot::cli::add_search_command(app);
  oneshot::cli::add_review_command(app);
  oneshot::cli::add_library_command(app);
  oneshot::cli::add_score_events_command(app);
  return oneshot::cli::run_app(app, argc, argv);
}
