// Tuning studies (tune/study, SQLite): open a study and read what
// tune-report reads (trials, best, the report's text), or an Error naming
// the study.
#include "fuzz_support.h"
#include "tune/report.h"
#include "tune/study.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  const auto path = fuzz::write_input(data, size, "study.db");
  std::error_code ec;
  for (const char* suffix : {"-journal", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix, ec);
  fuzz::expect_clean("Study", [&] {
    tune::Study study(path.string(), "default", nullptr);
    (void)study.trials();
    (void)study.best();
    (void)tune::format_report(study);
  });
  return 0;
}
