#include "ingest_sink.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <mutex>

namespace spanline::agent {

IngestSink::IngestSink(Logger& logger, std::optional<Destination> default_destination,
                       IngestCounters& counters, detail::IngestLimits limits, IngestAck ack,
                       std::chrono::milliseconds ack_timeout)
    : logger_(logger), counters_(counters), limits_(limits), ack_(ack), ack_timeout_(ack_timeout) {
  if (default_destination) default_handle_ = handle_for(*default_destination);
  durable_counters_.set_enabled(ack_ == IngestAck::durable);
}

detail::EventParser& IngestSink::parser() {
  // One parser per thread, rebuilt if another sink (another daemon in the same process,
  // as in tests) used this thread last.
  struct Slot {
    const IngestSink* owner = nullptr;
    std::unique_ptr<detail::EventParser> parser;
  };
  thread_local Slot slot;
  if (slot.owner != this || !slot.parser) {
    slot.parser = std::make_unique<detail::EventParser>(limits_, logger_.options().id_format);
    slot.owner = this;
  }
  return *slot.parser;
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
  const LogResult result = logger_.log_prepared(to, std::move(row));
  auto& counters = counters_.at(listener);
  if (result == LogResult::queued) {
    counters.events.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters.not_queued.fetch_add(1, std::memory_order_relaxed);
    warn_not_accepted(listener, to_string(result));
  }
  return result;
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

struct IngestSink::PendingCommit {
  DurableBatch* batch;
  Listener listener;
  std::chrono::steady_clock::time_point started;
  Logger::DurableResult result = Logger::DurableResult::durable;
  bool done = false;
};

Logger::DurableResult IngestSink::commit(Listener listener, DurableBatch& batch) {
  if (batch.empty()) return Logger::DurableResult::durable;
  PendingCommit me{&batch, listener, std::chrono::steady_clock::now()};
  std::unique_lock lock(commit_mutex_);
  commit_queue_.push_back(&me);
  while (!me.done) {
    if (committing_) {
      commit_done_.wait(lock);
      continue;
    }
    // No write is running: this caller writes for everyone waiting (itself included, unless
    // the byte cap leaves it for the next round).
    committing_ = true;
    const std::vector<PendingCommit*> group = take_commit_group();
    lock.unlock();
    write_commit_group(group);
    lock.lock();
    // After `done` a member returns and its batch goes away: touch nothing of it after this.
    for (PendingCommit* member : group) member->done = true;
    committing_ = false;
    commit_done_.notify_all();
  }
  return me.result;
}

std::vector<IngestSink::PendingCommit*> IngestSink::take_commit_group() {
  // One group becomes one spool record per destination; keep it near a batch's size so its
  // replay is one ordinary request. A single larger request still goes alone.
  const std::size_t cap = logger_.options().batch_max_bytes;
  std::size_t bytes = 0;
  std::size_t count = 0;
  while (count < commit_queue_.size() &&
         (count == 0 || bytes + commit_queue_[count]->batch->bytes() <= cap)) {
    bytes += commit_queue_[count]->batch->bytes();
    ++count;
  }
  std::vector<PendingCommit*> group(commit_queue_.begin(),
                                    commit_queue_.begin() + static_cast<std::ptrdiff_t>(count));
  commit_queue_.erase(commit_queue_.begin(), commit_queue_.begin() + static_cast<std::ptrdiff_t>(count));
  return group;
}

void IngestSink::write_commit_group(const std::vector<PendingCommit*>& group) {
  using Result = Logger::DurableResult;
  struct Target {
    DestinationHandle to;
    std::vector<PreparedRow> rows;
    Result result = Result::durable;
  };
  // Per member: (target index, rows) for each destination it had, counted before the rows move.
  std::vector<Target> targets;
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> shares(group.size());
  auto deadline = std::chrono::steady_clock::time_point::max();
  for (std::size_t m = 0; m < group.size(); ++m) {
    deadline = std::min(deadline, group[m]->started + ack_timeout_);
    for (auto& [to, rows] : group[m]->batch->groups()) {
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
    group[m]->batch->clear();
  }
  for (Target& target : targets) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      target.result = Result::timeout;
      continue;
    }
    try {
      target.result = logger_.log_durable(target.to, std::move(target.rows), left);
    } catch (const std::exception& e) {
      // An invalid handle cannot happen (handle_for registered it); treat anything thrown
      // as a failed write so the rows are refused and counted, never lost quietly.
      log_error("ingest", std::string("durable write failed: ") + e.what());
      target.result = Result::io_error;
    }
  }
  const auto finished = std::chrono::steady_clock::now();
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
    durable_counters_.count_commit(member.listener, finished - member.started);
    auto& counters = counters_.at(member.listener);
    if (durable_rows > 0) {
      durable_counters_.count(member.listener, Result::durable, durable_rows);
      counters.events.fetch_add(durable_rows, std::memory_order_relaxed);
    }
    if (failed_rows > 0) {
      durable_counters_.count(member.listener, member.result, failed_rows);
      counters.not_queued.fetch_add(failed_rows, std::memory_order_relaxed);
      warn_not_accepted(member.listener,
                        std::string("not durable: ") + std::string(durable_result_name(member.result)));
    }
  }
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
                            std::string_view peer, detail::IngestEvent& event, DestinationHandle& to) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return false;
  if (auto failure = parser().parse(line, detail::Routing::strip, event)) {
    report_invalid(listener, failure->reason, stream_offset + failure->offset, peer);
    return false;
  }
  if (event.destination) {
    to = handle_for(*event.destination);
  } else if (default_handle_) {
    to = *default_handle_;
  } else {
    report_invalid(listener, detail::IngestError::no_destination, stream_offset, peer);
    return false;
  }
  return true;
}

void IngestSink::submit_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                             std::string_view peer) {
  detail::IngestEvent event;
  DestinationHandle to;
  if (parse_line(listener, line, stream_offset, peer, event, to))
    (void)queue(listener, to, std::move(event.row));
}

bool IngestSink::prepare_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                              std::string_view peer, DurableBatch& batch) {
  detail::IngestEvent event;
  DestinationHandle to;
  if (!parse_line(listener, line, stream_offset, peer, event, to)) return false;
  batch.add(to, std::move(event.row));
  return true;
}

}  // namespace spanline::agent
