#pragma once
// spanlined's wiring: one Logger, the listeners that feed it, the admin endpoint, and the
// I/O threads they run on. The daemon adds no pipeline logic of its own.
//
// Lifecycle: construct (creates the Logger; throws std::invalid_argument on bad options),
// start() (binds every listener, then marks ready; throws std::system_error naming the
// listener), stop() (stops accepting, closes connections, drains the Logger within
// shutdown.timeout_ms and returns its totals). stop() is safe to call twice; the destructor
// calls it. Not copyable.

// This header stays free of src/ internals (main.cpp is built without them): the
// listeners and counters live behind Impl.

#include "daemon_config.hpp"

#include <spanline/logger.hpp>

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

namespace spanline::agent {

class IngestCounters;

struct StopReport {
  std::uint64_t accepted = 0;  // rows the pipeline accepted since start
  FlushResult result;
};

class Daemon {
 public:
  explicit Daemon(DaemonConfig config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  void start();
  StopReport stop();

  // "spanlined ready: uds=... datagram=... tcp=... http=http://127.0.0.1:P admin=http://127.0.0.1:P"
  std::string ready_line() const;

  // The I/O context the listeners run on (main.cpp waits for signals on it).
  boost::asio::io_context& io();
  Logger& logger();
  IngestCounters& counters();
  const DaemonConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spanline::agent
