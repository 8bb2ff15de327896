#include "ingest_sink.hpp"

#include "core/thread_name.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <memory>
#include <mutex>

namespace spanline::agent {

// Who may close a sink: the sink while it lives, then nobody. An I/O context's shutdown hook
// holds it weakly, so neither has to outlive the other.
struct SinkLink {
  std::mutex mutex;
  IngestSink* sink = nullptr;
};

namespace {

// Registered on every I/O context that commit results are posted to. An execution context
// shuts its services down (newest first) before it destroys anything, so this runs while the
// context's queues and sockets still exist: the sinks settle their waiting commits (posting to
// a context that is shutting down just destroys the handler) and stop their committer, which
// then never posts to, or drops a connection into, a destroyed context.
class CloseSinksWithContext : public boost::asio::execution_context::service {
 public:
  static inline boost::asio::execution_context::id id;

  explicit CloseSinksWithContext(boost::asio::execution_context& context) : service(context) {}

  void watch(std::weak_ptr<SinkLink> link) {
    std::lock_guard lock(mutex_);
    links_.push_back(std::move(link));
  }

 private:
  void shutdown() override {
    std::vector<std::weak_ptr<SinkLink>> links;
    {
      std::lock_guard lock(mutex_);
      links.swap(links_);
    }
    for (const auto& weak : links) {
      if (const auto link = weak.lock()) {
        std::lock_guard lock(link->mutex);
        if (link->sink != nullptr) link->sink->close();
      }
    }
  }

  std::mutex mutex_;
  std::vector<std::weak_ptr<SinkLink>> links_;
};

std::uint64_t next_sink_instance() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

IngestSink::IngestSink(Logger& logger, std::optional<Destination> default_destination,
                       IngestCounters& counters, detail::IngestLimits limits, IngestAck ack,
                       std::chrono::milliseconds ack_timeout)
    : logger_(logger),
      counters_(counters),
      limits_(limits),
      instance_(next_sink_instance()),
      ack_(ack),
      ack_timeout_(ack_timeout),
      link_(std::make_shared<SinkLink>()) {
  link_->sink = this;
  if (default_destination) default_handle_ = handle_for(*default_destination);
  durable_counters_.set_enabled(ack_ == IngestAck::durable);
}

struct IngestSink::ThreadState {
  std::uint64_t owner = 0;  // IngestSink::instance_
  std::unique_ptr<detail::EventParser> parser;
  // The last routing key this thread resolved, and its handle.
  detail::RouteKind route_kind = detail::RouteKind::none;
  std::string route_value;
  DestinationHandle route_handle;
};

IngestSink::ThreadState& IngestSink::thread_state() {
  // One per thread, rebuilt if another sink (another daemon in the same process, as in
  // tests) used this thread last.
  thread_local ThreadState state;
  if (state.owner != instance_ || !state.parser) {
    state = ThreadState{};
    state.parser = std::make_unique<detail::EventParser>(limits_, logger_.options().id_format);
    state.owner = instance_;
  }
  return state;
}

detail::EventParser& IngestSink::parser() { return *thread_state().parser; }

DestinationHandle IngestSink::handle_for(const detail::Route& route, ThreadState& state) {
  if (state.route_kind == route.kind && state.route_value == route.value) return state.route_handle;
  const DestinationHandle handle = handle_for(*route.destination());
  state.route_kind = route.kind;
  state.route_value.assign(route.value);
  state.route_handle = handle;
  return handle;
}

DestinationHandle IngestSink::handle_for(const Destination& destination) {
  std::string key = destination.key();
  {
    std::shared_lock lock(handles_mutex_);
    if (auto it = handles_.find(key); it != handles_.end()) return it->second;
  }
  // Registration is idempotent in the logger, so a race here only costs a second call.
  const DestinationHandle handle = logger_.destination(destination);
  std::unique_lock lock(handles_mutex_);
  handles_.emplace(std::move(key), handle);
  return handle;
}

LogResult IngestSink::queue(Listener listener, DestinationHandle to, PreparedRow row) {
  const LogResult result = sidecar::log_prepared(logger_, to, std::move(row));
  auto& counters = counters_.at(listener);
  if (result == LogResult::queued) {
    counters.events.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters.not_queued.fetch_add(1, std::memory_order_relaxed);
    warn_not_accepted(listener, to_string(result));
  }
  return result;
}

std::optional<LogResult> IngestSink::try_queue(Listener listener, DestinationHandle to, PreparedRow& row) {
  const std::optional<LogResult> result = sidecar::try_log_prepared(logger_, to, row);
  if (!result) return result;
  auto& counters = counters_.at(listener);
  if (*result == LogResult::queued) {
    counters.events.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters.not_queued.fetch_add(1, std::memory_order_relaxed);
    warn_not_accepted(listener, to_string(*result));
  }
  return result;
}

void IngestSink::count_not_queued(Listener listener, std::size_t rows, std::string_view why) {
  if (rows == 0) return;
  counters_.at(listener).not_queued.fetch_add(rows, std::memory_order_relaxed);
  warn_not_accepted(listener, why);
}

void IngestSink::stop_waiting() {
  stopping_.store(true, std::memory_order_relaxed);
  on_room();  // every waiter looks again, and sees that it is time to give up
}

void IngestSink::wait_for_room(const boost::asio::any_io_executor& executor, std::function<void()> resume) {
  watch_context(executor);  // close() drops the waiters before their I/O context goes away
  bool arm = false;
  {
    std::lock_guard lock(room_mutex_);
    if (room_closed_ || stopping_.load(std::memory_order_relaxed)) return;
    room_waiters_.push_back(RoomWaiter{executor, std::move(resume)});
    arm = !std::exchange(room_notice_armed_, true);
  }
  // One pending notice serves every waiter of this sink: a release wakes them all at once
  // instead of the logger holding one callback per parked connection.
  if (arm) {
    sidecar::notify_when_room(logger_, [link = link_] {
      std::lock_guard lock(link->mutex);
      if (link->sink != nullptr) link->sink->on_room();
    });
  }
}

void IngestSink::on_room() {
  std::vector<RoomWaiter> waiters;
  {
    std::lock_guard lock(room_mutex_);
    waiters.swap(room_waiters_);
    room_notice_armed_ = false;
  }
  for (RoomWaiter& waiter : waiters) boost::asio::post(waiter.executor, std::move(waiter.resume));
}

// A request's rows that did not all fit at once: offered in order, one at a time, each time
// room may have been freed, until all are settled or the wait runs out. Lives on the
// request's strand; its deadline timer and its registration keep it alive.
struct IngestSink::RowsOffer : std::enable_shared_from_this<RowsOffer> {
  RowsOffer(IngestSink& sink, Listener listener, std::vector<RoutedRow> rows, std::size_t next,
            QueueOutcome outcome, const boost::asio::any_io_executor& executor, QueueDone done)
      : sink(sink),
        listener(listener),
        rows(std::move(rows)),
        next(next),
        outcome(outcome),
        executor(executor),
        deadline(executor),
        done(std::move(done)) {}

  void start(std::chrono::milliseconds wait) {
    deadline.expires_after(wait);
    deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->give_up(LogResult::dropped_queue_full);
    });
    park();
  }

  // Registers for the next notice, then offers once more (see wait_for_room).
  void park() {
    // The notice that runs this has used up the registration.
    sink.wait_for_room(executor, [self = shared_from_this()] { self->offer(false); });
    offer(true);
  }

  // `registered`: a notice is still due to this offer.
  void offer(bool registered) {
    if (finished) return;
    if (sink.stopping_.load(std::memory_order_relaxed)) return give_up(LogResult::dropped_shutdown);
    while (next < rows.size()) {
      const std::optional<LogResult> result = sink.try_queue(listener, rows[next].to, rows[next].row);
      if (!result) {
        // A registration is pending (this offer runs after it), so a notice will come.
        if (!registered) return park();
        return;
      }
      ++next;
      if (*result == LogResult::queued) {
        ++outcome.queued;
      } else if (*result == LogResult::dropped_too_large) {
        ++outcome.too_large;
      } else {
        return give_up(*result, /*counted_one=*/true);
      }
    }
    finish();
  }

  // The row at `next` (already counted when `counted_one`) and every row after it are not queued.
  void give_up(LogResult reason, bool counted_one = false) {
    if (finished) return;
    outcome.stopped_by = reason;
    const std::size_t left = rows.size() - next;
    sink.count_not_queued(listener, left,
                          reason == LogResult::dropped_queue_full && !counted_one
                              ? "dropped_queue_full (no room within ingest.ack_timeout_ms)"
                              : to_string(reason));
    next = rows.size();
    finish();
  }

  void finish() {
    finished = true;
    deadline.cancel();
    rows.clear();
    done(outcome);
  }

  IngestSink& sink;
  const Listener listener;
  std::vector<RoutedRow> rows;
  std::size_t next;
  QueueOutcome outcome;
  boost::asio::any_io_executor executor;
  boost::asio::steady_timer deadline;
  QueueDone done;
  bool finished = false;
};

std::optional<IngestSink::QueueOutcome> IngestSink::queue_rows(Listener listener, std::vector<RoutedRow> rows,
                                                               const boost::asio::any_io_executor& executor,
                                                               std::chrono::milliseconds wait,
                                                               QueueDone done) {
  QueueOutcome outcome;
  outcome.total = rows.size();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::optional<LogResult> result = try_queue(listener, rows[i].to, rows[i].row);
    if (!result) {
      counters_.at(listener).waits_for_room.fetch_add(1, std::memory_order_relaxed);
      auto offer = std::make_shared<RowsOffer>(*this, listener, std::move(rows), i, outcome, executor,
                                               std::move(done));
      offer->start(wait);
      return std::nullopt;
    }
    if (*result == LogResult::queued) {
      ++outcome.queued;
    } else if (*result == LogResult::dropped_too_large) {
      ++outcome.too_large;
    } else {
      // The rest is not offered: the client resends the whole request anyway.
      outcome.stopped_by = *result;
      count_not_queued(listener, rows.size() - i - 1, to_string(*result));
      break;
    }
  }
  return outcome;
}

void IngestSink::warn_not_accepted(Listener listener, std::string_view outcome) {
  std::uint64_t suppressed = 0;
  const std::string key = std::string(to_string(listener)) + "/" + std::string(outcome);
  if (not_queued_log_.allow(key, suppressed)) {
    std::string message = "valid event not queued: " + std::string(outcome);
    if (suppressed > 0) message += " (" + std::to_string(suppressed) + " similar not logged)";
    log_warn(to_string(listener), message);
  }
}

// ---- durable commits ---------------------------------------------------------------------

struct IngestSink::PendingCommit {
  DurableBatch batch;
  Listener listener;
  std::chrono::steady_clock::time_point started;
  boost::asio::any_io_executor executor;
  DurableDone done;
  DurableResult result = DurableResult::durable;
};

IngestSink::~IngestSink() {
  close();
  std::lock_guard lock(link_->mutex);
  link_->sink = nullptr;
}

void IngestSink::commit_async(Listener listener, DurableBatch batch, boost::asio::any_io_executor executor,
                              DurableDone done) {
  using Result = DurableResult;
  if (batch.empty()) {
    boost::asio::post(executor, [done = std::move(done)] { done(Result::durable); });
    return;
  }
  auto member = std::make_unique<PendingCommit>(PendingCommit{
      std::move(batch), listener, std::chrono::steady_clock::now(), std::move(executor), std::move(done)});
  watch_context(member->executor);
  {
    std::unique_lock lock(commit_mutex_);
    if (!closing_) {
      while (committers_.size() < kCommitters) committers_.emplace_back([this] {
          detail::name_this_thread("spanlined-commit");
          run_committer();
        });
      commit_queue_.push_back(std::move(member));
      lock.unlock();
      commit_ready_.notify_one();
      return;
    }
  }
  member->result = Result::closed;
  settle(*member, 0, member->batch.rows());
}

void IngestSink::watch_context(const boost::asio::any_io_executor& executor) {
  boost::asio::execution_context& context = boost::asio::query(executor, boost::asio::execution::context);
  {
    std::lock_guard lock(commit_mutex_);
    if (std::find(watched_contexts_.begin(), watched_contexts_.end(), &context) != watched_contexts_.end())
      return;
    watched_contexts_.push_back(&context);
  }
  boost::asio::use_service<CloseSinksWithContext>(context).watch(link_);
}

void IngestSink::close() {
  std::vector<RoomWaiter> waiters;  // dropped unrun, outside the lock
  {
    std::lock_guard lock(room_mutex_);
    room_closed_ = true;
    waiters.swap(room_waiters_);
  }
  {
    std::lock_guard lock(commit_mutex_);
    closing_ = true;
  }
  commit_ready_.notify_all();
  std::lock_guard lock(join_mutex_);
  for (std::thread& committer : committers_) {
    if (committer.joinable() && committer.get_id() != std::this_thread::get_id()) committer.join();
  }
}

void IngestSink::run_committer() {
  std::size_t last_members = 0;                      // batches in this committer's last group
  std::chrono::steady_clock::duration last_write{};  // and how long writing it took
  std::unique_lock lock(commit_mutex_);
  for (;;) {
    commit_ready_.wait(lock, [&] { return closing_ || !commit_queue_.empty(); });
    if (closing_) break;
    // Clients that wait for their answer send again all at once when a group is answered;
    // taking only the first of them would give it an fsync of its own and make the rest wait
    // a whole fsync longer. So when the last group was shared (several clients are busy), let
    // a burst gather for a quarter of a write, at most 1 ms; a lone client never waits.
    if (last_members > 1) {
      const auto window =
          std::min<std::chrono::steady_clock::duration>(last_write / 4, std::chrono::milliseconds(1));
      commit_ready_.wait_for(lock, window, [&] { return closing_; });
      if (closing_) break;
      if (commit_queue_.empty()) {  // the other committer took them meanwhile
        last_members = 0;
        continue;
      }
    }
    Group group = take_commit_group();
    last_members = group.size();
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    write_commit_group(group);
    last_write = std::chrono::steady_clock::now() - started;
    group.clear();
    lock.lock();
  }
  // Closing: batches not written yet are refused; their clients resend them.
  Group left(std::make_move_iterator(commit_queue_.begin()), std::make_move_iterator(commit_queue_.end()));
  commit_queue_.clear();
  lock.unlock();
  for (auto& member : left) {
    member->result = DurableResult::closed;
    settle(*member, 0, member->batch.rows());
  }
}

IngestSink::Group IngestSink::take_commit_group() {
  // One group becomes one spool record per destination; keep it near a batch's size so its
  // replay is one ordinary request. A single larger request still goes alone.
  const std::size_t cap = logger_.options().batch_max_bytes;
  std::size_t bytes = 0;
  Group group;
  while (!commit_queue_.empty()) {
    std::unique_ptr<PendingCommit>& next = commit_queue_.front();
    if (!group.empty() && bytes + next->batch.bytes() > cap) break;
    bytes += next->batch.bytes();
    group.push_back(std::move(next));
    commit_queue_.pop_front();
  }
  return group;
}

void IngestSink::write_commit_group(Group& group) {
  using Result = DurableResult;
  struct Target {
    DestinationHandle to;
    std::vector<PreparedRow> rows;
    Result result = Result::durable;
  };
  // A batch that spent its whole ack timeout in the queue is refused on its own, before it
  // can cut the others' deadline to nothing.
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(group, [&](std::unique_ptr<PendingCommit>& member) {
    if (now < member->started + ack_timeout_) return false;
    member->result = Result::timeout;
    settle(*member, 0, member->batch.rows());
    return true;
  });
  // Per member: (target index, rows) for each destination it had, counted before the rows move.
  std::vector<Target> targets;
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> shares(group.size());
  auto deadline = std::chrono::steady_clock::time_point::max();
  for (std::size_t m = 0; m < group.size(); ++m) {
    deadline = std::min(deadline, group[m]->started + ack_timeout_);
    for (auto& [to, rows] : group[m]->batch.groups()) {
      std::size_t t = 0;
      while (t < targets.size() && targets[t].to.index != to.index) ++t;
      if (t == targets.size()) targets.push_back(Target{to, {}, Result::durable});
      shares[m].emplace_back(t, rows.size());
      auto& into = targets[t].rows;
      if (into.empty()) {
        into = std::move(rows);
      } else {
        into.insert(into.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
      }
    }
    group[m]->batch.clear();
  }
  for (Target& target : targets) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      target.result = Result::timeout;
      continue;
    }
    try {
      target.result = sidecar::log_durable(logger_, target.to, std::move(target.rows), left);
    } catch (const std::exception& e) {
      // An invalid handle cannot happen (handle_for registered it); treat anything thrown
      // as a failed write so the rows are refused and counted, never lost quietly.
      log_error("ingest", std::string("durable write failed: ") + e.what());
      target.result = Result::io_error;
    }
  }
  for (std::size_t m = 0; m < group.size(); ++m) {
    PendingCommit& member = *group[m];
    std::size_t durable_rows = 0;
    std::size_t failed_rows = 0;
    for (const auto& [t, rows] : shares[m]) {
      const Result result = targets[t].result;
      if (result == Result::durable) {
        durable_rows += rows;
        continue;
      }
      failed_rows += rows;
      if (member.result == Result::durable) member.result = result;
    }
    // A member acknowledged in part is refused whole: its client resends everything.
    if (member.result != Result::durable) {
      failed_rows += durable_rows;
      durable_rows = 0;
    }
    settle(member, durable_rows, failed_rows);
  }
}

void IngestSink::settle(PendingCommit& member, std::size_t durable_rows, std::size_t failed_rows) {
  durable_counters_.count_commit(member.listener, std::chrono::steady_clock::now() - member.started);
  auto& counters = counters_.at(member.listener);
  if (durable_rows > 0) {
    durable_counters_.count(member.listener, DurableResult::durable, durable_rows);
    counters.events.fetch_add(durable_rows, std::memory_order_relaxed);
  }
  if (failed_rows > 0) {
    durable_counters_.count(member.listener, member.result, failed_rows);
    counters.not_queued.fetch_add(failed_rows, std::memory_order_relaxed);
    warn_not_accepted(member.listener,
                      std::string("not durable: ") + std::string(durable_result_name(member.result)));
  }
  // Counted before the answer goes out, so a client that reads its answer and then the
  // metrics sees its rows.
  boost::asio::post(member.executor,
                    [done = std::move(member.done), result = member.result] { done(result); });
}

void IngestSink::report_invalid(Listener listener, detail::IngestError reason, std::uint64_t offset,
                                std::string_view peer) {
  counters_.count_invalid(listener, reason);
  std::uint64_t suppressed = 0;
  const std::string key = std::string(to_string(listener)) + "/" + std::string(detail::to_string(reason));
  if (!bad_input_log_.allow(key, suppressed)) return;
  std::string message = "bad input from ";
  message += peer;
  message += ": reason=";
  message += detail::to_string(reason);
  message += " offset=";
  message += std::to_string(offset);
  if (suppressed > 0) message += " (" + std::to_string(suppressed) + " similar not logged)";
  log_warn(to_string(listener), message);
}

bool IngestSink::parse_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                            std::string_view peer, std::size_t readable, PreparedRow& row,
                            DestinationHandle& to) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return false;
  ThreadState& state = thread_state();
  detail::Route route;
  if (auto failure = state.parser->parse_row(line, detail::Routing::strip, row, route, readable)) {
    report_invalid(listener, failure->reason, stream_offset + failure->offset, peer);
    return false;
  }
  if (route.kind != detail::RouteKind::none) {
    to = handle_for(route, state);
  } else if (default_handle_) {
    to = *default_handle_;
  } else {
    report_invalid(listener, detail::IngestError::no_destination, stream_offset, peer);
    return false;
  }
  return true;
}

void IngestSink::submit_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                             std::string_view peer, std::size_t readable) {
  PreparedRow row;
  DestinationHandle to;
  if (parse_line(listener, line, stream_offset, peer, readable, row, to))
    (void)queue(listener, to, std::move(row));
}

bool IngestSink::prepare_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                              std::string_view peer, DurableBatch& batch, std::size_t readable) {
  PreparedRow row;
  DestinationHandle to;
  if (!parse_line(listener, line, stream_offset, peer, readable, row, to)) return false;
  batch.add(to, std::move(row));
  return true;
}

}  // namespace spanline::agent
