#include "transport/sender.hpp"

#include "accounting/accounting.hpp"
#include "errors/error_reporter.hpp"
#include "core/thread_name.hpp"
#include "metrics/counters.hpp"
#include "spool/spool.hpp"
#include "transport/delivery.hpp"
#include "transport/project_resolver.hpp"
#include "transport/replay_feeder.hpp"
#include "transport/sender_context.hpp"
#include "transport/spool_bridge.hpp"
#include "transport/url.hpp"
#include "transport/version_probe.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>

namespace spanline::detail {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
// How often the replay thread looks for new records when the spool has none.
constexpr std::chrono::milliseconds kReplayPoll{100};
// Small spool records replay holds at most, waiting to share requests: a few hundred
// durable-ingest group commits, a few batches' worth.
constexpr std::size_t kReplayMaxRecords = 256;
}  // namespace

// The composition root of the sender's io thread: it makes the parts, wires them to
// each other, and runs the lifecycle (start, drain, stop) across them. Everything here
// runs on the io thread except request_room().
class SenderCore : public std::enable_shared_from_this<SenderCore> {
 public:
  SenderCore(const Options& options, net::io_context& io, DestinationTable& destinations,
             Accounting& accounting, ErrorReporter& errors, Spool* spool,
             std::shared_ptr<ReplayWindow> replay_window, SettledEvents* settled)
      : options_(options),
        url_(parse_base_url(options.api_url)),
        context_{options_, url_, io, destinations, accounting, accounting.counters(), errors},
        work_(net::make_work_guard(io)),
        spool_(spool),
        replay_window_(std::move(replay_window)),
        delivery_(context_),
        probe_(context_, delivery_,
               [this] {
                 // Replay waited for the payload limit; the post lets this answer finish first.
                 if (feeder_ && feeder_->has_waiting())
                   net::post(context_.io, [self = shared_from_this()] { self->delivery_.wake(); });
               }),
        resolver_(
            context_, delivery_, [this](ProjectResolver::Jobs jobs) { delivery_.requeue(std::move(jobs)); },
            // Settled batches let go of their rows: a batch waiting for them may go.
            [this] { delivery_.wake(); }) {
    if (spool_ != nullptr) {
      bridge_.emplace(context_, *spool_, delivery_, probe_,
                      [this] { delivery_.spill_waiting([] { return true; }); });
      feeder_.emplace(context_, *spool_, replay_window_, delivery_, probe_, resolver_);
    }
    delivery_.connect(Delivery::Peers{.probe = &probe_,
                                      .resolver = &resolver_,
                                      .bridge = bridge_ ? &*bridge_ : nullptr,
                                      .feeder = feeder_ ? &*feeder_ : nullptr,
                                      .settled = settled});
  }
  SenderCore(const SenderCore&) = delete;
  SenderCore& operator=(const SenderCore&) = delete;

  // Right after make_shared: the parts' handlers keep this core alive.
  void anchor() {
    const std::weak_ptr<void> owner = weak_from_this();
    delivery_.anchor(owner);
    probe_.anchor(owner);
    resolver_.anchor(owner);
    if (bridge_) bridge_->anchor(owner);
    if (feeder_) feeder_->anchor(owner);
  }

  // --- any thread ---------------------------------------------------------------

  std::size_t payload_limit() const noexcept { return probe_.payload_limit(); }
  Compression encoding() const noexcept { return delivery_.encoding(); }
  bool ready_for_batch() const noexcept { return delivery_.ready_for_batch(); }
  bool rate_limited() const noexcept { return delivery_.rate_limited(); }
  bool payload_limit_known() const noexcept { return probe_.limit_known(); }
  std::size_t in_flight() const noexcept { return delivery_.in_flight(); }
  // True when this call should post spill_for_room() (none is pending yet).
  bool request_room() noexcept {
    if (spool_ == nullptr) return false;
    return !room_requested_.exchange(true, std::memory_order_acq_rel);
  }

  // --- io thread ----------------------------------------------------------------

  void start() {
    if (url_.tls && !options_.tls_verify) {
      context_.errors.report(
          "sender", "tls-verify-off",
          "TLS certificate verification is off (tls_verify=false): the API host is not authenticated");
    }
    probe_.start();
  }

  void enqueue(Batch batch) { delivery_.enqueue(std::move(batch)); }

  // A record from the replay thread; it holds one slot of the replay window until it
  // is acknowledged (or the sender stops).
  void enqueue_replay(SpoolRecord record) {
    if (stopped_) {
      replay_window_->release(record.size);
      return;
    }
    feeder_->enqueue(std::move(record));
    delivery_.wake();
  }

  // Spills the oldest waiting batches until the budget is about half free (spill policy).
  void spill_for_room() {
    room_requested_.store(false, std::memory_order_release);
    if (stopped_ || spool_ == nullptr) return;
    MemoryBudget& budget = context_.accounting.budget();
    const std::uint64_t target = budget.max_bytes() / 2;
    delivery_.spill_waiting([&] { return budget.bytes_in_use() > target; });
  }

  void begin_drain(std::shared_ptr<std::promise<void>> idle) { delivery_.drain(std::move(idle)); }

  // Settles everything that is left as dropped(shutdown), or with a spool writes it
  // there (and fsyncs it by `deadline`), and stops the io loop.
  void force_stop(Clock::time_point deadline) noexcept {
    if (stopped_) return;
    stopped_ = true;
    PipelineCounters& counters = context_.counters;
    std::uint64_t rows = 0;
    const std::uint64_t spooled_before = counters.rows_spilled.load(std::memory_order_relaxed);
    const std::function<void(Batch&)> drop = [&](Batch& batch) {
      if (bridge_) {
        bridge_->spill(Job{std::move(batch), 0, nullptr, nullptr});
        return;
      }
      rows += batch.source_rows();
      context_.accounting.dropped(batch, DropReason::shutdown);
    };
    delivery_.stop(drop);
    // Replayed records not acknowledged stay in the spool for the next run.
    if (feeder_) feeder_->stop();
    if (bridge_) bridge_->stop();
    resolver_.stop(drop);
    delivery_.close();
    if (rows != 0) {
      context_.errors.report(
          "sender", "shutdown",
          "shutdown deadline passed: " + std::to_string(rows) + " rows were not delivered");
    }
    if (spool_ != nullptr) {
      const std::uint64_t spooled = counters.rows_spilled.load(std::memory_order_relaxed) - spooled_before;
      if (spooled != 0) {
        const SpoolStatus synced =
            spool_->sync(std::max(deadline, Clock::now() + std::chrono::milliseconds(1)));
        context_.errors.report("sender", "shutdown-spooled",
                               "shutdown deadline passed: " + std::to_string(spooled) +
                                   " rows written to the spool in " + spool_->directory().string() +
                                   " (fsync: " + std::string(to_string(synced)) +
                                   "); the next run replays them");
      }
    }
    work_.reset();
    context_.io.stop();
  }

 private:
  const Options options_;
  const BaseUrl url_;
  const SenderContext context_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  Spool* const spool_;  // may be null: no spool, no bridge, no feeder
  const std::shared_ptr<ReplayWindow> replay_window_;
  Delivery delivery_;
  VersionProbe probe_;
  ProjectResolver resolver_;
  std::optional<SpoolBridge> bridge_;
  std::optional<ReplayFeeder> feeder_;
  std::atomic<bool> room_requested_{false};
  bool stopped_ = false;
};

// --- Sender ------------------------------------------------------------------------

namespace {
// Records replay keeps in memory at once: enough to fill its share of the in-flight
// limit, plus one being retried; more when they are small, so that they can share
// requests (replay_feeder.hpp), while they take less than half of that many full
// batches (an encoded batch is rarely more than half its raw size, so spilled batches
// are held no more than before).
std::shared_ptr<ReplayWindow> make_replay_window(const Options& options) {
  const std::size_t slots = std::max<std::size_t>(2, options.max_in_flight / 2 + 1);
  return std::make_shared<ReplayWindow>(slots, std::uint64_t{slots} * options.batch_max_bytes / 2,
                                        kReplayMaxRecords);
}
}  // namespace

Sender::Sender(const Options& options, DestinationTable& destinations, Accounting& accounting,
               ErrorReporter& errors, Spool* spool, SettledEvents* settled)
    : accounting_(accounting),
      io_(std::make_unique<net::io_context>(1)),
      spool_(spool),
      replay_window_(make_replay_window(options)) {
  core_ = std::make_shared<SenderCore>(options, *io_, destinations, accounting, errors, spool, replay_window_,
                                       settled);
  core_->anchor();
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
        replay_window_->release(0);
        (void)spool_->wait_for_records(Clock::now() + kReplayPoll);
        continue;
      }
      replay_window_->charge(record->size);
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

bool Sender::rate_limited() const noexcept { return core_->rate_limited(); }

bool Sender::payload_limit_known() const noexcept { return core_->payload_limit_known(); }

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
