#include "tune/report.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "core/json_text.h"

namespace oneshot::tune {
namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

std::string format_report(Study& study) {
  const auto trials = study.trials();
  std::map<TrialState, int> counts;
  for (const auto& t : trials) counts[t.state]++;
  std::string out = "Study \"" + study.name() + "\" (" + study.database().describe() + "): " +
                    std::to_string(trials.size()) + " trials, " + std::to_string(counts[TrialState::complete]) +
                    " complete, " + std::to_string(counts[TrialState::pruned]) + " pruned, " +
                    std::to_string(counts[TrialState::failed]) + " failed, " +
                    std::to_string(counts[TrialState::running]) + " running\n";
  const auto best = study.best();
  if (best) {
    out += "\nBest: trial " + std::to_string(best->number) + ", value " + fmt("%.6g", *best->value) + "\n";
    for (const auto& a : best->params.assignments()) out += "  " + a + "\n";
  } else {
    out += "\nNo complete trial yet.\n";
  }
  out += "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%6s  %-8s  %10s  %11s  %6s  %8s  %-20s  %s\n", "trial", "state", "value", "best so far",
                "epochs", "seconds", "worker", "parameters");
  out += line;
  double best_so_far = std::numeric_limits<double>::infinity();
  for (const auto& t : trials) {
    if (t.state == TrialState::complete && t.value) best_so_far = std::min(best_so_far, *t.value);
    const std::string value = t.value ? fmt("%.6g", *t.value) : "-";
    const std::string so_far = std::isfinite(best_so_far) ? fmt("%.6g", best_so_far) : "-";
    const std::string seconds = t.finished ? fmt("%.1f", *t.finished - t.started) : "-";
    std::string params;
    for (const auto& [k, v] : t.params)
      params += (params.empty() ? "" : " ") + k.substr(k.find('.') + 1) + "=" + json_text(v);
    std::snprintf(line, sizeof line, "%6d  %-8s  %10s  %11s  %6zu  %8s  %-20s  ", t.number, state_name(t.state),
                  value.c_str(), so_far.c_str(), t.epoch_values.size(), seconds.c_str(), t.worker.substr(0, 20).c_str());
    out += line + params + "\n";
    if (!t.reason.empty()) out += "        " + t.reason + "\n";
  }
  return out;
}

}  // namespace oneshot::tune
