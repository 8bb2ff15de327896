#include "transport/sender.hpp"

#include "codec/codec.hpp"
#include "core/accounting.hpp"
#include "core/destination_table.hpp"
#include "core/error_reporter.hpp"
#include "metrics/counters.hpp"
#include "transport/concurrency_limit.hpp"
#include "transport/http_connection.hpp"
#include "transport/retry_policy.hpp"
#include "transport/url.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>

namespace spanline::detail {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr std::string_view kUserAgent = "spanline/0.1";
constexpr std::size_t kSnippetChars = 200;

// At most 200 printable characters of an answer's body, with the key blanked out
// should a server ever echo it back.
std::string snippet(std::string_view body, const std::string& secret) {
  std::string text(body);
  if (!secret.empty()) {
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  if (text.size() > kSnippetChars) {
    text.resize(kSnippetChars);
    text += "...";
  }
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

// A batch and how many times it has been retried.
struct Job {
  Batch batch;
  std::uint32_t retries = 0;
};

}  // namespace

class SenderCore : public std::enable_shared_from_this<SenderCore> {
 public:
  SenderCore(const Options& options, net::io_context& io, DestinationTable& destinations,
             Accounting& accounting, ErrorReporter& errors)
      : options_(options),
        url_(parse_base_url(options.api_url)),
        io_(io),
        work_(net::make_work_guard(io)),
        destinations_(destinations),
        accounting_(accounting),
        counters_(accounting.counters()),
        errors_(errors),
        limit_(options.initial_in_flight, options.max_in_flight),
        pause_timer_(io),
        rng_(std::random_device{}()),
        encoding_(options.compression) {
    auto settings = std::make_shared<HttpSettings>();
    settings->url = url_;
    settings->connect_timeout = options.connect_timeout;
    settings->request_timeout = options.request_timeout;
    settings_ = std::move(settings);
    if (url_.tls) tls_ = make_tls_context(options.ca_file, options.tls_verify);

    if (!options.api_key.empty()) base_headers_.emplace_back("Authorization", "Bearer " + options.api_key);
    base_headers_.emplace_back("User-Agent", std::string(kUserAgent));
    base_headers_.emplace_back("Accept", "application/json");
    if (!options.impersonate_user.empty())
      base_headers_.emplace_back("x-bt-impersonate-user", options.impersonate_user);
    publish_gauges();
  }

  // --- any thread ---------------------------------------------------------------

  std::size_t payload_limit() const noexcept {
    if (options_.max_payload_bytes != 0) return options_.max_payload_bytes;
    return learned_limit_.load(std::memory_order_relaxed);
  }
  Compression encoding() const noexcept { return encoding_.load(std::memory_order_relaxed); }
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  // --- io thread ----------------------------------------------------------------

  void start() {
    if (url_.tls && !options_.tls_verify) {
      errors_.report(
          "sender", "tls-verify-off",
          "TLS certificate verification is off (tls_verify=false): the API host is not authenticated");
    }
    probe_version();
  }

  void enqueue(Batch batch) {
    if (stopped_) {
      accounting_.dropped(batch, DropReason::shutdown);
      return;
    }
    Job job{std::move(batch), 0};
    if (!destinations_.insert_path(job.batch.destination)) return park(std::move(job));
    ready_.push_back(std::move(job));
    pump();
  }

  void begin_drain(std::shared_ptr<std::promise<void>> idle) {
    idle_promise_ = std::move(idle);
    check_idle();
  }

  // Settles everything that is left as dropped(shutdown) and stops the io loop.
  void force_stop() noexcept {
    if (stopped_) return;
    stopped_ = true;
    std::uint64_t rows = 0;
    auto drop = [&](const Batch& batch) {
      rows += batch.source_rows();
      accounting_.dropped(batch, DropReason::shutdown);
    };
    for (auto& job : ready_) drop(job.batch);
    ready_.clear();
    for (auto& [id, waiting] : waiting_) {
      waiting.timer->cancel();
      drop(waiting.job.batch);
    }
    waiting_.clear();
    auto active = std::move(active_);
    active_.clear();
    publish_gauges();  // off the wire before they count as settled
    for (auto& [id, attempt] : active) {
      attempt->connection->close();
      drop(attempt->job.batch);
    }
    for (auto& [destination, resolution] : resolutions_) {
      if (resolution.timer) resolution.timer->cancel();
      // Reset, not just closed: its pending callback holds this core, and the io loop
      // will not run again to release it.
      if (resolution.connection) resolution.connection->close();
      resolution.connection.reset();
      for (auto& job : resolution.parked) drop(job.batch);
      resolution.parked.clear();
    }
    for (auto& connection : idle_) connection->close();
    idle_.clear();
    if (version_connection_) version_connection_->close();
    version_connection_.reset();
    pause_timer_.cancel();
    publish_gauges();
    if (rows != 0) {
      errors_.report("sender", "shutdown",
                     "shutdown deadline passed: " + std::to_string(rows) + " rows were not delivered");
    }
    if (idle_promise_) {
      idle_promise_->set_value();
      idle_promise_.reset();
    }
    work_.reset();
    io_.stop();
  }

 private:
  struct Attempt {
    Job job;
    std::shared_ptr<HttpConnection> connection;
    std::string target;
    Clock::time_point started;
  };
  struct Waiting {
    Job job;
    std::unique_ptr<net::steady_timer> timer;
  };
  struct Resolution {
    std::deque<Job> parked;
    bool running = false;
    std::uint32_t retries = 0;
    std::unique_ptr<net::steady_timer> timer;
    std::shared_ptr<HttpConnection> connection;  // while POST /v1/project runs
  };

  // --- sending batches -------------------------------------------------------------

  // Starts as many ready batches as the limit allows, unless the host is paused.
  void pump() {
    if (stopped_) return;
    while (!ready_.empty() && active_.size() < limit_.current()) {
      if (Clock::now() < pause_until_) {
        arm_pause_timer();
        break;
      }
      Job job = std::move(ready_.front());
      ready_.pop_front();
      std::string target;
      if (prepare(job, target)) send(std::move(job), std::move(target));
    }
    check_idle();
  }

  void arm_pause_timer() {
    if (pause_armed_) return;
    pause_armed_ = true;
    pause_timer_.expires_at(pause_until_);
    pause_timer_.async_wait([self = shared_from_this()](error_code ec) {
      self->pause_armed_ = false;
      if (ec) return;
      self->pump();  // re-arms itself if the pause was extended meanwhile
    });
  }

  // Makes a job sendable: known destination, within the payload limit, encoded with the
  // host's current encoding. False when the job went elsewhere (parked, split, settled).
  bool prepare(Job& job, std::string& target) {
    auto path = destinations_.insert_path(job.batch.destination);
    if (!path) {
      park(std::move(job));
      return false;
    }
    if (job.batch.events.empty()) return false;  // nothing to send, nothing to account

    const std::size_t limit = payload_limit();
    if (job.batch.body_size() > limit) {
      auto parts = split_to_limit(std::move(job.batch), limit);
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->events.size() == 1 && it->body_size() > limit) {
          errors_.report("sender", "too-large",
                         "dropped an event of " + std::to_string(it->body_size()) +
                             " bytes: over the payload limit of " + std::to_string(limit) + " bytes");
          accounting_.dropped_event(it->events.front(), DropReason::too_large);
          continue;
        }
        it->body.clear();  // forces a fresh encoding of just this part
        ready_.push_front(Job{std::move(*it), job.retries});
      }
      return false;
    }

    const Compression wanted = encoding();
    if (job.batch.body.empty() || job.batch.encoding != wanted) {
      try {
        encode(job.batch, wanted, options_.zstd_level);
      } catch (const std::exception& e) {
        errors_.report("sender", "encode", std::string("cannot encode a batch: ") + e.what());
        accounting_.dropped(job.batch, DropReason::invalid);
        return false;
      }
    }
    target = url_.target(*path);
    return true;
  }

  void send(Job job, std::string target) {
    auto attempt = std::make_shared<Attempt>();
    attempt->connection = acquire_connection();
    attempt->target = std::move(target);
    attempt->started = Clock::now();
    HttpRequest request = make_request(HttpRequest::Method::post, attempt->target, std::move(job.batch.body),
                                       job.batch.encoding);
    attempt->job = std::move(job);
    const std::uint64_t id = next_id_++;
    active_.emplace(id, attempt);
    publish_gauges();
    attempt->connection->async_request(
        std::move(request),
        [self = shared_from_this(), id](HttpResult result) { self->on_batch_answer(id, std::move(result)); });
  }

  void on_batch_answer(std::uint64_t id, HttpResult result) {
    auto node = active_.extract(id);
    if (node.empty()) return;  // settled by force_stop
    std::shared_ptr<Attempt> attempt = std::move(node.mapped());
    publish_gauges();  // before settling: whoever sees the rows settled sees them off the wire
    Job job = std::move(attempt->job);
    job.batch.body = std::move(result.request.body);
    release_connection(std::move(attempt->connection));

    const int status = result.ec ? 0 : result.status;
    counters_.count_request(status);
    counters_.request_latency.observe(std::chrono::duration<double>(Clock::now() - attempt->started).count());

    RetryDecision decision =
        result.ec ? RetryDecision::retry_backoff : decide(status, job.batch.events.size(), result.body);
    if (decision == RetryDecision::fallback_encoding && job.batch.encoding == Compression::none) {
      decision = RetryDecision::reject;  // nothing left to fall back to
    }

    switch (decision) {
      case RetryDecision::success:
        limit_.on_success();
        accounting_.delivered(job.batch, job.batch.raw_body_bytes, job.batch.body.size());
        break;

      case RetryDecision::retry_after_pause: {
        limit_.on_congestion();
        auto delay = parse_retry_after(result.retry_after, std::chrono::system_clock::now());
        if (!delay) delay = backoff(job.retries);
        pause_until_ = std::max(pause_until_, Clock::now() + *delay);
        if (take_retry(job, attempt->target, status, result)) ready_.push_front(std::move(job));
        break;
      }

      case RetryDecision::retry_backoff: {
        limit_.on_congestion();
        report_retryable(attempt->target, status, result);
        const auto delay = backoff(job.retries);
        if (take_retry(job, attempt->target, status, result)) wait_then_retry(std::move(job), delay);
        break;
      }

      case RetryDecision::split: {
        counters_.retries.fetch_add(1, std::memory_order_relaxed);
        auto halves = split_in_half(std::move(job.batch));
        halves.first.body.clear();
        halves.second.body.clear();
        ready_.push_front(Job{std::move(halves.second), job.retries});
        ready_.push_front(Job{std::move(halves.first), job.retries});
        break;
      }

      case RetryDecision::fallback_encoding: {
        Compression refused = job.batch.encoding;
        const Compression next = fallback_after(refused);
        if (encoding_.compare_exchange_strong(refused, next)) {
          errors_.report("sender", "encoding-fallback",
                         "the API refused Content-Encoding " + std::string(to_string(job.batch.encoding)) +
                             " (HTTP " + std::to_string(status) + "); using " + std::string(to_string(next)) +
                             " for this host from now on",
                         status);
        }
        counters_.retries.fetch_add(1, std::memory_order_relaxed);
        job.batch.body.clear();  // prepare() re-encodes it from its events
        ready_.push_front(std::move(job));
        break;
      }

      case RetryDecision::reject:
        errors_.report("sender", "http-" + std::to_string(status),
                       "POST " + attempt->target + " answered HTTP " + std::to_string(status) + "; " +
                           std::to_string(job.batch.source_rows()) +
                           " rows rejected: " + snippet(result.body, options_.api_key),
                       status);
        accounting_.rejected(job.batch);
        break;
    }
    publish_gauges();
    pump();
  }

  // Counts one retry of `job`; false (and the batch dropped) when its budget is spent.
  bool take_retry(Job& job, const std::string& target, int status, const HttpResult& result) {
    if (options_.max_retry_attempts != 0 && job.retries >= options_.max_retry_attempts) {
      errors_.report("sender", "retries-exhausted",
                     "gave up on POST " + target + " after " + std::to_string(job.retries + 1) +
                         " attempts (last: " + describe_failure(status, result) + "); " +
                         std::to_string(job.batch.source_rows()) + " rows dropped",
                     status);
      accounting_.dropped(job.batch, DropReason::retries_exhausted);
      return false;
    }
    ++job.retries;
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  void wait_then_retry(Job job, std::chrono::milliseconds delay) {
    const std::uint64_t id = next_id_++;
    auto timer = std::make_unique<net::steady_timer>(io_);
    timer->expires_after(delay);
    timer->async_wait([self = shared_from_this(), id](error_code ec) {
      if (ec) return;
      auto node = self->waiting_.extract(id);
      if (node.empty()) return;
      self->ready_.push_front(std::move(node.mapped().job));
      self->pump();
    });
    waiting_.emplace(id, Waiting{std::move(job), std::move(timer)});
  }

  std::string describe_failure(int status, const HttpResult& result) const {
    if (result.ec) return std::string(result.step) + ": " + result.ec.message();
    return "HTTP " + std::to_string(status);
  }

  void report_retryable(const std::string& target, int status, const HttpResult& result) {
    if (result.ec) {
      errors_.report("sender", "transport-" + std::string(result.step),
                     std::string(result.step) + " to " + url_.host_header() +
                         " failed: " + result.ec.message() + " (will retry)");
    } else {
      errors_.report("sender", "http-" + std::to_string(status),
                     "POST " + target + " answered HTTP " + std::to_string(status) +
                         " (will retry): " + snippet(result.body, options_.api_key),
                     status);
    }
  }

  std::chrono::milliseconds backoff(std::uint32_t retries) {
    return backoff_delay(retries, options_.retry_base_delay, options_.retry_max_delay, rng_);
  }

  // --- connections ---------------------------------------------------------------

  std::shared_ptr<HttpConnection> acquire_connection() {
    while (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->is_open()) return connection;
    }
    return std::make_shared<HttpConnection>(io_.get_executor(), settings_, tls_, options_.tls_verify);
  }

  void release_connection(std::shared_ptr<HttpConnection> connection) {
    if (!connection) return;
    // The pool follows the limit: connections beyond it are closed rather than kept.
    if (!stopped_ && connection->is_open() && idle_.size() + active_.size() < limit_.current()) {
      idle_.push_back(std::move(connection));
    } else {
      connection->close();
    }
  }

  HttpRequest make_request(HttpRequest::Method method, std::string target, std::string body,
                           Compression compression) const {
    HttpRequest request;
    request.method = method;
    request.target = std::move(target);
    request.headers = base_headers_;
    if (method == HttpRequest::Method::post) request.headers.emplace_back("Content-Type", "application/json");
    if (compression != Compression::none) {
      request.headers.emplace_back("Content-Encoding", std::string(content_encoding(compression)));
    }
    request.body = std::move(body);
    return request;
  }

  // --- project name resolution -----------------------------------------------------

  void park(Job job) {
    const std::uint32_t destination = job.batch.destination;
    Resolution& resolution = resolutions_[destination];
    resolution.parked.push_back(std::move(job));
    if (!resolution.running) {
      resolution.running = true;
      resolve(destination);
    }
  }

  void resolve(std::uint32_t destination) {
    if (stopped_) return;
    Resolution& resolution = resolutions_[destination];
    const auto now = Clock::now();
    if (now < pause_until_) {
      return resolve_later(destination, std::chrono::ceil<std::chrono::milliseconds>(pause_until_ - now));
    }
    Destination target;
    try {
      target = destinations_.get(destination);
    } catch (const std::exception&) {
    }
    if (target.project_name.empty()) {
      // Nothing to resolve it by: the table gave neither an id nor a name.
      for (auto& job : resolution.parked) accounting_.rejected(job.batch);
      resolution.parked.clear();
      resolution.running = false;
      errors_.report("sender", "unknown-destination",
                     "destination " + std::to_string(destination) + " has no id and no project name");
      return;
    }
    boost::json::object body;
    body["name"] = target.project_name;
    if (!options_.org_name.empty()) body["org_name"] = options_.org_name;

    resolution.connection = acquire_connection();
    resolution.connection->async_request(make_request(HttpRequest::Method::post, url_.target("/v1/project"),
                                                      boost::json::serialize(body), Compression::none),
                                         [self = shared_from_this(), destination](HttpResult result) {
                                           self->on_project_answer(destination, std::move(result));
                                         });
  }

  void resolve_later(std::uint32_t destination, std::chrono::milliseconds delay) {
    Resolution& resolution = resolutions_[destination];
    if (!resolution.timer) resolution.timer = std::make_unique<net::steady_timer>(io_);
    resolution.timer->expires_after(delay);
    resolution.timer->async_wait([self = shared_from_this(), destination](error_code ec) {
      if (!ec) self->resolve(destination);
    });
  }

  void on_project_answer(std::uint32_t destination, HttpResult result) {
    if (stopped_) return;
    Resolution& resolution = resolutions_[destination];
    release_connection(std::move(resolution.connection));
    const int status = result.ec ? 0 : result.status;
    counters_.count_request(status);
    std::string name;
    try {
      name = destinations_.get(destination).project_name;
    } catch (const std::exception&) {
    }
    const std::string what = "POST " + url_.target("/v1/project") + " for project \"" + name + "\"";

    RetryDecision decision = result.ec ? RetryDecision::retry_backoff : decide(status, 1, result.body);
    if (decision == RetryDecision::success) {
      if (auto id = project_id(result.body)) {
        destinations_.set_resolved_id(destination, std::move(*id));
        resolution.running = false;
        resolution.retries = 0;
        for (auto& job : resolution.parked) ready_.push_back(std::move(job));
        resolution.parked.clear();
        pump();
        return;
      }
      errors_.report("sender", "project-answer",
                     what + " answered without a project id: " + snippet(result.body, options_.api_key));
      decision = RetryDecision::retry_backoff;
    }

    if (decision == RetryDecision::retry_after_pause || decision == RetryDecision::retry_backoff) {
      if (options_.max_retry_attempts != 0 && resolution.retries >= options_.max_retry_attempts) {
        errors_.report(
            "sender", "retries-exhausted",
            "gave up resolving project \"" + name + "\" (last: " + describe_failure(status, result) + ")",
            status);
        for (auto& job : resolution.parked) accounting_.dropped(job.batch, DropReason::retries_exhausted);
        resolution.parked.clear();
        resolution.running = false;
        check_idle();
        return;
      }
      std::chrono::milliseconds delay = backoff(resolution.retries);
      if (decision == RetryDecision::retry_after_pause) {
        limit_.on_congestion();
        delay = parse_retry_after(result.retry_after, std::chrono::system_clock::now()).value_or(delay);
        pause_until_ = std::max(pause_until_, Clock::now() + delay);
      } else if (result.ec) {
        errors_.report(
            "sender", "transport-" + std::string(result.step),
            what + ": " + std::string(result.step) + " failed: " + result.ec.message() + " (will retry)");
      } else {
        errors_.report("sender", "http-" + std::to_string(status),
                       what + " answered HTTP " + std::to_string(status) +
                           " (will retry): " + snippet(result.body, options_.api_key),
                       status);
      }
      ++resolution.retries;
      counters_.retries.fetch_add(1, std::memory_order_relaxed);
      resolve_later(destination, delay);
      return;
    }

    // Refused for good (401, 403, 404, 422...): the parked rows cannot go anywhere.
    errors_.report("sender", "http-" + std::to_string(status),
                   what + " answered HTTP " + std::to_string(status) + "; " +
                       std::to_string(resolution.parked.size()) +
                       " batches rejected: " + snippet(result.body, options_.api_key),
                   status);
    for (auto& job : resolution.parked) accounting_.rejected(job.batch);
    resolution.parked.clear();
    resolution.running = false;
    resolution.retries = 0;
    check_idle();
  }

  static std::optional<std::string> project_id(std::string_view body) {
    error_code ec;
    boost::json::value value = boost::json::parse(body, ec);
    if (ec || !value.is_object()) return std::nullopt;
    const auto* id = value.as_object().if_contains("id");
    if (id == nullptr || !id->is_string()) return std::nullopt;
    std::string text(id->as_string());
    // It goes into a URL path: refuse what would change the path's meaning.
    if (text.empty() || text.size() > 512) return std::nullopt;
    for (char c : text) {
      if (static_cast<unsigned char>(c) < 0x21 || std::string_view("/?#%").find(c) != std::string_view::npos)
        return std::nullopt;
    }
    return text;
  }

  // --- GET /version ----------------------------------------------------------------

  void probe_version() {
    version_connection_ = acquire_connection();
    version_connection_->async_request(
        make_request(HttpRequest::Method::get, url_.target("/version"), {}, Compression::none),
        [self = shared_from_this()](HttpResult result) { self->on_version(std::move(result)); });
  }

  // Failure is quiet on purpose: the 6 MiB default is what the official SDKs assume too.
  void on_version(HttpResult result) {
    auto connection = std::move(version_connection_);
    if (stopped_) return;
    if (!result.ec) counters_.count_request(result.status);
    if (!result.ec && result.status >= 200 && result.status <= 299) {
      error_code ec;
      boost::json::value value = boost::json::parse(result.body, ec);
      if (!ec && value.is_object()) {
        if (const auto* max = value.as_object().if_contains("logs3_payload_max_bytes")) {
          std::int64_t bytes = 0;
          if (max->is_int64()) bytes = max->as_int64();
          if (max->is_uint64())
            bytes = static_cast<std::int64_t>(std::min<std::uint64_t>(max->as_uint64(), INT64_MAX));
          if (max->is_double()) bytes = static_cast<std::int64_t>(max->as_double());
          if (bytes > 1024) learned_limit_.store(static_cast<std::size_t>(bytes), std::memory_order_relaxed);
        }
      }
    }
    release_connection(std::move(connection));
  }

  // --- state -----------------------------------------------------------------------

  void publish_gauges() noexcept {
    in_flight_.store(active_.size(), std::memory_order_relaxed);
    counters_.in_flight.store(active_.size(), std::memory_order_relaxed);
    counters_.concurrency_limit.store(limit_.current(), std::memory_order_relaxed);
  }

  void check_idle() {
    if (!idle_promise_) return;
    if (!ready_.empty() || !active_.empty() || !waiting_.empty()) return;
    for (const auto& [destination, resolution] : resolutions_) {
      if (!resolution.parked.empty()) return;
    }
    idle_promise_->set_value();
    idle_promise_.reset();
  }

  const Options options_;
  const BaseUrl url_;
  net::io_context& io_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  DestinationTable& destinations_;
  Accounting& accounting_;
  PipelineCounters& counters_;
  ErrorReporter& errors_;

  std::shared_ptr<const HttpSettings> settings_;
  std::shared_ptr<net::ssl::context> tls_;
  std::vector<std::pair<std::string, std::string>> base_headers_;

  // io thread only
  ConcurrencyLimit limit_;
  std::deque<Job> ready_;  // FIFO waiting for a slot; retries go to the front
  std::unordered_map<std::uint64_t, std::shared_ptr<Attempt>> active_;
  std::unordered_map<std::uint64_t, Waiting> waiting_;  // backing off
  std::map<std::uint32_t, Resolution> resolutions_;
  std::vector<std::shared_ptr<HttpConnection>> idle_;
  std::shared_ptr<HttpConnection> version_connection_;
  Clock::time_point pause_until_{};  // no request starts before this (429)
  net::steady_timer pause_timer_;
  bool pause_armed_ = false;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
  std::shared_ptr<std::promise<void>> idle_promise_;
  std::mt19937_64 rng_;

  // read from any thread
  std::atomic<Compression> encoding_;
  std::atomic<std::size_t> learned_limit_{kDefaultPayloadLimit};
  std::atomic<std::size_t> in_flight_{0};
};

// --- Sender ------------------------------------------------------------------------

Sender::Sender(const Options& options, DestinationTable& destinations, Accounting& accounting,
               ErrorReporter& errors)
    : accounting_(accounting),
      io_(std::make_unique<net::io_context>(1)),
      core_(std::make_shared<SenderCore>(options, *io_, destinations, accounting, errors)) {}

Sender::~Sender() {
  shutdown(Clock::now());
  // Only when the io thread itself destroyed the sender (a misuse) is it still joinable here.
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }
}

void Sender::start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (started_ || stopped_) return;
  started_ = true;
  net::post(*io_, [core = core_] { core->start(); });
  thread_ = std::thread([io = io_.get()] {
    // Handlers do not throw; this only keeps a bug from taking the process down.
    for (;;) {
      try {
        io->run();
        return;
      } catch (...) {
      }
    }
  });
}

void Sender::submit(Batch batch) noexcept {
  try {
    std::unique_lock lock(lifecycle_mutex_);
    if (accepting_) {
      net::post(*io_,
                [core = core_, batch = std::move(batch)]() mutable { core->enqueue(std::move(batch)); });
      return;
    }
  } catch (...) {
    return;  // out of memory while posting; nothing sensible is left to do
  }
  accounting_.dropped(batch, DropReason::shutdown);
}

std::size_t Sender::payload_limit() const noexcept { return core_->payload_limit(); }

Compression Sender::encoding() const noexcept { return core_->encoding(); }

std::size_t Sender::in_flight() const noexcept { return core_->in_flight(); }

void Sender::shutdown(std::chrono::steady_clock::time_point deadline) noexcept {
  try {
    {
      std::lock_guard lock(lifecycle_mutex_);
      if (stopped_) return;
      accepting_ = false;
      stopped_ = true;
      if (!started_) {
        started_ = true;
        thread_ = std::thread([io = io_.get()] {
          try {
            io->run();
          } catch (...) {
          }
        });
      }
    }
    auto idle = std::make_shared<std::promise<void>>();
    auto settled = idle->get_future();
    net::post(*io_, [core = core_, idle] { core->begin_drain(idle); });
    settled.wait_until(deadline);
    net::post(*io_, [core = core_] { core->force_stop(); });
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  } catch (...) {
    // Nothing may escape a shutdown; the thread is joined by the destructor at worst.
  }
}

}  // namespace spanline::detail
