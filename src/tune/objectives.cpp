#include "tune/objectives.h"

#include <algorithm>
#include <map>

#include "core/config.h"
#include "tune/test_functions.h"

namespace oneshot::tune {
namespace {

std::map<std::string, ObjectiveInfo>& registry() {
  static std::map<std::string, ObjectiveInfo> objectives;
  return objectives;
}

// Branin as a training-like objective: E = min(max_epochs, 4) epochs whose
// loss falls to Branin's value, f + (E - e) after epoch e, so the pruner and
// per-epoch records have something to work on.
Objective make_branin(const ObjectiveContext& context) {
  const int epochs = std::max(1, std::min(context.config.tune.max_epochs, 4));
  return [epochs](const Overrides& p, EpochReporter& reporter) {
    const double f = branin(p.number("branin.x1"), p.number("branin.x2"));
    double best = std::numeric_limits<double>::infinity();
    for (int e = 1; e <= epochs; ++e) {
      const double loss = f + (epochs - e);
      best = std::min(best, loss);
      if (reporter.report(e, loss)) break;
    }
    return TrialOutcome{best};
  };
}

}  // namespace

void register_objective(const std::string& name, ObjectiveInfo info) { registry()[name] = std::move(info); }

const ObjectiveInfo* find_objective(const std::string& name) {
  const auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> objective_names() {
  std::vector<std::string> names;
  for (const auto& [name, info] : registry()) names.push_back(name);
  return names;
}

void register_builtin_objectives() {
  ObjectiveInfo branin_info;
  branin_info.description = "the Branin function with simulated epochs (cheap; for tests and CI)";
  branin_info.make = make_branin;
  branin_info.default_space_toml = "[branin]\nx1 = { uniform = [-5, 10] }\nx2 = { uniform = [0, 15] }\n";
  branin_info.config_keys = false;
  branin_info.needs_data = false;
  register_objective("branin", std::move(branin_info));
}

}  // namespace oneshot::tune
