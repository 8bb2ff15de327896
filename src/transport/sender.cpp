#include "transport/sender.hpp"

#include "batch/settled_events.hpp"
#include "codec/codec.hpp"
#include "accounting/accounting.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "core/thread_name.hpp"
#include "metrics/counters.hpp"
#include "spool/row_keys.hpp"
#include "spool/spool.hpp"
#include "transport/concurrency_limit.hpp"
#include "transport/http_connection.hpp"
#include "transport/live_order.hpp"
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

#include <algorithm>
#include <atomic>
#include <condition_variable>
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

// " (first refused row id "...")" for an error report, or nothing when the row has no id.
std::string first_refused_id(std::string_view event_json) {
  const auto id = find_row_id(event_json);
  if (!id) return {};
  return " (first refused row id \"" + snippet(*id, {}) + "\")";
}

// How many refused rows of one batch (or spool record) are isolated before the rest of
// what is refused is rejected whole. Finding one row among n costs about 2*log2(n)
// requests, so finding all of them when the API refuses every row (a 400 about the
// request rather than its rows) would cost 2n: this keeps a refused batch of 10,000 rows
// under 250 extra requests, whatever the reason.
constexpr std::uint64_t kIsolatedRowsPerBatch = 8;

// Extra requests a refused batch of `events` events may spend on isolating rows.
std::uint64_t isolation_budget(std::uint64_t events) {
  std::uint64_t levels = 1;
  while ((std::uint64_t{1} << levels) < events && levels < 63) ++levels;
  return 2 * levels * kIsolatedRowsPerBatch;
}

// A batch and how many times it has been retried.
struct Job {
  Batch batch;
  std::uint32_t retries = 0;
  // Its place in line among batches sharing row ids; parts of a split batch share it.
  std::shared_ptr<LiveOrder::Hold> order;
  // Requests its parts may still spend on isolating refused rows (isolation_budget());
  // shared by every part of a batch refused with 400/422, null before that.
  std::shared_ptr<std::uint64_t> isolation_left;
};

// How often the replay thread looks for new records when the spool has none.
constexpr std::chrono::milliseconds kReplayPoll{100};
// How long replay waits before trying a record whose destination is still being resolved.
constexpr std::chrono::milliseconds kReplayResolveWait{200};
// How soon replay looks again when every record it holds waits for an older one.
constexpr std::chrono::milliseconds kReplayBlockedPoll{50};

}  // namespace

// Spool records handed from the replay thread to the io thread and not yet finished
// (acknowledged, or left for the next run): bounded, so replay never holds more than a
// few records in memory however large the backlog.
struct ReplayWindow {
  explicit ReplayWindow(std::size_t slots) : capacity(slots) {}

  // Waits for a free slot and takes it; false once stopping.
  bool acquire() {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return stopping || outstanding < capacity; });
    if (stopping) return false;
    ++outstanding;
    return true;
  }
  void release() noexcept {
    {
      std::lock_guard lock(mutex);
      if (outstanding > 0) --outstanding;
    }
    changed.notify_all();
  }
  void stop() noexcept {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    changed.notify_all();
  }
  bool stopped() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  const std::size_t capacity;
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t outstanding = 0;
  bool stopping = false;
};

class SenderCore : public std::enable_shared_from_this<SenderCore> {
 public:
  SenderCore(const Options& options, net::io_context& io, DestinationTable& destinations,
             Accounting& accounting, ErrorReporter& errors, Spool* spool,
             std::shared_ptr<ReplayWindow> replay_window, SettledEvents* settled)
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
        spool_(spool),
        replay_window_(std::move(replay_window)),
        outage_timer_(io),
        replay_timer_(io),
        replay_blocked_timer_(io),
        rng_(std::random_device{}()),
        encoding_(options.compression),
        settled_(settled) {
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
  // See BatchSink::ready_for_batch(): published by the io thread after every pump().
  bool ready_for_batch() const noexcept {
    return slot_free_.load(std::memory_order_relaxed) &&
           Clock::now().time_since_epoch().count() >= paused_until_ticks_.load(std::memory_order_relaxed);
  }
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
    Job job{std::move(batch), 0, nullptr};
    job.order = live_order_.hold(job.batch);
    // During an outage new batches go straight to disk, except one kept as a probe
    // when nothing else is on the wire to find out that the upstream is back.
    if (in_outage() && (!active_.empty() || !replay_active_.empty() || !replay_ready_.empty())) {
      return spill(std::move(job));
    }
    if (!destinations_.insert_path(job.batch.destination)) return park(std::move(job));
    ready_.push_back(std::move(job));
    pump();
  }

  // A record from the replay thread; it holds one slot of the replay window until it
  // is acknowledged (or the sender stops).
  void enqueue_replay(SpoolRecord record) {
    if (stopped_) {
      replay_window_->release();
      return;
    }
    replay_ready_.push_back(ReplayItem{std::move(record), nullptr});
    pump();
  }

  // Spills the oldest waiting batches until the budget is about half free (spill policy).
  void spill_for_room() {
    room_requested_.store(false, std::memory_order_release);
    if (stopped_ || spool_ == nullptr) return;
    MemoryBudget& budget = accounting_.budget();
    const std::uint64_t target = budget.max_bytes() / 2;
    spill_waiting([&] { return budget.bytes_in_use() > target; });
    check_idle();
  }
  // True when this call should post spill_for_room() (none is pending yet).
  bool request_room() noexcept {
    if (spool_ == nullptr) return false;
    return !room_requested_.exchange(true, std::memory_order_acq_rel);
  }

  void begin_drain(std::shared_ptr<std::promise<void>> idle) {
    idle_promise_ = std::move(idle);
    check_idle();
  }

  // Settles everything that is left as dropped(shutdown), or with a spool writes it
  // there (and fsyncs it by `deadline`), and stops the io loop.
  void force_stop(Clock::time_point deadline) noexcept {
    if (stopped_) return;
    stopped_ = true;
    std::uint64_t rows = 0;
    std::uint64_t spooled_before = counters_.rows_spilled.load(std::memory_order_relaxed);
    auto drop = [&](Batch& batch) {
      if (spool_ != nullptr) {
        spill(Job{std::move(batch), 0});
        return;
      }
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
      attempt->job.batch.body.clear();  // it went into the request: encode again if spilled
      drop(attempt->job.batch);
    }
    // Replayed records not acknowledged stay in the spool for the next run.
    for (auto& [id, attempt] : replay_active_) attempt->connection->close();
    replay_active_.clear();
    replay_ready_.clear();
    replay_timer_.cancel();
    replay_blocked_timer_.cancel();
    outage_timer_.cancel();
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
    if (spool_ != nullptr) {
      const std::uint64_t spooled = counters_.rows_spilled.load(std::memory_order_relaxed) - spooled_before;
      if (spooled != 0) {
        const SpoolStatus synced = spool_->sync(std::max(deadline, Clock::now() + std::chrono::milliseconds(1)));
        errors_.report("sender", "shutdown-spooled",
                       "shutdown deadline passed: " + std::to_string(spooled) + " rows written to the spool in " +
                           spool_->directory().string() + " (fsync: " + std::string(to_string(synced)) +
                           "); the next run replays them");
      }
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
  // Replayed spool records share the limit: they start only in a share of it, and only
  // while the live queue is short.
  void pump() {
    if (stopped_) return;
    while (!ready_.empty() && requests_on_wire() < limit_.current()) {
      if (Clock::now() < pause_until_) {
        arm_pause_timer();
        break;
      }
      // The first batch in line whose rows no earlier unresolved batch shares: a span's
      // end row must not overtake its start row (live_order.hpp).
      const auto next = std::find_if(ready_.begin(), ready_.end(),
                                     [](const Job& job) { return !job.order || job.order->first_in_line(); });
      if (next == ready_.end()) break;
      Job job = std::move(*next);
      ready_.erase(next);
      std::string target;
      if (prepare(job, target)) send(std::move(job), std::move(target));
    }
    pump_replay();
    check_idle();
    publish_readiness();
  }

  // For the batcher (ready_for_batch): nothing waits for a slot and one is free; the pause.
  void publish_readiness() noexcept {
    // During an outage a batch goes straight to the spool: holding it back gains nothing.
    slot_free_.store(in_outage() || (ready_.empty() && requests_on_wire() < limit_.current()),
                     std::memory_order_relaxed);
    paused_until_ticks_.store(pause_until_.time_since_epoch().count(), std::memory_order_relaxed);
  }

  std::size_t requests_on_wire() const { return active_.size() + replay_active_.size(); }

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
    if (spool_ != nullptr && !divert_followers(job)) return false;

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
        ready_.push_front(Job{std::move(*it), job.retries, job.order});
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
    bool isolation_spent = false;
    if (decision == RetryDecision::isolate) {
      if (!job.isolation_left) {
        job.isolation_left = std::make_shared<std::uint64_t>(isolation_budget(job.batch.events.size()));
      }
      if (*job.isolation_left < 2) {
        decision = RetryDecision::reject;
        isolation_spent = true;
      } else {
        *job.isolation_left -= 2;
      }
    }

    switch (decision) {
      case RetryDecision::success:
        limit_.on_success();
        upstream_answered();
        accounting_.delivered(job.batch, job.batch.raw_body_bytes, job.batch.body.size());
        break;

      case RetryDecision::retry_after_pause: {
        limit_.on_congestion();
        upstream_failed();
        auto delay = parse_retry_after(result.retry_after, std::chrono::system_clock::now());
        if (!delay) delay = backoff(job.retries);
        pause_until_ = std::max(pause_until_, Clock::now() + *delay);
        if (take_retry(job, attempt->target, status, result)) {
          if (in_outage()) {
            spill(std::move(job));
          } else {
            ready_.push_front(std::move(job));
          }
        }
        break;
      }

      case RetryDecision::retry_backoff: {
        limit_.on_congestion();
        upstream_failed();
        report_retryable(attempt->target, status, result);
        const auto delay = backoff(job.retries);
        if (take_retry(job, attempt->target, status, result)) {
          if (in_outage()) {
            spill(std::move(job));
          } else {
            wait_then_retry(std::move(job), delay);
          }
        }
        break;
      }

      case RetryDecision::split:
      case RetryDecision::isolate: {
        // 413: too large; 400/422: some rows refused. Either way each half goes on its
        // own, in order, and is halved again if it is refused again.
        if (decision == RetryDecision::split) {
          counters_.retries.fetch_add(1, std::memory_order_relaxed);
        } else {
          counters_.isolation_requests.fetch_add(2, std::memory_order_relaxed);
        }
        auto halves = split_in_half(std::move(job.batch));
        halves.first.body.clear();
        halves.second.body.clear();
        ready_.push_front(Job{std::move(halves.second), job.retries, job.order, job.isolation_left});
        ready_.push_front(Job{std::move(halves.first), job.retries, job.order, job.isolation_left});
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
        errors_.report(
            "sender", "http-" + std::to_string(status),
            "POST " + attempt->target + " answered HTTP " + std::to_string(status) + "; " +
                std::to_string(job.batch.source_rows()) + " rows rejected" +
                (job.batch.events.empty() ? std::string() : first_refused_id(job.batch.events.front().json)) +
                (isolation_spent ? " (too many refused rows in one batch to isolate them all)" : "") + ": " +
                snippet(result.body, options_.api_key),
            status);
        accounting_.rejected(job.batch);
        break;
    }
    // A settled batch leaves the line now, so the pump below can start batches that
    // waited for it (a retried one was moved on and keeps its place).
    job.order.reset();
    if (settled_ != nullptr) settled_->hand_over(job.batch.events);
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
      if (self->in_outage()) {
        self->spill(std::move(node.mapped().job));
        self->check_idle();
        return;
      }
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
    if (!stopped_ && connection->is_open() && idle_.size() + requests_on_wire() < limit_.current()) {
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
    version_answered_ = true;
    if (!replay_ready_.empty()) net::post(io_, [self = shared_from_this()] { self->pump(); });
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

  // --- outage and spilling ----------------------------------------------------------

  // Failing with no 2xx for spool_outage_after (only meaningful with a spool).
  bool in_outage() const {
    return spool_ != nullptr && failing_since_ && Clock::now() - *failing_since_ >= options_.spool_outage_after;
  }

  void upstream_answered() {
    if (!failing_since_) return;
    failing_since_.reset();
    outage_timer_.cancel();
  }

  // A retriable failure. The first one after a 2xx starts the outage clock; when it
  // runs out with batches still waiting, they go to the spool.
  void upstream_failed() {
    if (spool_ == nullptr || failing_since_) return;
    failing_since_ = Clock::now();
    outage_timer_.expires_at(*failing_since_ + options_.spool_outage_after);
    outage_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->stopped_ || !self->in_outage()) return;
      self->errors_.report("sender", "outage",
                           "no 2xx from " + self->url_.host_header() + " for " +
                               std::to_string(self->options_.spool_outage_after.count()) +
                               " ms: writing waiting batches to the spool in " +
                               self->spool_->directory().string());
      self->spill_waiting([] { return true; });
      self->check_idle();
    });
  }

  // Spills waiting batches, oldest first (backing-off retries by age, then the ready
  // queue front to back), while `more()` says so.
  template <typename More>
  void spill_waiting(More more) {
    std::vector<std::uint64_t> by_age;
    by_age.reserve(waiting_.size());
    for (const auto& [id, waiting] : waiting_) by_age.push_back(id);
    std::sort(by_age.begin(), by_age.end(), [&](std::uint64_t a, std::uint64_t b) {
      return waiting_.at(a).job.batch.opened < waiting_.at(b).job.batch.opened;
    });
    for (const std::uint64_t id : by_age) {
      if (!more()) return;
      auto node = waiting_.extract(id);
      node.mapped().timer->cancel();
      spill(std::move(node.mapped().job));
    }
    while (!ready_.empty() && more()) {
      Job job = std::move(ready_.front());
      ready_.pop_front();
      spill(std::move(job));
    }
  }

  // Writes a batch to the spool (split to the payload limit first, so replay can send
  // each record as it is) and settles it as spooled, or as dropped(spool_full).
  void spill(Job job) {
    Batch& batch = job.batch;
    if (batch.events.empty()) return;
    const std::size_t limit = payload_limit();
    if (batch.body_size() <= limit) return spill_batch(batch);
    for (Batch& part : split_to_limit(std::move(batch), limit)) {
      if (part.events.size() == 1 && part.body_size() > limit) {
        accounting_.dropped_event(part.events.front(), DropReason::too_large);
        continue;
      }
      part.body.clear();
      spill_batch(part);
    }
  }

  // Rows whose id has an earlier row in the spool, not yet acknowledged, go to the spool
  // behind it instead of upstream: sent now, a merge row would reach the server before
  // the full row it merges into, and the replayed full row would then replace the
  // merged one. Replay sends them after it (spool/replay_order.hpp). The other rows of
  // the batch go on. False when nothing of the batch is left to send now.
  bool divert_followers(Job& job) {
    ReplayOrder& order = spool_->order();
    const ReplayOrder::Route route = order.route(job.batch.destination);
    if (route == ReplayOrder::Route::live) return true;
    if (route == ReplayOrder::Route::spool) {
      spill(std::move(job));
      return false;
    }
    std::vector<RowKey> keys;
    std::vector<std::size_t> keyed;  // events that have an id (the others cannot follow anything)
    keys.reserve(job.batch.events.size());
    keyed.reserve(job.batch.events.size());
    for (std::size_t i = 0; i < job.batch.events.size(); ++i) {
      if (const auto id = find_row_id(job.batch.events[i].json)) {
        keys.push_back(row_key(*id));
        keyed.push_back(i);
      }
    }
    std::vector<char> follow;
    order.must_follow(job.batch.destination, keys, follow);
    std::vector<char> to_spool(job.batch.events.size(), 0);
    std::size_t following = 0;
    for (std::size_t k = 0; k < keyed.size(); ++k) {
      if (follow[k] != 0) {
        to_spool[keyed[k]] = 1;
        ++following;
      }
    }
    if (following == 0) return true;
    if (following == job.batch.events.size()) {
      spill(std::move(job));
      return false;
    }
    Batch followers;
    followers.destination = job.batch.destination;
    followers.opened = job.batch.opened;
    std::vector<BatchEvent> live;
    live.reserve(job.batch.events.size() - following);
    for (std::size_t i = 0; i < job.batch.events.size(); ++i) {
      (to_spool[i] != 0 ? followers.events : live).push_back(std::move(job.batch.events[i]));
    }
    job.batch.events = std::move(live);
    job.batch.body.clear();  // encoded again for what is left
    spill(Job{std::move(followers), 0});
    return true;
  }

  void spill_batch(Batch& batch) {
    try {
      if (batch.body.empty()) encode(batch, encoding(), options_.zstd_level);
    } catch (const std::exception& e) {
      errors_.report("sender", "encode", std::string("cannot encode a batch for the spool: ") + e.what());
      accounting_.dropped(batch, DropReason::invalid);
      return;
    }
    std::string key;
    try {
      key = destinations_.get(batch.destination).key();
    } catch (const std::exception&) {
    }
    // The rows' ids, so that their later rows follow them (see divert_followers()).
    std::vector<RowKey> keys;
    keys.reserve(batch.events.size());
    for (const BatchEvent& event : batch.events) {
      if (const auto id = find_row_id(event.json)) keys.push_back(row_key(*id));
    }
    const AppendResult appended =
        spool_->append(SpoolEntry{.destination_key = key,
                                  .encoding = batch.encoding,
                                  .source_rows = static_cast<std::uint32_t>(batch.source_rows()),
                                  .raw_bytes = static_cast<std::uint32_t>(batch.raw_body_bytes),
                                  .payload = batch.body,
                                  .rows = RecordRows{.destination = batch.destination, .keys = keys}});
    if (appended.ok()) {
      accounting_.spooled(batch);
      return;
    }
    errors_.report("sender", "spool-" + std::string(to_string(appended.status)),
                   "could not write a batch of " + std::to_string(batch.source_rows()) + " rows to the spool in " +
                       spool_->directory().string() + " (" + std::string(to_string(appended.status)) +
                       (appended.error ? ": " + appended.error.message : std::string()) + "); rows dropped");
    accounting_.dropped(batch, DropReason::spool_full);
  }

  // --- replaying spool records ------------------------------------------------------

  // A record split because the host refused it as too large (413) or because it is over
  // the payload limit the host announced: its parts go one after the other, in order,
  // so rows of one id inside it stay in order too. The record is acknowledged (and its
  // window slot freed) once the last part is settled.
  struct ReplayParts {
    std::deque<SpoolRecord> waiting;  // not sent yet, in order
    bool rejected = false;            // some part was refused for good
    // Requests left for isolating refused rows (isolation_budget()); set at the first 400/422.
    std::optional<std::uint64_t> isolation_left;
  };
  // A record, or one part of it (same RecordId), waiting to be sent or on the wire.
  struct ReplayItem {
    SpoolRecord record;
    std::shared_ptr<ReplayParts> parts;  // null for a whole record
  };

  struct ReplayAttempt {
    ReplayItem item;
    std::shared_ptr<HttpConnection> connection;
    std::string target;
    Clock::time_point started;
  };

  // How many replayed records may be on the wire: half the limit while the live queue
  // is empty, one while live batches wait (none when the limit is one).
  std::size_t replay_share() const {
    const std::size_t limit = limit_.current();
    if (ready_.empty()) return std::max<std::size_t>(1, limit / 2);
    return limit >= 2 ? 1 : 0;
  }

  void pump_replay() {
    // Records may have been written under a larger payload limit than the host's: learn
    // it first (GET /version answers or fails quickly), so they go in parts, not into a 413.
    if (!version_answered_ && options_.max_payload_bytes == 0) return;
    while (!replay_ready_.empty() && requests_on_wire() < limit_.current() &&
           replay_active_.size() < replay_share()) {
      const auto now = Clock::now();
      if (now < pause_until_) {
        arm_pause_timer();
        return;
      }
      if (now < replay_hold_until_) {
        arm_replay_timer();
        return;
      }
      // Oldest first, except that a record waits while an older one that shares row ids
      // with it is unacknowledged (spool/replay_order.hpp); the ones behind it may go.
      const ReplayOrder& order = spool_->order();
      const auto next = std::find_if(replay_ready_.begin(), replay_ready_.end(),
                                     [&](const ReplayItem& item) { return !order.blocked(item.record.id); });
      if (next == replay_ready_.end()) {
        // Usually an answer unblocks them (and pumps); the barrier of an earlier run's
        // backlog can also lift while replay reads, so look again shortly.
        arm_replay_blocked_timer();
        return;
      }
      ReplayItem item = std::move(*next);
      replay_ready_.erase(next);
      start_replay(std::move(item));
    }
  }

  void arm_replay_timer() {
    if (replay_armed_) return;
    replay_armed_ = true;
    replay_timer_.expires_at(replay_hold_until_);
    replay_timer_.async_wait([self = shared_from_this()](error_code ec) {
      self->replay_armed_ = false;
      if (!ec) self->pump();
    });
  }

  void arm_replay_blocked_timer() {
    if (replay_blocked_armed_) return;
    replay_blocked_armed_ = true;
    replay_blocked_timer_.expires_after(kReplayBlockedPoll);
    replay_blocked_timer_.async_wait([self = shared_from_this()](error_code ec) {
      self->replay_blocked_armed_ = false;
      if (!ec) self->pump();
    });
  }

  // The destination a record's key names, registered in the table; nullopt when the
  // key names nothing.
  std::optional<std::uint32_t> replay_destination(const std::string& key) {
    if (auto known = replay_destinations_.find(key); known != replay_destinations_.end()) return known->second;
    auto destination = Destination::from_key(key);
    if (!destination) return std::nullopt;
    try {
      const std::uint32_t index = destinations_.add(*destination).index;
      replay_destinations_.emplace(key, index);
      return index;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  // The item is settled: delivered, or (`rejected`) refused for good. A part hands over
  // to the next one; the last one (or a whole record) acknowledges the record.
  void finish_replay(ReplayItem& item, bool rejected) {
    if (rejected) accounting_.replay_rejected(item.record.source_rows);
    if (item.parts) {
      item.parts->rejected = item.parts->rejected || rejected;
      if (!item.parts->waiting.empty()) {
        SpoolRecord next = std::move(item.parts->waiting.front());
        item.parts->waiting.pop_front();
        replay_ready_.push_front(ReplayItem{std::move(next), std::move(item.parts)});  // keeps the slot
        return;
      }
      rejected = item.parts->rejected;
    }
    if (rejected) {
      spool_->ack_rejected(item.record.id);
    } else {
      spool_->ack(item.record.id);
    }
    replay_window_->release();
  }

  // Splits a record's body: in halves by event count (`max_raw_bytes` 0), or into parts
  // of at most `max_raw_bytes` uncompressed (an event larger than that alone in its
  // part). Each part is encoded as the record was and stands for its share of the
  // record's rows. nullopt when the body cannot be decoded or has too few events.
  std::optional<std::deque<SpoolRecord>> split_record(const SpoolRecord& record, std::size_t max_raw_bytes) {
    try {
      const std::string raw = record.encoding == Compression::none
                                  ? record.payload
                                  : decompress(record.encoding, record.payload, std::size_t{record.raw_bytes} + 1);
      std::vector<std::string_view> events;
      if (!split_events(raw, events) || events.size() < 2) return std::nullopt;
      std::vector<std::size_t> ends;  // exclusive end of each part, by event index
      if (max_raw_bytes == 0) {
        ends = {events.size() / 2, events.size()};
      } else {
        std::size_t size = kEnvelopeBytes;
        std::size_t in_part = 0;
        for (std::size_t i = 0; i < events.size(); ++i) {
          if (in_part != 0 && size + 1 + events[i].size() > max_raw_bytes) {
            ends.push_back(i);
            size = kEnvelopeBytes;
            in_part = 0;
          }
          size += events[i].size() + (in_part != 0 ? 1 : 0);
          ++in_part;
        }
        ends.push_back(events.size());
      }
      std::deque<SpoolRecord> parts;
      const std::uint64_t rows = record.source_rows;
      const std::uint64_t count = events.size();
      std::size_t begin = 0;
      for (const std::size_t end : ends) {
        SpoolRecord part;
        part.id = record.id;
        part.size = record.size;
        part.destination_key = record.destination_key;
        part.written_unix_ms = record.written_unix_ms;
        // Rows as logged are not known per event: shared out in proportion, exactly.
        part.source_rows = static_cast<std::uint32_t>(rows * end / count - rows * begin / count);
        std::string body = "{\"events\":[";
        for (std::size_t i = begin; i < end; ++i) {
          if (i != begin) body += ',';
          body += events[i];
        }
        body += "]}";
        part.raw_bytes = static_cast<std::uint32_t>(body.size());
        part.encoding = record.encoding;
        part.payload = record.encoding == Compression::none ? std::move(body)
                                                            : compress(record.encoding, body, options_.zstd_level);
        parts.push_back(std::move(part));
        begin = end;
      }
      return parts;
    } catch (const std::exception& e) {
      errors_.report("sender", "spool-record", std::string("cannot split a spool record: ") + e.what());
      return std::nullopt;
    }
  }

  // The first event's id as first_refused_id() puts it, decoding the record's body.
  std::string record_first_id(const SpoolRecord& record) {
    try {
      const std::string raw =
          record.encoding == Compression::none
              ? record.payload
              : decompress(record.encoding, record.payload, std::size_t{record.raw_bytes} + 1);
      std::vector<std::string_view> events;
      if (!split_events(raw, events) || events.empty()) return {};
      return first_refused_id(events.front());
    } catch (const std::exception&) {
      return {};  // the rejection itself is what gets reported
    }
  }

  // Sends `parts` in place of `item` (itself a whole record or a part), first part next.
  void replay_in_parts(ReplayItem item, std::deque<SpoolRecord> parts) {
    std::shared_ptr<ReplayParts> state = std::move(item.parts);
    if (!state) state = std::make_shared<ReplayParts>();
    for (auto it = parts.rbegin(); it + 1 != parts.rend(); ++it) state->waiting.push_front(std::move(*it));
    replay_ready_.push_front(ReplayItem{std::move(parts.front()), std::move(state)});
  }

  void start_replay(ReplayItem item) {
    SpoolRecord& record = item.record;
    const auto destination = replay_destination(record.destination_key);
    if (!destination) {
      errors_.report("sender", "spool-destination",
                     "a spool record names an unknown destination \"" + snippet(record.destination_key, {}) +
                         "\"; " + std::to_string(record.source_rows) + " rows rejected");
      return finish_replay(item, true);
    }
    const auto path = destinations_.insert_path(*destination);
    if (!path) {
      // A project known by name: resolve it first, then try this record again.
      Resolution& resolution = resolutions_[*destination];
      if (!resolution.running) {
        resolution.running = true;
        resolve(*destination);
      }
      replay_ready_.push_front(std::move(item));
      replay_hold_until_ = Clock::now() + kReplayResolveWait;
      arm_replay_timer();
      return;
    }
    // Written when the host took larger bodies than it says it takes now: send it in parts.
    if (record.raw_bytes > payload_limit()) {
      if (auto parts = split_record(record, payload_limit()); parts && parts->size() > 1) {
        return replay_in_parts(std::move(item), std::move(*parts));
      }
    }
    // After a 415 fallback the host no longer takes what the record was written with.
    const Compression wanted = encoding();
    if (wanted != options_.compression && record.encoding != wanted && !transcode(record, wanted)) {
      return finish_replay(item, true);
    }
    auto attempt = std::make_shared<ReplayAttempt>();
    attempt->connection = acquire_connection();
    attempt->target = url_.target(*path);
    attempt->started = Clock::now();
    HttpRequest request =
        make_request(HttpRequest::Method::post, attempt->target, std::move(record.payload), record.encoding);
    attempt->item = std::move(item);
    const std::uint64_t id = next_id_++;
    replay_active_.emplace(id, attempt);
    publish_gauges();
    attempt->connection->async_request(std::move(request), [self = shared_from_this(), id](HttpResult result) {
      self->on_replay_answer(id, std::move(result));
    });
  }

  bool transcode(SpoolRecord& record, Compression to) {
    try {
      std::string raw = decompress(record.encoding, record.payload, std::size_t{record.raw_bytes} + 1);
      record.payload = to == Compression::none ? std::move(raw) : compress(to, raw, options_.zstd_level);
      record.encoding = to;
      return true;
    } catch (const std::exception& e) {
      errors_.report("sender", "spool-record",
                     std::string("cannot re-encode a spool record: ") + e.what() + "; " +
                         std::to_string(record.source_rows) + " rows rejected");
      return false;
    }
  }

  void on_replay_answer(std::uint64_t id, HttpResult result) {
    auto node = replay_active_.extract(id);
    if (node.empty()) return;  // the sender stopped; the record stays in the spool
    std::shared_ptr<ReplayAttempt> attempt = std::move(node.mapped());
    publish_gauges();
    ReplayItem item = std::move(attempt->item);
    SpoolRecord& record = item.record;
    record.payload = std::move(result.request.body);
    release_connection(std::move(attempt->connection));

    const int status = result.ec ? 0 : result.status;
    counters_.count_request(status);
    counters_.request_latency.observe(std::chrono::duration<double>(Clock::now() - attempt->started).count());
    // How many events the body holds is not known without decoding it: a 413 asks for a
    // split, which finds out (one event: refused, as for a live batch).
    RetryDecision decision = result.ec ? RetryDecision::retry_backoff : decide(status, 2, result.body);
    if (decision == RetryDecision::fallback_encoding && record.encoding == Compression::none) {
      decision = RetryDecision::reject;
    }
    bool isolation_spent = false;
    if (decision == RetryDecision::isolate && item.parts && item.parts->isolation_left &&
        *item.parts->isolation_left < 2) {
      decision = RetryDecision::reject;
      isolation_spent = true;
    }
    switch (decision) {
      case RetryDecision::success:
        limit_.on_success();
        upstream_answered();
        replay_failures_ = 0;
        accounting_.replay_delivered(record.source_rows, record.raw_bytes, record.payload.size());
        finish_replay(item, false);
        break;

      case RetryDecision::retry_after_pause:
      case RetryDecision::retry_backoff: {
        limit_.on_congestion();
        upstream_failed();
        counters_.retries.fetch_add(1, std::memory_order_relaxed);
        const auto delay = backoff(replay_failures_++);
        if (decision == RetryDecision::retry_after_pause) {
          const auto pause = parse_retry_after(result.retry_after, std::chrono::system_clock::now()).value_or(delay);
          pause_until_ = std::max(pause_until_, Clock::now() + pause);
        } else {
          report_retryable(attempt->target, status, result);
          replay_hold_until_ = std::max(replay_hold_until_, Clock::now() + delay);
        }
        replay_ready_.push_front(std::move(item));  // keeps its window slot: tried again first
        break;
      }

      case RetryDecision::fallback_encoding: {
        Compression refused = record.encoding;
        const Compression next = fallback_after(refused);
        if (encoding_.compare_exchange_strong(refused, next)) {
          errors_.report("sender", "encoding-fallback",
                         "the API refused Content-Encoding " + std::string(to_string(record.encoding)) +
                             " (HTTP " + std::to_string(status) + "); using " + std::string(to_string(next)) +
                             " for this host from now on",
                         status);
        }
        counters_.retries.fetch_add(1, std::memory_order_relaxed);
        if (transcode(record, encoding())) {
          replay_ready_.push_front(std::move(item));
        } else {
          finish_replay(item, true);
        }
        break;
      }

      case RetryDecision::split:
      case RetryDecision::isolate:
        // Too large for the host (its limit may be lower than when the record was
        // written), or some of its rows refused: halves, each sent and split again as
        // needed, like a live batch. One event cannot be split: refused.
        if (auto halves = split_record(record, 0)) {
          if (decision == RetryDecision::split) {
            counters_.retries.fetch_add(1, std::memory_order_relaxed);
          } else {
            counters_.isolation_requests.fetch_add(2, std::memory_order_relaxed);
            if (!item.parts) item.parts = std::make_shared<ReplayParts>();
            // Rows as logged stand in for events: a record does not say how many it holds.
            if (!item.parts->isolation_left) item.parts->isolation_left = isolation_budget(record.source_rows);
            *item.parts->isolation_left -= 2;
          }
          replay_in_parts(std::move(item), std::move(*halves));
          break;
        }
        [[fallthrough]];
      case RetryDecision::reject:
        errors_.report("sender", "http-" + std::to_string(status),
                       "POST " + attempt->target + " answered HTTP " + std::to_string(status) +
                           " to a spool record; " + std::to_string(record.source_rows) + " rows rejected" +
                           record_first_id(record) +
                           (isolation_spent ? " (too many refused rows in one record to isolate them all)" : "") +
                           ": " + snippet(result.body, options_.api_key),
                       status);
        finish_replay(item, true);
        break;
    }
    publish_gauges();
    pump();
  }

  // --- state -----------------------------------------------------------------------

  void publish_gauges() noexcept {
    in_flight_.store(requests_on_wire(), std::memory_order_relaxed);
    counters_.in_flight.store(requests_on_wire(), std::memory_order_relaxed);
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
  LiveOrder live_order_;  // before every container of jobs: their holds point into it
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
  // spool (all unused when spool_ is null)
  Spool* const spool_;
  const std::shared_ptr<ReplayWindow> replay_window_;
  std::optional<Clock::time_point> failing_since_;  // first retriable failure since the last 2xx
  net::steady_timer outage_timer_;
  std::deque<ReplayItem> replay_ready_;  // handed out by the spool, waiting for a slot
  std::unordered_map<std::uint64_t, std::shared_ptr<ReplayAttempt>> replay_active_;
  std::unordered_map<std::string, std::uint32_t> replay_destinations_;  // record key -> table index
  Clock::time_point replay_hold_until_{};  // replay backs off after a failure
  net::steady_timer replay_timer_;
  bool replay_armed_ = false;
  net::steady_timer replay_blocked_timer_;  // every waiting record waits for an older one
  bool replay_blocked_armed_ = false;
  bool version_answered_ = false;  // GET /version answered or failed
  std::uint32_t replay_failures_ = 0;  // in a row
  std::atomic<bool> room_requested_{false};
  std::mt19937_64 rng_;

  // read from any thread
  std::atomic<Compression> encoding_;
  SettledEvents* const settled_;  // may be null
  std::atomic<std::size_t> learned_limit_{kDefaultPayloadLimit};
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> slot_free_{true};
  std::atomic<Clock::rep> paused_until_ticks_{0};
};

// --- Sender ------------------------------------------------------------------------

namespace {
// Records replay keeps in memory at once: enough to fill its share of the in-flight
// limit, plus one being retried.
std::size_t replay_window_slots(const Options& options) {
  return std::max<std::size_t>(2, options.max_in_flight / 2 + 1);
}
}  // namespace

Sender::Sender(const Options& options, DestinationTable& destinations, Accounting& accounting,
               ErrorReporter& errors, Spool* spool, SettledEvents* settled)
    : accounting_(accounting),
      io_(std::make_unique<net::io_context>(1)),
      spool_(spool),
      replay_window_(std::make_shared<ReplayWindow>(replay_window_slots(options))) {
  core_ = std::make_shared<SenderCore>(options, *io_, destinations, accounting, errors, spool, replay_window_,
                                       settled);
}

Sender::~Sender() {
  shutdown(Clock::now());
  replay_window_->stop();
  if (replay_thread_.joinable()) replay_thread_.join();
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
    name_this_thread("sl-sender");
    // Handlers do not throw; this only keeps a bug from taking the process down.
    for (;;) {
      try {
        io->run();
        return;
      } catch (...) {
      }
    }
  });
  if (spool_ != nullptr)
    replay_thread_ = std::thread([this] {
      name_this_thread("sl-replay");
      run_replay();
    });
}

// The replay thread: streams records oldest first (never more than the window holds)
// to the io thread. Stops when shutdown() closes the window; records handed out and
// not acknowledged by then stay in the spool for the next run.
void Sender::run_replay() noexcept {
  try {
    while (replay_window_->acquire()) {
      std::optional<SpoolRecord> record = spool_->next_record();
      if (!record) {
        replay_window_->release();
        (void)spool_->wait_for_records(Clock::now() + kReplayPoll);
        continue;
      }
      net::post(*io_, [core = core_, record = std::move(*record)]() mutable {
        core->enqueue_replay(std::move(record));
      });
    }
  } catch (...) {
    // Only allocation failures get here; replay resumes with the next run.
  }
}

void Sender::make_room() noexcept {
  try {
    if (core_->request_room()) net::post(*io_, [core = core_] { core->spill_for_room(); });
  } catch (...) {
  }
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

bool Sender::ready_for_batch() const noexcept { return core_->ready_for_batch(); }

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
          name_this_thread("sl-sender");
          try {
            io->run();
          } catch (...) {
          }
        });
      }
    }
    replay_window_->stop();
    if (replay_thread_.joinable()) replay_thread_.join();
    // With a spool, stop delivering a little before the deadline so that writing what
    // is left to disk (and its fsync) fits inside it.
    auto give_up_at = deadline;
    if (spool_ != nullptr) {
      const auto left = deadline - Clock::now();
      if (left > Clock::duration::zero()) {
        give_up_at = deadline - std::min<Clock::duration>(left / 4, std::chrono::milliseconds(500));
      }
    }
    auto idle = std::make_shared<std::promise<void>>();
    auto settled = idle->get_future();
    net::post(*io_, [core = core_, idle] { core->begin_drain(idle); });
    settled.wait_until(give_up_at);
    net::post(*io_, [core = core_, deadline] { core->force_stop(deadline); });
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  } catch (...) {
    // Nothing may escape a shutdown; the thread is joined by the destructor at worst.
  }
}

}  // namespace spanline::detail
