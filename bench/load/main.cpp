// spanline-load: see cli.cpp for the flags, driver.hpp for what a run does.

#include "cli.hpp"
#include "driver.hpp"
#include "history.hpp"
#include "reference.hpp"
#include "report.hpp"
#include "report_md.hpp"

#include <boost/json/serialize.hpp>

#include <csignal>
#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  using namespace spanline::load;
  std::signal(SIGPIPE, SIG_IGN);
  Command cmd;
  if (const int code = parse_command_line(argc, argv, cmd); code >= 0) return code;
  try {
    switch (cmd.action) {
      case Command::Action::reference: {
        const Reference ref = measure_reference(cmd.config.generator, cmd.reference_seconds);
        std::printf("%s\n", boost::json::serialize(to_json(ref)).c_str());
        return kExitOk;
      }
      case Command::Action::render_report:
        write_report(cmd.report_dir, cmd.report_preamble);
        std::fprintf(stderr, "wrote %s/REPORT.md\n", cmd.report_dir.c_str());
        return kExitOk;
      case Command::Action::append_history: {
        const HistoryRun run{cmd.history_commit, cmd.history_local_changes, utc_now_iso8601(),
                             cmd.history_quick, this_machine()};
        const std::string file = cmd.history_dir + "/history.jsonl";
        const std::size_t n = append_history(cmd.history_dir, file, run);
        std::fprintf(stderr, "appended %zu figures to %s\n", n, file.c_str());
        return kExitOk;
      }
      case Command::Action::run:
        break;
    }
    const RunResult result = run_load(cmd.config, stderr);
    if (cmd.json)
      std::printf("%s\n", to_json_text(result).c_str());
    else
      std::printf("%s", render_text(result).c_str());
    std::fflush(stdout);
    if (cmd.expect_no_loss && !result.clean()) {
      std::fprintf(stderr, "spanline-load: %s\n",
                   !result.delivery_known ? "delivery unknown (no fake API stats)"
                   : result.lost > 0      ? "row ids were lost"
                                          : "rows were dropped or rejected");
      return kExitLoss;
    }
    return kExitOk;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spanline-load: %s\n", e.what());
    return kExitError;
  }
}
