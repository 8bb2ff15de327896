#pragma once
// Runs one load scenario: starts the fake API when asked, builds the target,
// replays generated traces from N threads (open or closed loop), samples progress,
// waits for delivery, and accounts for every row id.

#include "config.hpp"
#include "result.hpp"

#include <cstdio>

namespace spanline::load {

// Throws std::invalid_argument / std::runtime_error on a configuration or setup
// problem (bad flag, cannot connect). Progress lines go to `progress_out` (stderr
// by default) when config.progress is set.
RunResult run_load(const LoadConfig& config, std::FILE* progress_out = stderr);

// One progress line ("t=3s 45.1k spans/s sent 120k delivered 118k queue 2k ...").
std::string progress_line(const ProgressSample& sample, double span_rate, bool delivery_known);

}  // namespace spanline::load
