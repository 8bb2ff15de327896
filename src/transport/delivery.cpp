#include "transport/delivery.hpp"

#include "batch/settled_events.hpp"
#include "codec/codec.hpp"
#include "accounting/accounting.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "metrics/counters.hpp"
#include "transport/answer_text.hpp"
#include "transport/project_resolver.hpp"
#include "transport/replay_feeder.hpp"
#include "transport/retry_policy.hpp"
#include "transport/sender_context.hpp"
#include "transport/shipment.hpp"
#include "transport/spool_bridge.hpp"
#include "transport/version_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <vector>

namespace spanline::detail {

using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// --- a live batch on the wire -----------------------------------------------------------

class Delivery::LiveShipment final : public Shipment {
 public:
  LiveShipment(Delivery& delivery, Job job) : delivery_(delivery), job_(std::move(job)) {}

  bool replayed() const noexcept override { return false; }
  std::string take_body() override { return std::move(job_.batch.body); }
  void give_back_body(std::string body) override { job_.batch.body = std::move(body); }
  Compression encoding() const noexcept override { return job_.batch.encoding; }
  std::size_t events_for_decision() const noexcept override { return job_.batch.events.size(); }

  bool spend_isolation() override {
    if (!job_.isolation_left) {
      job_.isolation_left = std::make_shared<std::uint64_t>(isolation_budget(job_.batch.events.size()));
    }
    if (*job_.isolation_left < kRequestsPerIsolationStep) return false;
    *job_.isolation_left -= kRequestsPerIsolationStep;
    return true;
  }
  std::uint32_t backoff_attempt() override { return job_.retries; }

  void delivered() override {
    delivery_.context_.accounting.delivered(job_.batch, job_.batch.raw_body_bytes, job_.batch.body.size());
  }
  void retry(const RetryNote& note) override { delivery_.retry_live(std::move(job_), note); }
  void reencode() override {
    job_.batch.body.clear();  // prepare() encodes it again, in the host's new encoding
    delivery_.ready_.push_front(std::move(job_));
  }
  // Each half goes on its own, in order, and is halved again if it is refused again.
  bool split() override {
    auto isolation_left = job_.isolation_left;
    delivery_.requeue_halves(std::move(job_), std::move(isolation_left));
    return true;
  }
  void rejected() override { delivery_.context_.accounting.rejected(job_.batch); }
  void abandoned(const std::function<void(Batch&)>& drop) override {
    job_.batch.body.clear();  // it went into the request: encode again if spilled
    drop(job_.batch);
  }
  // A settled batch leaves the line now, so that the batches waiting for it can start
  // (one sent on was moved away and keeps its place).
  void finished() noexcept override {
    job_.order.reset();
    if (delivery_.peers_.settled != nullptr) delivery_.peers_.settled->hand_over(job_.batch.events);
  }

  std::string_view what() const noexcept override { return ""; }
  std::string_view unit() const noexcept override { return "batch"; }
  std::uint64_t rows() const noexcept override { return job_.batch.source_rows(); }
  std::string first_row_id() const override {
    return job_.batch.events.empty() ? std::string() : first_refused_id(job_.batch.events.front().json);
  }

 private:
  Delivery& delivery_;
  Job job_;
};

// --- Delivery ---------------------------------------------------------------------------

Delivery::Delivery(const SenderContext& context)
    : context_(context),
      pool_(context),
      limit_(context.options.initial_in_flight, context.options.max_in_flight),
      rng_(std::random_device{}()) {
  pause_.timer = std::make_unique<boost::asio::steady_timer>(context.io);
  published_.encoding.store(context.options.compression, std::memory_order_relaxed);
  publish_gauges();
}

Delivery::~Delivery() = default;

Compression Delivery::encoding() const noexcept {
  return published_.encoding.load(std::memory_order_relaxed);
}

bool Delivery::ready_for_batch() const noexcept {
  return published_.slot_free.load(std::memory_order_relaxed) &&
         Clock::now().time_since_epoch().count() >=
             published_.paused_until_ticks.load(std::memory_order_relaxed);
}

bool Delivery::rate_limited() const noexcept {
  if (published_.batches_waiting.load(std::memory_order_relaxed)) return true;
  return published_.rate_limited_ever.load(std::memory_order_acquire) &&
         Clock::now().time_since_epoch().count() <
             published_.rate_limited_until_ticks.load(std::memory_order_relaxed);
}

std::size_t Delivery::in_flight() const noexcept {
  return published_.in_flight.load(std::memory_order_relaxed);
}

void Delivery::enqueue(Batch batch) {
  if (stopped_) {
    context_.accounting.dropped(batch, DropReason::shutdown);
    return;
  }
  Job job{std::move(batch), 0, nullptr, nullptr};
  job.order = live_order_.hold(job.batch);
  // During an outage new batches go straight to disk, except one kept as a probe when
  // nothing else is on the wire, or waiting to go (a replayed record), to find out that
  // the upstream is back.
  const bool replay_waiting = peers_.feeder != nullptr && peers_.feeder->has_waiting();
  if (in_outage() && (!active_.empty() || replay_waiting)) {
    spill(std::move(job));
    // A waiting record probes in this batch's place only if it starts: pump rather than
    // trust that the last pump left nothing startable behind.
    pump();
    return;
  }
  if (!context_.destinations.insert_path(job.batch.destination)) return peers_.resolver->park(std::move(job));
  ready_.push_back(std::move(job));
  pump();
}

void Delivery::requeue(std::deque<Job> jobs) {
  for (auto& job : jobs) ready_.push_back(std::move(job));
  pump();
}

void Delivery::spill_waiting(const std::function<bool()>& more) {
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
  // What was spilled held things back that no answer or timer will wake: replayed
  // records get no share while live batches wait, and a batch waits for an earlier one
  // that shares its rows. Without this pump both wait for an event that may never come
  // (in an outage new batches are spilled too, and nothing is on the wire).
  pump();
}

void Delivery::drain(std::shared_ptr<std::promise<void>> idle) {
  idle_promise_ = std::move(idle);
  check_idle();
}

void Delivery::check_idle() {
  if (!idle_promise_) return;
  // Replayed records do not hold the drain up: unacknowledged, they stay in the spool.
  if (!ready_.empty() || active_.size() != replay_on_wire_ || !waiting_.empty()) return;
  if (peers_.resolver->has_parked()) return;
  idle_promise_->set_value();
  idle_promise_.reset();
}

void Delivery::stop(const std::function<void(Batch&)>& drop) noexcept {
  stopped_ = true;
  for (auto& job : ready_) drop(job.batch);
  ready_.clear();
  for (auto& [id, waiting] : waiting_) {
    waiting.timer->cancel();
    drop(waiting.job.batch);
  }
  waiting_.clear();
  auto active = std::move(active_);
  active_.clear();
  replay_on_wire_ = 0;
  publish_gauges();  // off the wire before they count as settled
  for (auto& [id, flight] : active) {
    flight.connection->close();
    flight.shipment->abandoned(drop);
  }
}

void Delivery::close() noexcept {
  pool_.close_all();
  pause_.timer->cancel();
  publish_gauges();
  if (idle_promise_) {
    idle_promise_->set_value();
    idle_promise_.reset();
  }
}

// --- requests ---------------------------------------------------------------------------

void Delivery::request(HttpRequest::Method method, std::string_view path, std::string body, Done done) {
  const std::uint64_t id = next_id_++;
  auto connection = pool_.lend(id);
  connection->async_request(
      pool_.make_request(method, context_.url.target(path), std::move(body), Compression::none),
      [self = self(), id, done = std::move(done)](HttpResult result) {
        auto lent = self->pool_.reclaim(id);
        if (self->stopped_ || !lent) return;
        self->release(std::move(lent));
        done(std::move(result));
      });
}

void Delivery::dispatch(std::unique_ptr<Shipment> shipment, std::string target) {
  InFlight flight{std::move(shipment), pool_.acquire(), std::move(target), Clock::now()};
  HttpRequest request = pool_.make_request(HttpRequest::Method::post, flight.target,
                                           flight.shipment->take_body(), flight.shipment->encoding());
  if (flight.shipment->replayed()) ++replay_on_wire_;
  auto connection = flight.connection;
  const std::uint64_t id = next_id_++;
  active_.emplace(id, std::move(flight));
  publish_gauges();
  connection->async_request(
      std::move(request), [self = self(), id](HttpResult result) { self->on_answer(id, std::move(result)); });
}

// Starts as many ready batches as the limit allows, unless the host is paused; then
// replayed spool records, within their share.
void Delivery::pump() {
  if (stopped_) return;
  while (!ready_.empty() && requests_on_wire() < limit_.current()) {
    if (Clock::now() < pause_.until) {
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
    if (prepare(job, target))
      dispatch(std::make_unique<LiveShipment>(*this, std::move(job)), std::move(target));
  }
  pump_replay();
  check_idle();
  publish_readiness();
}

// Replayed records share the limit: they start only within a share of it, and only
// while the live queue is short.
void Delivery::pump_replay() {
  ReplayFeeder* feeder = peers_.feeder;
  if (feeder == nullptr || !feeder->sendable()) return;
  while (feeder->has_waiting() && requests_on_wire() < limit_.current() && replay_on_wire_ < replay_share()) {
    if (Clock::now() < pause_.until) {
      arm_pause_timer();
      return;
    }
    if (!feeder->start_next()) return;
  }
}

// How many replayed records may be on the wire: half the limit while the live queue
// is empty, one while live batches wait (none when the limit is one).
std::size_t Delivery::replay_share() const noexcept {
  const std::size_t limit = limit_.current();
  if (ready_.empty()) return std::max<std::size_t>(1, limit / 2);
  return limit >= 2 ? 1 : 0;
}

// Makes a job sendable: known destination, within the payload limit, encoded with the
// host's current encoding. False when the job went elsewhere (parked, split, settled).
bool Delivery::prepare(Job& job, std::string& target) {
  auto path = context_.destinations.insert_path(job.batch.destination);
  if (!path) {
    peers_.resolver->park(std::move(job));
    return false;
  }
  if (job.batch.events.empty()) return false;  // nothing to send, nothing to account
  if (peers_.bridge != nullptr && !peers_.bridge->divert_followers(job)) return false;

  const std::size_t limit = peers_.probe->payload_limit();
  if (job.batch.body_size() > limit) {
    auto parts = split_to_limit(std::move(job.batch), limit);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (it->events.size() == 1 && it->body_size() > limit) {
        context_.errors.report("sender", "too-large",
                               "dropped an event of " + std::to_string(it->body_size()) +
                                   " bytes: over the payload limit of " + std::to_string(limit) + " bytes");
        context_.accounting.dropped_event(it->events.front(), DropReason::too_large);
        continue;
      }
      it->body.clear();  // forces a fresh encoding of just this part
      ready_.push_front(Job{std::move(*it), job.retries, job.order, nullptr});
    }
    return false;
  }

  const Compression wanted = encoding();
  if ((job.batch.body.empty() || job.batch.encoding != wanted) && !encode_for_request(job.batch, wanted))
    return false;
  if (job.batch.body.size() > limit && !fit_encoded(job)) return false;
  target = context_.url.target(*path);
  return true;
}

// The server checks the encoded body against the limit too. A batch grown to the limit
// (rate_limited()) whose rows do not compress can come out of the codec a few bytes
// larger than it went in: halve it (each half goes through prepare() again), or send a
// single event unencoded, which the decoded check above already bounds.
bool Delivery::fit_encoded(Job& job) {
  if (job.batch.events.size() >= 2) {
    requeue_halves(std::move(job), nullptr);
    return false;
  }
  return encode_for_request(job.batch, Compression::none);
}

bool Delivery::encode_for_request(Batch& batch, Compression compression) {
  try {
    encode(batch, compression, context_.options.zstd_level);
    charge_body(batch, context_.accounting.budget());
  } catch (const std::exception& e) {
    context_.errors.report("sender", "encode", std::string("cannot encode a batch: ") + e.what());
    context_.accounting.dropped(batch, DropReason::invalid);
    return false;
  }
  return true;
}

void Delivery::requeue_halves(Job&& job, std::shared_ptr<std::uint64_t> isolation_left) {
  auto halves = split_in_half(std::move(job.batch));
  halves.first.body.clear();
  halves.second.body.clear();
  ready_.push_front(Job{std::move(halves.second), job.retries, job.order, isolation_left});
  ready_.push_front(Job{std::move(halves.first), job.retries, job.order, std::move(isolation_left)});
}

// --- the outcome handler ----------------------------------------------------------------

void Delivery::on_answer(std::uint64_t id, HttpResult result) {
  auto node = active_.extract(id);
  if (node.empty()) return;  // settled by stop()
  InFlight flight = std::move(node.mapped());
  if (flight.shipment->replayed()) --replay_on_wire_;
  publish_gauges();  // before settling: whoever sees the rows settled sees them off the wire
  Shipment& shipment = *flight.shipment;
  shipment.give_back_body(std::move(result.request.body));
  release(std::move(flight.connection));

  const int status = result.ec ? 0 : result.status;
  context_.counters.count_request(status);
  context_.counters.request_latency.observe(
      std::chrono::duration<double>(Clock::now() - flight.started).count());

  RetryDecision decision =
      result.ec ? RetryDecision::retry_backoff : decide(status, shipment.events_for_decision(), result.body);
  if (decision == RetryDecision::fallback_encoding && shipment.encoding() == Compression::none) {
    decision = RetryDecision::reject;  // nothing left to fall back to
  }
  bool isolation_spent = false;
  if (decision == RetryDecision::isolate && !shipment.spend_isolation()) {
    decision = RetryDecision::reject;
    isolation_spent = true;
  }

  switch (decision) {
    case RetryDecision::success:
      limit_.on_success();
      if (peers_.bridge != nullptr) peers_.bridge->upstream_answered();
      shipment.delivered();
      break;

    case RetryDecision::retry_after_pause:
    case RetryDecision::retry_backoff: {
      limit_.on_congestion();
      if (peers_.bridge != nullptr) peers_.bridge->upstream_failed();
      const auto delay = backoff(shipment.backoff_attempt());
      const bool host_paused = decision == RetryDecision::retry_after_pause;
      if (host_paused) {
        extend_pause(parse_retry_after(result.retry_after, std::chrono::system_clock::now()).value_or(delay));
      } else {
        report_retryable(flight.target, status, result);
      }
      shipment.retry(RetryNote{host_paused, delay, status, result, flight.target});
      break;
    }

    case RetryDecision::fallback_encoding:
      switch_encoding(shipment.encoding(), status);
      context_.counters.retries.fetch_add(1, std::memory_order_relaxed);
      shipment.reencode();
      break;

    case RetryDecision::split:
    case RetryDecision::isolate:
      // 413: too large; 400/422: some rows refused. Either way each half goes on its own.
      if (shipment.split()) {
        if (decision == RetryDecision::split) {
          context_.counters.retries.fetch_add(1, std::memory_order_relaxed);
        } else {
          context_.counters.isolation_requests.fetch_add(kRequestsPerIsolationStep,
                                                         std::memory_order_relaxed);
        }
        break;
      }
      [[fallthrough]];  // a spool record of one event cannot be split
    case RetryDecision::reject:
      report_rejection(shipment, flight.target, status, result, isolation_spent);
      shipment.rejected();
      break;
  }
  shipment.finished();
  publish_gauges();
  pump();
}

void Delivery::switch_encoding(Compression refused, int status) {
  const Compression next = fallback_after(refused);
  Compression expected = refused;
  if (published_.encoding.compare_exchange_strong(expected, next)) {
    context_.errors.report("sender", "encoding-fallback",
                           "the API refused Content-Encoding " + std::string(to_string(refused)) + " (HTTP " +
                               std::to_string(status) + "); using " + std::string(to_string(next)) +
                               " for this host from now on",
                           status);
  }
}

void Delivery::report_retryable(const std::string& target, int status, const HttpResult& result) {
  if (result.ec) {
    context_.errors.report("sender", "transport-" + std::string(result.step),
                           std::string(result.step) + " to " + context_.url.host_header() +
                               " failed: " + result.ec.message() + " (will retry)");
  } else {
    context_.errors.report("sender", "http-" + std::to_string(status),
                           "POST " + target + " answered HTTP " + std::to_string(status) +
                               " (will retry): " + snippet(result.body, context_.options.api_key),
                           status);
  }
}

void Delivery::report_rejection(const Shipment& shipment, const std::string& target, int status,
                                const HttpResult& result, bool isolation_spent) {
  context_.errors.report(
      "sender", "http-" + std::to_string(status),
      "POST " + target + " answered HTTP " + std::to_string(status) + std::string(shipment.what()) + "; " +
          std::to_string(shipment.rows()) + " rows rejected" + shipment.first_row_id() +
          (isolation_spent
               ? " (too many refused rows in one " + std::string(shipment.unit()) + " to isolate them all)"
               : std::string()) +
          ": " + snippet(result.body, context_.options.api_key),
      status);
}

// --- live retries -----------------------------------------------------------------------

void Delivery::retry_live(Job job, const RetryNote& note) {
  if (!take_retry(job, note.target, note.status, note.result)) return;
  if (in_outage()) {
    spill(std::move(job));
  } else if (note.host_paused) {
    ready_.push_front(std::move(job));  // goes first once the pause is over
  } else {
    wait_then_retry(std::move(job), note.delay);
  }
}

// Counts one retry of `job`; false (and the batch dropped) when its budget is spent.
bool Delivery::take_retry(Job& job, const std::string& target, int status, const HttpResult& result) {
  const auto max_attempts = context_.options.max_retry_attempts;
  if (max_attempts != 0 && job.retries >= max_attempts) {
    context_.errors.report("sender", "retries-exhausted",
                           "gave up on POST " + target + " after " + std::to_string(job.retries + 1) +
                               " attempts (last: " + describe_failure(status, result) + "); " +
                               std::to_string(job.batch.source_rows()) + " rows dropped",
                           status);
    context_.accounting.dropped(job.batch, DropReason::retries_exhausted);
    return false;
  }
  ++job.retries;
  context_.counters.retries.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Delivery::wait_then_retry(Job job, std::chrono::milliseconds delay) {
  const std::uint64_t id = next_id_++;
  auto timer = std::make_unique<boost::asio::steady_timer>(context_.io);
  timer->expires_after(delay);
  timer->async_wait([self = self(), id](error_code ec) {
    if (ec) return;
    auto node = self->waiting_.extract(id);
    if (node.empty()) return;
    if (self->in_outage()) {
      self->spill(std::move(node.mapped().job));
      self->pump();  // a batch that waited for this one's rows may go now
      return;
    }
    self->ready_.push_front(std::move(node.mapped().job));
    self->pump();
  });
  waiting_.emplace(id, Waiting{std::move(job), std::move(timer)});
}

void Delivery::spill(Job job) { peers_.bridge->spill(std::move(job)); }

bool Delivery::in_outage() const noexcept { return peers_.bridge != nullptr && peers_.bridge->in_outage(); }

// --- the host ---------------------------------------------------------------------------

void Delivery::pause_host(std::chrono::milliseconds delay) {
  limit_.on_congestion();
  extend_pause(delay);
}

void Delivery::extend_pause(std::chrono::milliseconds delay) {
  pause_.until = std::max(pause_.until, Clock::now() + delay);
  note_rate_limit(delay);
}

// A 429 counts as recent for its pause and one more window as long after it: the
// requests that follow a pause tend to meet the same limit, and batches grown during
// the pause should not shrink the moment it ends.
void Delivery::note_rate_limit(std::chrono::milliseconds pause) {
  const auto until = (Clock::now() + 2 * pause).time_since_epoch().count();
  const auto known = published_.rate_limited_until_ticks.load(std::memory_order_relaxed);
  const bool ever = published_.rate_limited_ever.load(std::memory_order_relaxed);
  published_.rate_limited_until_ticks.store(ever ? std::max(known, until) : until, std::memory_order_relaxed);
  published_.rate_limited_ever.store(true, std::memory_order_release);
}

std::chrono::milliseconds Delivery::backoff(std::uint32_t attempt) {
  return backoff_delay(attempt, context_.options.retry_base_delay, context_.options.retry_max_delay, rng_);
}

void Delivery::arm_pause_timer() {
  if (pause_.armed) return;
  pause_.armed = true;
  pause_.timer->expires_at(pause_.until);
  pause_.timer->async_wait([self = self()](error_code ec) {
    self->pause_.armed = false;
    if (ec) return;
    self->pump();  // arms the timer again if the pause was extended meanwhile
  });
}

// The pool follows the limit: connections beyond it are closed rather than kept.
void Delivery::release(std::shared_ptr<HttpConnection> connection) {
  const std::size_t limit = limit_.current();
  const std::size_t on_wire = requests_on_wire();
  pool_.release(std::move(connection), stopped_ || on_wire >= limit ? 0 : limit - on_wire);
}

void Delivery::publish_gauges() noexcept {
  published_.in_flight.store(requests_on_wire(), std::memory_order_relaxed);
  context_.counters.in_flight.store(requests_on_wire(), std::memory_order_relaxed);
  context_.counters.concurrency_limit.store(limit_.current(), std::memory_order_relaxed);
}

// For the batcher (ready_for_batch): nothing waits for a slot and one is free; the pause.
void Delivery::publish_readiness() noexcept {
  // During an outage a batch goes straight to the spool: holding it back gains nothing.
  published_.slot_free.store(in_outage() || (ready_.empty() && requests_on_wire() < limit_.current()),
                             std::memory_order_relaxed);
  published_.paused_until_ticks.store(pause_.until.time_since_epoch().count(), std::memory_order_relaxed);
  published_.batches_waiting.store(!ready_.empty() && !in_outage(), std::memory_order_relaxed);
}

}  // namespace spanline::detail
