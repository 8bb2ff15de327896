#pragma once
// Delivery: the request lifecycle on the sender's io thread. It owns the connection
// pool, the adaptive in-flight limit, the host's 429 pause and the live batches (ready,
// on the wire, backing off), and settles every answer in ONE outcome handler, for live
// batches and replayed spool records alike (shipment.hpp says how each kind is then
// retried, re-encoded, split or settled):
//   2xx           delivered
//   429           pause every request to the host until Retry-After passes (or a backoff)
//   408, 5xx, transport errors and timeouts
//                 retry with exponential backoff and full jitter (a live batch at
//                 most max_retry_attempts times; a spool record, which is on disk,
//                 without limit)
//   413           split in half; one event: rejected
//   400/422 about rows
//                 split in half until the refused rows are alone, within a budget
//   415 (or a 400 naming the encoding)
//                 fall back zstd -> gzip -> none for the host, re-encode, resend
//   other 4xx     rejected at once, reported (rate-limited per status, never the key)
//
// Its peers (project_resolver.hpp, version_probe.hpp, spool_bridge.hpp,
// replay_feeder.hpp) reach it through Upstream. io thread only, except the getters
// marked "any thread".

#include "batch/batch.hpp"
#include "transport/anchored.hpp"
#include "transport/concurrency_limit.hpp"
#include "transport/connection_pool.hpp"
#include "transport/job.hpp"
#include "transport/live_order.hpp"
#include "transport/shipment.hpp"
#include "transport/upstream.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <unordered_map>

namespace spanline::detail {

class ProjectResolver;
class ReplayFeeder;
class SettledEvents;
class SpoolBridge;
class VersionProbe;
struct SenderContext;

class Delivery final : public Upstream, public Anchored<Delivery> {
 public:
  // The parts delivery hands work to; bridge and feeder are null without a spool,
  // settled may be null (sender.hpp).
  struct Peers {
    VersionProbe* probe = nullptr;
    ProjectResolver* resolver = nullptr;
    SpoolBridge* bridge = nullptr;
    ReplayFeeder* feeder = nullptr;
    SettledEvents* settled = nullptr;
  };

  // Throws std::invalid_argument when Options::ca_file cannot be loaded.
  explicit Delivery(const SenderContext& context);
  ~Delivery() override;
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;
  void connect(Peers peers) noexcept { peers_ = peers; }

  // --- any thread ---
  Compression encoding() const noexcept override;
  // See BatchSink::ready_for_batch(): published after every pump().
  bool ready_for_batch() const noexcept;
  // See BatchSink::rate_limited(): a 429 answered within the last pause window (the
  // pause it started, then as long again), or live batches waiting for a slot or for a
  // pause to end. Published after every pump() and every 429.
  bool rate_limited() const noexcept;
  std::size_t in_flight() const noexcept;

  // --- io thread ---
  // A new live batch: sent, parked for its project id, or (in an outage, while
  // something else probes the host) spilled.
  void enqueue(Batch batch);
  // Batches whose project id is now known.
  void requeue(std::deque<Job> jobs);
  // Spills waiting batches, oldest first (backing-off retries by age, then the ready
  // queue front to back), while `more()` says so, then starts whatever may go now
  // (pump). Only with a spool.
  void spill_waiting(const std::function<bool()>& more);
  // `idle` is set once no live batch is ready, on the wire, backing off or parked.
  void drain(std::shared_ptr<std::promise<void>> idle);
  void check_idle();
  // Stops: settles every live batch still held (ready, backing off, on the wire) with
  // `drop`; replayed records on the wire stay in the spool.
  void stop(const std::function<void(Batch&)>& drop) noexcept;
  // After stop() and the peers' stop(): closes every connection, ends the drain.
  void close() noexcept;

  // --- Upstream ---
  void request(HttpRequest::Method method, std::string_view path, std::string body, Done done) override;
  void dispatch(std::unique_ptr<Shipment> shipment, std::string target) override;
  void wake() override { pump(); }
  std::chrono::steady_clock::time_point paused_until() const noexcept override { return pause_.until; }
  void pause_host(std::chrono::milliseconds delay) override;
  std::chrono::milliseconds backoff(std::uint32_t attempt) override;

 private:
  class LiveShipment;
  struct InFlight {
    std::unique_ptr<Shipment> shipment;
    std::shared_ptr<HttpConnection> connection;
    std::string target;
    std::chrono::steady_clock::time_point started;
  };
  struct Waiting {
    Job job;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  struct Pause {
    std::chrono::steady_clock::time_point until{};  // no request starts before this (429)
    std::unique_ptr<boost::asio::steady_timer> timer;
    bool armed = false;
  };
  // Read from any thread.
  struct Published {
    std::atomic<Compression> encoding;
    std::atomic<std::size_t> in_flight{0};
    std::atomic<bool> slot_free{true};
    std::atomic<std::chrono::steady_clock::rep> paused_until_ticks{0};
    // Until when a 429 counts as recent; meaningful only once rate_limited_ever is set.
    std::atomic<std::chrono::steady_clock::rep> rate_limited_until_ticks{0};
    std::atomic<bool> rate_limited_ever{false};
    std::atomic<bool> batches_waiting{false};
  };

  void pump();
  void pump_replay();
  bool prepare(Job& job, std::string& target);
  // After encoding: a body over the payload limit is halved, or sent unencoded (one event).
  bool fit_encoded(Job& job);
  // Encodes the batch and charges its body to the memory budget; a batch that cannot be
  // encoded is reported and dropped (false).
  bool encode_for_request(Batch& batch, Compression compression);
  // Puts the two halves of `job`'s batch at the front of the line, first half first, each
  // to be encoded again; `isolation_left` is what the halves may still spend isolating rows.
  void requeue_halves(Job&& job, std::shared_ptr<std::uint64_t> isolation_left);
  void on_answer(std::uint64_t id, HttpResult result);
  void switch_encoding(Compression refused, int status);
  void report_retryable(const std::string& target, int status, const HttpResult& result);
  void report_rejection(const Shipment& shipment, const std::string& target, int status,
                        const HttpResult& result, bool isolation_spent);
  void retry_live(Job job, const RetryNote& note);
  bool take_retry(Job& job, const std::string& target, int status, const HttpResult& result);
  void wait_then_retry(Job job, std::chrono::milliseconds delay);
  void spill(Job job);
  bool in_outage() const noexcept;
  void extend_pause(std::chrono::milliseconds delay);
  void note_rate_limit(std::chrono::milliseconds pause);
  void arm_pause_timer();
  void release(std::shared_ptr<HttpConnection> connection);
  std::size_t requests_on_wire() const noexcept { return active_.size(); }
  std::size_t replay_share() const noexcept;
  void publish_gauges() noexcept;
  void publish_readiness() noexcept;

  const SenderContext& context_;
  Peers peers_;
  ConnectionPool pool_;
  ConcurrencyLimit limit_;
  LiveOrder live_order_;   // before every container of jobs: their holds point into it
  std::deque<Job> ready_;  // FIFO waiting for a slot; retries go to the front
  std::unordered_map<std::uint64_t, InFlight> active_;  // live batches and replayed records
  std::size_t replay_on_wire_ = 0;                      // of active_
  std::unordered_map<std::uint64_t, Waiting> waiting_;  // live batches backing off
  Pause pause_;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
  std::mt19937_64 rng_;
  std::shared_ptr<std::promise<void>> idle_promise_;
  Published published_;
};

}  // namespace spanline::detail
