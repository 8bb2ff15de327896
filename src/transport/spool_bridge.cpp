#include "transport/spool_bridge.hpp"

#include "accounting/accounting.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "spool/row_keys.hpp"
#include "spool/spool.hpp"
#include "transport/sender_context.hpp"
#include "transport/upstream.hpp"
#include "transport/version_probe.hpp"

#include <boost/asio/steady_timer.hpp>

namespace spanline::detail {

using Clock = std::chrono::steady_clock;

SpoolBridge::SpoolBridge(const SenderContext& context, Spool& spool, const Upstream& upstream,
                         const VersionProbe& probe, std::function<void()> on_outage)
    : context_(context),
      spool_(spool),
      upstream_(upstream),
      probe_(probe),
      on_outage_(std::move(on_outage)),
      outage_timer_(std::make_unique<boost::asio::steady_timer>(context.io)) {}

SpoolBridge::~SpoolBridge() = default;

bool SpoolBridge::in_outage() const noexcept {
  return failing_since_ && Clock::now() - *failing_since_ >= context_.options.spool_outage_after;
}

void SpoolBridge::upstream_answered() noexcept {
  if (!failing_since_) return;
  failing_since_.reset();
  outage_timer_->cancel();
}

void SpoolBridge::upstream_failed() {
  if (failing_since_) return;
  failing_since_ = Clock::now();
  outage_timer_->expires_at(*failing_since_ + context_.options.spool_outage_after);
  outage_timer_->async_wait([self = self()](boost::system::error_code ec) {
    if (ec || self->stopped_ || !self->in_outage()) return;
    self->context_.errors.report("sender", "outage",
                                 "no 2xx from " + self->context_.url.host_header() + " for " +
                                     std::to_string(self->context_.options.spool_outage_after.count()) +
                                     " ms: writing waiting batches to the spool in " +
                                     self->spool_.directory().string());
    self->on_outage_();
  });
}

void SpoolBridge::stop() noexcept {
  stopped_ = true;
  outage_timer_->cancel();
}

void SpoolBridge::spill(Job job) {
  Batch& batch = job.batch;
  if (batch.events.empty()) return;
  const std::size_t limit = probe_.payload_limit();
  if (batch.body_size() <= limit) return spill_batch(batch);
  for (Batch& part : split_to_limit(std::move(batch), limit)) {
    if (part.events.size() == 1 && part.body_size() > limit) {
      context_.accounting.dropped_event(part.events.front(), DropReason::too_large);
      continue;
    }
    part.body.clear();
    spill_batch(part);
  }
}

// Sent now, a merge row would reach the server before the full row it merges into, and
// the replayed full row would then replace the merged one. Replay sends the diverted
// rows after it (spool/replay_order.hpp). The other rows of the batch go on.
bool SpoolBridge::divert_followers(Job& job) {
  ReplayOrder& order = spool_.order();
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
  spill(Job{std::move(followers), 0, nullptr, nullptr});
  return true;
}

void SpoolBridge::spill_batch(Batch& batch) {
  try {
    if (batch.body.empty()) encode(batch, upstream_.encoding(), context_.options.zstd_level);
  } catch (const std::exception& e) {
    context_.errors.report("sender", "encode",
                           std::string("cannot encode a batch for the spool: ") + e.what());
    context_.accounting.dropped(batch, DropReason::invalid);
    return;
  }
  std::string key;
  try {
    key = context_.destinations.get(batch.destination).key();
  } catch (const std::exception&) {
  }
  // The rows' ids, so that their later rows follow them (see divert_followers()).
  std::vector<RowKey> keys;
  keys.reserve(batch.events.size());
  for (const BatchEvent& event : batch.events) {
    if (const auto id = find_row_id(event.json)) keys.push_back(row_key(*id));
  }
  const AppendResult appended =
      spool_.append(SpoolEntry{.destination_key = key,
                               .encoding = batch.encoding,
                               .source_rows = static_cast<std::uint32_t>(batch.source_rows()),
                               .raw_bytes = static_cast<std::uint32_t>(batch.raw_body_bytes),
                               .payload = batch.body,
                               .rows = RecordRows{.destination = batch.destination, .keys = keys}});
  if (appended.ok()) {
    context_.accounting.spooled(batch);
    return;
  }
  context_.errors.report(
      "sender", "spool-" + std::string(to_string(appended.status)),
      "could not write a batch of " + std::to_string(batch.source_rows()) + " rows to the spool in " +
          spool_.directory().string() + " (" + std::string(to_string(appended.status)) +
          (appended.error ? ": " + appended.error.message : std::string()) + "); rows dropped");
  context_.accounting.dropped(batch, DropReason::spool_full);
}

}  // namespace spanline::detail
