#pragma once
// The text of `oneshot-audio tune-report`: the study's counts, the best
// trial's parameters, and a table of every trial.
#include <string>

#include "tune/study.h"

namespace oneshot::tune {

std::string format_report(Study& study);

}  // namespace oneshot::tune
