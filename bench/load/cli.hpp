#pragma once
// spanline-load's command line: flags -> LoadConfig and the chosen action.

#include "config.hpp"

#include <string>

namespace spanline::load {

struct Command {
  enum class Action { run, reference, render_report, append_history } action = Action::run;
  LoadConfig config;
  bool json = false;
  bool expect_no_loss = false;
  double reference_seconds = 3;
  std::string report_dir;
  std::string report_preamble;
  // --append-history DIR: the run's identity (the date and machine are read when appending)
  std::string history_dir;
  std::string history_commit;
  bool history_local_changes = false;
  bool history_quick = false;
};

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // bad flags, setup failure
inline constexpr int kExitLoss = 3;   // --expect-no-loss and a row id was lost, a row dropped or rejected,
                                      // or delivery could not be checked

// Parses argv. Returns an exit code >= 0 when the program should stop right away
// (help printed, or a flag error reported on stderr), or -1 to go on with `out`.
int parse_command_line(int argc, char** argv, Command& out);

}  // namespace spanline::load
