// Event lists and annotation tables (events/): sed_eval TSV, Raven selection
// tables and Audacity label tracks, read by format detection
// (read_annotations) and by each parser directly. What is read must be
// writable again: a sed_eval list written and read back holds the same events.
#include "events/annotation_tables.h"
#include "events/event.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto path = fuzz::write_input(data, size, "rec.Table.1.selections.txt");
  fuzz::expect_clean("read_annotations", [&] { (void)read_annotations(path); });
  fuzz::expect_clean("parse_raven_table", [&] {
    bool file_column = false;
    (void)parse_raven_table(text, "t.txt", "rec", &file_column);
  });
  fuzz::expect_clean("parse_audacity_labels", [&] { (void)parse_audacity_labels(text, "t.txt", "rec"); });
  fuzz::expect_clean("parse_event_list", [&] {
    const std::vector<Event> events = parse_event_list(text, "t.tsv");
    const std::vector<Event> again = parse_event_list(format_event_list(events), "again.tsv");
    fuzz::require(again.size() == events.size(), "an event list read back holds as many events");
    for (std::size_t i = 0; i < events.size(); ++i)
      fuzz::require(again[i].filename == events[i].filename && again[i].label == events[i].label &&
                        again[i].onset == events[i].onset && again[i].offset == events[i].offset,
                    "an event list read back holds the same events");
  });
  return 0;
}
