#include "transport/replay_feeder.hpp"

#include "batch/batch.hpp"
#include "codec/codec.hpp"
#include "accounting/accounting.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "metrics/counters.hpp"
#include "spool/spool.hpp"
#include "transport/answer_text.hpp"
#include "transport/job.hpp"
#include "transport/project_resolver.hpp"
#include "transport/sender_context.hpp"
#include "transport/shipment.hpp"
#include "transport/upstream.hpp"
#include "transport/version_probe.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>

namespace spanline::detail {

using Clock = std::chrono::steady_clock;

namespace {

// How long replay waits before trying a record whose destination is still being resolved.
constexpr std::chrono::milliseconds kResolveWait{200};
// How soon replay looks again when every record it holds waits for an older one.
constexpr std::chrono::milliseconds kBlockedPoll{50};

// A request body's envelope around its events (kEnvelopeBytes together).
constexpr std::string_view kEventsOpen = "{\"events\":[";
constexpr std::string_view kEventsClose = "]}";
static_assert(kEventsOpen.size() + kEventsClose.size() == kEnvelopeBytes);

// A record does not say how many events it holds, and decoding it for every answer
// would cost more than it saves. decide() is told "two or more" so that a 413 or a
// 400/422 about rows asks for a split; split_record() then finds out, and a record of
// one event (which cannot be split) is refused, as a one-event live batch would be.
constexpr std::size_t kEventsUnknownAssumeSeveral = 2;

}  // namespace

// --- ReplayWindow -------------------------------------------------------------------

bool ReplayWindow::acquire() {
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return stopping || has_room(); });
  if (stopping) return false;
  ++outstanding;
  return true;
}

void ReplayWindow::charge(std::uint64_t record_bytes) noexcept {
  std::lock_guard lock(mutex);
  outstanding_bytes += record_bytes;
}

void ReplayWindow::release(std::uint64_t record_bytes) noexcept {
  {
    std::lock_guard lock(mutex);
    if (outstanding > 0) --outstanding;
    outstanding_bytes -= std::min(record_bytes, outstanding_bytes);
  }
  changed.notify_all();
}

bool ReplayWindow::full() noexcept {
  std::lock_guard lock(mutex);
  return !stopping && !has_room();
}

void ReplayWindow::stop() noexcept {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  changed.notify_all();
}

// --- a record on the wire -------------------------------------------------------------

class ReplayFeeder::Shipment final : public detail::Shipment {
 public:
  Shipment(ReplayFeeder& feeder, Item item) : feeder_(feeder), item_(std::move(item)) {}

  bool replayed() const noexcept override { return true; }
  std::string take_body() override { return std::move(item_.record.payload); }
  void give_back_body(std::string body) override { item_.record.payload = std::move(body); }
  Compression encoding() const noexcept override { return item_.record.encoding; }
  std::size_t events_for_decision() const noexcept override { return kEventsUnknownAssumeSeveral; }

  bool spend_isolation() override {
    // Taking a combined request apart costs no step: each member then has its own budget.
    if (!item_.members.empty()) return true;
    if (!item_.parts) item_.parts = std::make_shared<Parts>();
    // Rows as logged stand in for events: a record does not say how many it holds.
    if (!item_.parts->isolation_left)
      item_.parts->isolation_left = isolation_budget(item_.record.source_rows);
    if (*item_.parts->isolation_left < kRequestsPerIsolationStep) return false;
    *item_.parts->isolation_left -= kRequestsPerIsolationStep;
    return true;
  }
  // Replay backs off as a whole: one failing record holds back the ones behind it.
  std::uint32_t backoff_attempt() override { return feeder_.failures_++; }

  void delivered() override {
    feeder_.failures_ = 0;
    const SpoolRecord& record = item_.record;
    feeder_.context_.accounting.replay_delivered(record.source_rows, record.raw_bytes, record.payload.size(),
                                                 std::max<std::size_t>(1, item_.members.size()));
    feeder_.finish(item_, false);
  }
  void retry(const RetryNote& note) override {
    feeder_.context_.counters.retries.fetch_add(1, std::memory_order_relaxed);
    if (!note.host_paused) feeder_.hold_until_ = std::max(feeder_.hold_until_, Clock::now() + note.delay);
    feeder_.ready_.push_front(std::move(item_));  // keeps its window slot: tried again first
  }
  void reencode() override {
    if (feeder_.transcode(item_.record, feeder_.upstream_.encoding())) {
      feeder_.ready_.push_front(std::move(item_));
    } else if (!item_.members.empty()) {
      feeder_.send_alone(std::move(item_));
    } else {
      feeder_.finish(item_, true);
    }
  }
  // Too large for the host (its limit may be lower than when the record was written),
  // or some of its rows refused: halves, each sent and split again as needed. A combined
  // request goes back to its records, each sent (and split if need be) on its own.
  bool split() override {
    if (!item_.members.empty()) {
      feeder_.send_alone(std::move(item_));
      return true;
    }
    auto halves = feeder_.split_record(item_.record, 0);
    if (!halves) return false;
    feeder_.send_in_parts(std::move(item_), std::move(*halves));
    return true;
  }
  // Every member of a combined request too: what is refused for good without a split or an
  // isolation (an authorization or a destination refused, no encoding left) is refused
  // for any request to the same destination.
  void rejected() override { feeder_.finish(item_, true); }
  // The record stays in the spool for the next run.
  void abandoned(const std::function<void(Batch&)>&) override {}

  std::string_view what() const noexcept override { return " to a spool record"; }
  std::string_view unit() const noexcept override { return "record"; }
  std::uint64_t rows() const noexcept override { return item_.record.source_rows; }
  std::string first_row_id() const override { return feeder_.first_id(item_.record); }

 private:
  ReplayFeeder& feeder_;
  Item item_;
};

// --- ReplayFeeder -----------------------------------------------------------------------

ReplayFeeder::ReplayFeeder(const SenderContext& context, Spool& spool, std::shared_ptr<ReplayWindow> window,
                           Upstream& upstream, const VersionProbe& probe, ProjectResolver& resolver)
    : context_(context),
      spool_(spool),
      window_(std::move(window)),
      upstream_(upstream),
      probe_(probe),
      resolver_(resolver),
      hold_timer_(std::make_unique<boost::asio::steady_timer>(context.io)),
      blocked_timer_(std::make_unique<boost::asio::steady_timer>(context.io)),
      linger_timer_(std::make_unique<boost::asio::steady_timer>(context.io)) {}

ReplayFeeder::~ReplayFeeder() = default;

void ReplayFeeder::enqueue(SpoolRecord record) {
  ready_.push_back(Item{.record = std::move(record), .arrived = Clock::now()});
}

bool ReplayFeeder::sendable() const noexcept { return !ready_.empty() && probe_.limit_known(); }

bool ReplayFeeder::start_next() {
  const auto now = Clock::now();
  if (now < hold_until_) {
    arm_hold_timer();
    return false;
  }
  // Oldest first, except that a record waits while an older one that shares row ids
  // with it is unacknowledged (spool/replay_order.hpp); the ones behind it may go.
  const ReplayOrder& order = spool_.order();
  const auto next = std::find_if(ready_.begin(), ready_.end(),
                                 [&](const Item& item) { return !order.blocked(item.record.id); });
  if (next == ready_.end()) {
    // Usually an answer unblocks them (and wakes delivery); the barrier of an earlier
    // run's backlog can also lift while replay reads, so look again shortly.
    arm_blocked_timer();
    return false;
  }
  if (combinable(*next)) {
    auto linger_until = now;
    std::optional<Item> item = take_combined(next, now, linger_until);
    if (!item) {
      arm_linger_timer(linger_until);
      return false;
    }
    start(std::move(*item));
    return true;
  }
  Item item = std::move(*next);
  ready_.erase(next);
  start(std::move(item));
  return true;
}

bool ReplayFeeder::combinable(const Item& item) const noexcept {
  return !item.parts && item.members.empty() && !item.alone && item.record.raw_bytes >= kEnvelopeBytes &&
         item.record.raw_bytes <= combined_max_bytes();
}

std::size_t ReplayFeeder::combined_max_bytes() const noexcept {
  return std::min(context_.options.batch_max_bytes, probe_.payload_limit());
}

std::optional<ReplayFeeder::Item> ReplayFeeder::take_combined(std::deque<Item>::iterator first,
                                                              Clock::time_point now,
                                                              Clock::time_point& linger_until) {
  const ReplayOrder& order = spool_.order();
  const std::size_t max_bytes = combined_max_bytes();
  const std::size_t max_rows = context_.options.batch_max_rows;
  for (;;) {
    if (!combinable(*first)) {  // its body could not be read with the others'
      Item alone = std::move(*first);
      ready_.erase(first);
      return alone;
    }
    // Which records would go along: by position, since taking them out moves the rest.
    std::vector<std::size_t> taken{static_cast<std::size_t>(first - ready_.begin())};
    std::size_t bytes = first->record.raw_bytes;  // the combined body, envelope and commas included
    std::size_t rows = first->record.source_rows;
    bool full = false;
    for (auto it = std::next(first); it != ready_.end(); ++it) {
      if (!combinable(*it) || it->record.destination_key != first->record.destination_key ||
          order.blocked(it->record.id))
        continue;
      const std::size_t more = it->record.raw_bytes - kEnvelopeBytes + 1;
      if (bytes + more > max_bytes || rows + it->record.source_rows > max_rows) {
        full = true;
        break;
      }
      bytes += more;
      rows += it->record.source_rows;
      taken.push_back(static_cast<std::size_t>(it - ready_.begin()));
    }
    // Company is worth waiting for while the request is not full and more records can
    // still come: a record lingers as long as a live batch would.
    if (!full && now < first->arrived + context_.options.linger && !window_->full()) {
      linger_until = first->arrived + context_.options.linger;
      return std::nullopt;
    }
    if (taken.size() == 1) {
      Item alone = std::move(*first);
      ready_.erase(first);
      return alone;
    }
    std::vector<SpoolRecord> members;
    members.reserve(taken.size());
    for (const std::size_t at : taken) members.push_back(std::move(ready_[at].record));
    Item combined{.arrived = first->arrived};
    if (const auto bad = combine_bodies(members, combined.record); bad < members.size()) {
      // That record goes by itself, where it gets the treatment it would have had alone.
      for (std::size_t m = 0; m < taken.size(); ++m) ready_[taken[m]].record = std::move(members[m]);
      ready_[taken[bad]].alone = true;
      continue;
    }
    combined.members = std::move(members);
    for (auto at = taken.rbegin(); at != taken.rend(); ++at)
      ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(*at));
    return combined;
  }
}

// The members' events, in order, as one body encoded as the host takes it now. Returns
// members.size() on success, else the index of the member whose body could not be read
// (or 0 when encoding failed).
std::size_t ReplayFeeder::combine_bodies(const std::vector<SpoolRecord>& members, SpoolRecord& into) {
  std::string body(kEventsOpen);
  bool first_event = true;
  std::size_t rows = 0;
  std::vector<std::string_view> events;
  std::string decoded;
  for (std::size_t m = 0; m < members.size(); ++m) {
    const SpoolRecord& member = members[m];
    try {
      if (member.encoding != Compression::none)
        decoded = decompress(member.encoding, member.payload, std::size_t{member.raw_bytes} + 1);
    } catch (const std::exception&) {
      return m;
    }
    const std::string_view raw =
        member.encoding == Compression::none ? std::string_view(member.payload) : decoded;
    // The encoders write exactly `{"events":[` e1,e2,... `]}`: the events go over as they
    // are. Anything else is walked event by event.
    if (raw.starts_with(kEventsOpen) && raw.ends_with(kEventsClose)) {
      const std::string_view inner = raw.substr(kEventsOpen.size(), raw.size() - kEnvelopeBytes);
      if (!inner.empty()) {
        if (!first_event) body += ',';
        first_event = false;
        body += inner;
      }
    } else {
      if (!split_events(raw, events)) return m;
      for (const std::string_view event : events) {
        if (!first_event) body += ',';
        first_event = false;
        body += event;
      }
    }
    rows += member.source_rows;
  }
  body += "]}";
  const Compression encoding = upstream_.encoding();
  into.raw_bytes = static_cast<std::uint32_t>(body.size());
  try {
    into.payload = encoding == Compression::none ? std::move(body)
                                                 : compress(encoding, body, context_.options.zstd_level);
  } catch (const std::exception& e) {
    context_.errors.report("sender", "spool-record",
                           std::string("cannot encode spool records together: ") + e.what());
    return 0;
  }
  into.encoding = encoding;
  into.id = members.front().id;
  into.destination_key = members.front().destination_key;
  into.written_unix_ms = members.front().written_unix_ms;
  into.source_rows = static_cast<std::uint32_t>(rows);
  return members.size();
}

void ReplayFeeder::stop() noexcept {
  ready_.clear();
  hold_timer_->cancel();
  blocked_timer_->cancel();
  linger_timer_->cancel();
}

void ReplayFeeder::arm_hold_timer() {
  if (hold_armed_) return;
  hold_armed_ = true;
  hold_timer_->expires_at(hold_until_);
  hold_timer_->async_wait([self = self()](boost::system::error_code ec) {
    self->hold_armed_ = false;
    if (!ec) self->upstream_.wake();
  });
}

void ReplayFeeder::arm_blocked_timer() {
  if (blocked_armed_) return;
  blocked_armed_ = true;
  blocked_timer_->expires_after(kBlockedPoll);
  blocked_timer_->async_wait([self = self()](boost::system::error_code ec) {
    self->blocked_armed_ = false;
    if (!ec) self->upstream_.wake();
  });
}

void ReplayFeeder::arm_linger_timer(Clock::time_point until) {
  if (linger_armed_ && *linger_armed_ <= until) return;
  linger_armed_ = until;
  linger_timer_->expires_at(until);  // cancels a later wait, whose handler then does nothing
  linger_timer_->async_wait([self = self()](boost::system::error_code ec) {
    if (ec) return;
    self->linger_armed_.reset();
    self->upstream_.wake();
  });
}

void ReplayFeeder::start(Item item) {
  SpoolRecord& record = item.record;
  const auto destination = destination_of(record.destination_key);
  if (!destination) {
    context_.errors.report("sender", "spool-destination",
                           "a spool record names an unknown destination \"" +
                               snippet(record.destination_key, {}) + "\"; " +
                               std::to_string(record.source_rows) + " rows rejected");
    return finish(item, true);
  }
  const auto path = context_.destinations.insert_path(*destination);
  if (!path) {
    // A project known by name: resolve it first, then try this record again.
    resolver_.resolve_soon(*destination);
    ready_.push_front(std::move(item));
    hold_until_ = Clock::now() + kResolveWait;
    arm_hold_timer();
    return;
  }
  // Written when the host took larger bodies than it says it takes now: send it in parts.
  // (A combined request whose host lowered its limit since goes back to its records.)
  const std::size_t limit = probe_.payload_limit();
  if (record.raw_bytes > limit) {
    if (!item.members.empty()) return send_alone(std::move(item));
    if (auto parts = split_record(record, limit); parts && parts->size() > 1) {
      return send_in_parts(std::move(item), std::move(*parts));
    }
  }
  // After a 415 fallback the host no longer takes what the record was written with; a
  // record written uncompressed (durable ingest) goes in the host's encoding.
  const Compression wanted = upstream_.encoding();
  if (record.encoding != wanted &&
      (wanted != context_.options.compression || record.encoding == Compression::none) &&
      !transcode(record, wanted)) {
    if (!item.members.empty()) return send_alone(std::move(item));
    return finish(item, true);
  }
  upstream_.dispatch(std::make_unique<Shipment>(*this, std::move(item)), context_.url.target(*path));
}

std::optional<std::uint32_t> ReplayFeeder::destination_of(const std::string& key) {
  if (auto known = destinations_.find(key); known != destinations_.end()) return known->second;
  auto destination = Destination::from_key(key);
  if (!destination) return std::nullopt;
  try {
    const std::uint32_t index = context_.destinations.add(*destination).index;
    destinations_.emplace(key, index);
    return index;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The item is settled: delivered, or (`rejected`) refused for good. A part hands over
// to the next one; the last one (or a whole record) acknowledges the record.
void ReplayFeeder::finish(Item& item, bool rejected) {
  if (!item.members.empty()) {
    for (SpoolRecord& member : item.members) {
      Item one{.record = std::move(member)};
      finish(one, rejected);
    }
    return;
  }
  if (rejected) context_.accounting.replay_rejected(item.record.source_rows);
  if (item.parts) {
    item.parts->rejected = item.parts->rejected || rejected;
    if (!item.parts->waiting.empty()) {
      SpoolRecord next = std::move(item.parts->waiting.front());
      item.parts->waiting.pop_front();
      ready_.push_front(Item{.record = std::move(next), .parts = std::move(item.parts)});  // keeps the slot
      return;
    }
    rejected = item.parts->rejected;
  }
  if (rejected) {
    spool_.ack_rejected(item.record.id);
  } else {
    spool_.ack(item.record.id);
  }
  window_->release(item.record.size);  // a part has its record's size
}

void ReplayFeeder::send_alone(Item item) {
  for (auto it = item.members.rbegin(); it != item.members.rend(); ++it)
    ready_.push_front(Item{.record = std::move(*it), .arrived = item.arrived, .alone = true});
}

// Sends `parts` in place of `item` (itself a whole record or a part), first part next.
void ReplayFeeder::send_in_parts(Item item, std::deque<SpoolRecord> parts) {
  std::shared_ptr<Parts> state = std::move(item.parts);
  if (!state) state = std::make_shared<Parts>();
  for (auto it = parts.rbegin(); it + 1 != parts.rend(); ++it) state->waiting.push_front(std::move(*it));
  ready_.push_front(Item{.record = std::move(parts.front()), .parts = std::move(state)});
}

// Splits a record's body: in halves by event count (`max_raw_bytes` 0), or into parts
// of at most `max_raw_bytes` uncompressed (an event larger than that alone in its
// part). Each part is encoded as the record was and stands for its share of the
// record's rows. nullopt when the body cannot be decoded or has too few events.
std::optional<std::deque<SpoolRecord>> ReplayFeeder::split_record(const SpoolRecord& record,
                                                                  std::size_t max_raw_bytes) {
  try {
    const std::string raw =
        record.encoding == Compression::none
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
      part.payload = record.encoding == Compression::none
                         ? std::move(body)
                         : compress(record.encoding, body, context_.options.zstd_level);
      parts.push_back(std::move(part));
      begin = end;
    }
    return parts;
  } catch (const std::exception& e) {
    context_.errors.report("sender", "spool-record", std::string("cannot split a spool record: ") + e.what());
    return std::nullopt;
  }
}

// The first event's id as first_refused_id() puts it, decoding the record's body.
std::string ReplayFeeder::first_id(const SpoolRecord& record) const {
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

bool ReplayFeeder::transcode(SpoolRecord& record, Compression to) {
  try {
    std::string raw = decompress(record.encoding, record.payload, std::size_t{record.raw_bytes} + 1);
    record.payload =
        to == Compression::none ? std::move(raw) : compress(to, raw, context_.options.zstd_level);
    record.encoding = to;
    return true;
  } catch (const std::exception& e) {
    context_.errors.report("sender", "spool-record",
                           std::string("cannot re-encode a spool record: ") + e.what() + "; " +
                               std::to_string(record.source_rows) + " rows rejected");
    return false;
  }
}

}  // namespace spanline::detail
