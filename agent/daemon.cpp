#include "daemon.hpp"

#include "admin.hpp"
#include "core/thread_name.hpp"
#include "http_ingest.hpp"
#include "http_server.hpp"
#include "ingest_auth.hpp"
#include "ingest_counters.hpp"
#include "ingest_sink.hpp"
#include "listeners.hpp"
#include "log.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace spanline::agent {

namespace {

// The admin port serves a handful of scrapers; a small bound keeps it from competing with ingest.
constexpr std::size_t kAdminMaxConnections = 16;

}  // namespace

struct Daemon::Impl {
  explicit Impl(DaemonConfig config);
  void start();
  StopReport stop();
  std::string ready_line() const;
  void stop_listeners();
  std::shared_ptr<ApiProxy> make_proxy();
  void wait_for_connections_to_close(std::chrono::milliseconds limit);

  DaemonConfig config_;
  IngestAuth auth_;
  IngestCounters counters_;  // outlives io_: sessions count into it as they die
  std::unique_ptr<Logger> logger_;
  std::unique_ptr<IngestSink> sink_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::shared_ptr<NdjsonListener> uds_;
  std::shared_ptr<NdjsonListener> datagram_;
  std::shared_ptr<NdjsonListener> tcp_;
  std::shared_ptr<HttpServer> http_;
  std::shared_ptr<HttpServer> admin_;
  bool started_ = false;
  bool stopped_ = false;
  std::optional<StopReport> report_;
};

Daemon::Daemon(DaemonConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Daemon::~Daemon() {
  try {
    (void)impl_->stop();
  } catch (const std::exception& e) {
    log_error("daemon", std::string("stop failed: ") + e.what());
  }
}

void Daemon::start() { impl_->start(); }
StopReport Daemon::stop() { return impl_->stop(); }
std::string Daemon::ready_line() const { return impl_->ready_line(); }
boost::asio::io_context& Daemon::io() { return impl_->io_; }
Logger& Daemon::logger() { return *impl_->logger_; }
IngestCounters& Daemon::counters() { return impl_->counters_; }
const DaemonConfig& Daemon::config() const { return impl_->config_; }

Daemon::Impl::Impl(DaemonConfig config)
    : config_(std::move(config)), auth_(IngestAuth::from_config(config_)) {
  check_listener_exposure(config_, auth_);
  logger_ = std::make_unique<Logger>(config_.library);
  logger_->set_error_handler([](const ErrorReport& report) {
    std::string message = report.message;
    if (report.http_status != 0) message += " (HTTP " + std::to_string(report.http_status) + ")";
    if (report.suppressed > 0) message += " (" + std::to_string(report.suppressed) + " similar not logged)";
    log_warn(report.component, message);
  });
  detail::IngestLimits limits;
  limits.max_event_bytes = config_.ingest.max_line_bytes;
  limits.max_depth = config_.ingest.max_depth;
  sink_ = std::make_unique<IngestSink>(*logger_, config_.default_destination, counters_, limits,
                                       config_.ingest.ack, config_.ingest.ack_timeout);
}

void Daemon::Impl::start() {
  if (started_) return;
  started_ = true;
  const IngestConfig& in = config_.ingest;
  // The library falls back to running without a spool when its directory cannot be opened;
  // a durable acknowledgement would then be impossible, so refuse to start instead.
  if (in.ack == IngestAck::durable && !logger_->stats().spool.enabled) {
    throw std::runtime_error("ingest.ack = \"durable\" but the spool at spool.dir '" +
                             config_.library.spool_dir + "' could not be opened (see the error above)");
  }
  work_.emplace(io_.get_executor());
  for (std::size_t i = 0; i < in.threads; ++i) {
    threads_.emplace_back([this] {
      // Named so that per-thread tools (top -H, perf) tell the ingest threads apart.
      detail::name_this_thread("spanlined-io");
      // No exception may end an I/O thread: report it and keep serving.
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          log_error("io", std::string("handler threw: ") + e.what());
        }
      }
    });
  }
  if (!in.uds_path.empty()) {
    uds_ = make_uds_listener(io_, in, *sink_);
    uds_->start();
  }
  if (!in.datagram_path.empty()) {
    datagram_ = make_datagram_listener(io_, in, *sink_);
    datagram_->start();
  }
  if (in.tcp.enabled()) {
    tcp_ = make_tcp_listener(io_, in, *sink_);
    tcp_->start();
  }
  if (in.http.enabled()) {
    auto& http_counters = counters_.at(Listener::http);
    http_ = make_http_server(
        io_, "http", in.http,
        HttpServerLimits{in.max_body_bytes, in.max_connections, in.idle_timeout, "ingest.max_body_bytes"},
        make_ingest_handler(*sink_, in, auth_, make_proxy()),
        HttpConnectionCounters{&http_counters.connections_active, &http_counters.connections_total,
                               &http_counters.connections_refused, &http_counters.connections_idle_closed,
                               [this](unsigned status) { counters_.count_http_response(status); }});
    http_->start();
  }
  if (config_.admin.enabled()) {
    admin_ = make_http_server(
        io_, "admin", config_.admin,
        HttpServerLimits{64 * 1024, kAdminMaxConnections, std::chrono::seconds(30)},
        make_admin_handler(*logger_, counters_, sink_->durable() ? &sink_->durable_counters() : nullptr));
    admin_->start();
  }
  counters_.set_ready(true);
  if (in.ack == IngestAck::durable) {
    log_info(
        "daemon",
        "ingest.ack=durable: answers wait for an fsync to the spool in " + config_.library.spool_dir +
            (in.datagram_path.empty() ? std::string()
                                      : "; the datagram socket cannot acknowledge and stays best effort"));
  }
  log_info("daemon", ready_line());
}

std::shared_ptr<ApiProxy> Daemon::Impl::make_proxy() {
  if (!config_.ingest.proxy) return nullptr;
  return std::make_shared<ApiProxy>(ProxySettings{config_.library.api_url, config_.ingest.proxy_timeout,
                                                  config_.ingest.proxy_max_response_bytes,
                                                  config_.library.ca_file, config_.library.tls_verify},
                                    counters_);
}

std::string Daemon::Impl::ready_line() const {
  auto text = [](const auto& listener) { return listener ? listener->address() : std::string("off"); };
  std::string line = "spanlined ready:";
  line += " uds=" + text(uds_);
  line += " datagram=" + text(datagram_);
  line += " tcp=" + text(tcp_);
  line += " http=" + (http_ ? http_->url() : std::string("off"));
  line += " admin=" + (admin_ ? admin_->url() : std::string("off"));
  return line;
}

void Daemon::Impl::stop_listeners() {
  counters_.set_ready(false);
  for (auto* listener : {&uds_, &datagram_, &tcp_}) {
    if (*listener) (*listener)->stop();
  }
  if (http_) http_->stop();
  // HTTP requests waiting for room are answered now (503, shutting down), so their
  // connections close instead of holding the drain for ingest.ack_timeout_ms.
  sink_->stop_waiting();
}

void Daemon::Impl::wait_for_connections_to_close(std::chrono::milliseconds limit) {
  // Connections close on their strands; rows they were parsing still reach the logger before
  // it shuts down. Bounded: a connection stuck in a blocking log call cannot hold shutdown.
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto open = [this] {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < kListenerCount; ++i) {
      total += counters_.at(static_cast<Listener>(i)).connections_active.load(std::memory_order_relaxed);
    }
    return total;
  };
  while (open() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

StopReport Daemon::Impl::stop() {
  if (stopped_) return report_.value_or(StopReport{});
  stopped_ = true;
  stop_listeners();
  // One deadline for the whole stop: the wait for connections comes out of the drain's time,
  // so the daemon exits within shutdown.timeout_ms whatever its clients do.
  const auto timeout = config_.library.shutdown_timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  wait_for_connections_to_close(std::min<std::chrono::milliseconds>(timeout / 4, std::chrono::seconds(2)));
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  StopReport report;
  report.result = logger_->shutdown(std::max(left, std::chrono::milliseconds(0)));
  report.accepted = logger_->stats().rows_in;
  // The admin endpoint stays up through the drain so the last scrape sees the final counters.
  if (admin_) admin_->stop();
  work_.reset();
  io_.stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  // stop_listeners() only posted their stop; on a busy machine the io_context can stop
  // before it runs, which would leave the socket files behind.
  for (auto* listener : {&uds_, &datagram_, &tcp_}) {
    if (*listener) (*listener)->stop_after_io();
  }
  report_ = report;
  return report;
}

}  // namespace spanline::agent
