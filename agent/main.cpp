// spanlined: the sidecar daemon. See `spanlined --help`, spanlined(8) and docs/settings.md.
//
// Exit codes: 0 after a clean stop (SIGTERM/SIGINT) or a successful --check-config;
// 2 for a configuration error; 1 when a listener cannot start; 128+signal when a second
// signal cuts the drain short.

#include "daemon.hpp"
#include "daemon_config.hpp"
#include "log.hpp"
#include "process_metrics.hpp"
#include "stop_summary.hpp"
#include "systemd_notify.hpp"

#include <spanline/version.hpp>
#include <spanline_build_info.hpp>

#include <boost/asio/signal_set.hpp>

#ifdef SPANLINE_AGENT_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc's start-up options (MALLOC_CONF in the environment still overrides them),
// so that the resident size follows the memory budget (docs/memory.md):
//  - one arena: a row's text is allocated on an ingest thread, merged on the batcher's
//    and freed on the sender's, and with an arena per few threads each kept its own
//    high-water mark of freed pages, so the process held the sum of several peaks;
//  - freed pages go back to the kernel after one second rather than ten, so a burst's
//    pages do not stay resident under the next one.
const char* malloc_conf = "narenas:1,dirty_decay_ms:1000";
#endif

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <future>
#include <iostream>

namespace {

using namespace spanline::agent;

// Which malloc serves the daemon. --version says so: it is chosen at build time
// (CMakeLists.txt, SPANLINE_AGENT_JEMALLOC) and changes throughput by a fifth.
std::string allocator_name() {
#ifdef SPANLINE_AGENT_JEMALLOC
  const char* version = nullptr;
  std::size_t size = sizeof version;
  if (mallctl("version", static_cast<void*>(&version), &size, nullptr, 0) == 0 && version != nullptr) {
    return std::string("jemalloc ") + version;
  }
#endif
  return "the C library's malloc";
}

int run(int argc, char** argv) {
  DaemonConfig config;
  CommandLine command_line;
  try {
    command_line = parse_command_line(argc, argv);
    if (command_line.help) {
      std::cout << help_text();
      return 0;
    }
    if (command_line.version) {
      std::cout << "spanlined " << SPANLINE_VERSION_STRING << " (allocator: " << allocator_name()
                << ", commit " << SPANLINE_GIT_COMMIT << ")\n";
      return 0;
    }
    if (command_line.settings_reference) {
      std::cout << settings_reference(*command_line.settings_reference);
      return 0;
    }
    config = load_config(command_line, process_environment());
  } catch (const ConfigError& e) {
    std::cerr << "spanlined: configuration error: " << e.what() << std::endl;
    return 2;
  }
  if (command_line.print_config) {
    std::cout << print_config(config);
    return 0;
  }
  if (command_line.check_config) {
    for (const std::string& warning : config_warnings(config)) {
      std::cerr << "spanlined: warning: " << warning << std::endl;
    }
    std::cout << "spanlined: configuration OK"
              << (config.config_file.empty() ? "" : " (" + config.config_file + ")") << std::endl;
    return 0;
  }
  set_log_level(config.log_level);
#ifdef SPANLINE_AGENT_JEMALLOC
  set_build_allocator("jemalloc");
#endif
  for (const std::string& warning : config_warnings(config)) log_warn("daemon", warning);

  std::unique_ptr<Daemon> daemon;
  try {
    daemon = std::make_unique<Daemon>(config);
  } catch (const std::invalid_argument& e) {
    std::cerr << "spanlined: configuration error: " << e.what() << std::endl;
    return 2;
  }

  // The signal set exists before any listener is bound, so an early SIGTERM is never fatal.
  std::promise<int> stop_signal;
  auto stop_future = stop_signal.get_future();
  boost::asio::signal_set signals(daemon->io(), SIGTERM, SIGINT);
  std::signal(SIGPIPE, SIG_IGN);
  std::function<void(const boost::system::error_code&, int)> on_signal;
  int signals_seen = 0;
  on_signal = [&](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    if (++signals_seen == 1) {
      stop_signal.set_value(signal_number);
      signals.async_wait(on_signal);
      return;
    }
    log_warn("daemon", "second signal: exiting now without waiting for the drain");
    std::_Exit(128 + signal_number);
  };
  signals.async_wait(on_signal);

  try {
    daemon->start();
  } catch (const std::exception& e) {
    log_error("daemon", std::string("cannot start: ") + e.what());
    return 1;
  }
  std::cout << daemon->ready_line() << std::endl;  // flushed: scripts wait for this line
  const SystemdNotifier service_manager;
  if (const std::string error = service_manager.notify("READY=1\nSTATUS=accepting input"); !error.empty()) {
    log_warn("daemon", "cannot notify the service manager (READY=1): " + error);
  }

  const int signal_number = stop_future.get();
  log_info("daemon", std::string("received ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
                         ": stopped accepting, draining (deadline " +
                         std::to_string(config.library.shutdown_timeout.count()) + " ms)");
  if (const std::string error = service_manager.notify("STOPPING=1\nSTATUS=draining"); !error.empty()) {
    log_warn("daemon", "cannot notify the service manager (STOPPING=1): " + error);
  }
  const StopReport report = daemon->stop();
  // The logger has shut down: its counters no longer move.
  const StopSummary summary = make_stop_summary(daemon->logger().stats(), report.result);
  const std::string line = to_string(summary);
  log_info("daemon", "stopped: " + line);
  std::cout << "spanlined stopped: " << line << std::endl;
  if (!summary.adds_up()) log_warn("daemon", "the stop summary does not add up (a bug): " + line);
  if (!summary.complete) {
    log_warn("daemon", std::to_string(summary.pending + summary.dropped + summary.refused) +
                           " rows were not delivered (counted as dropped; see spanline_rows_dropped_total)");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    spanline::agent::log_error("daemon", std::string("fatal: ") + e.what());
    return 1;
  }
}
