#pragma once
// Replays the spool: records handed over by the replay thread (through a ReplayWindow)
// wait here until delivery has room for them, go out on the same connections as live
// batches, and are acknowledged in the spool once settled: delivered, or refused for
// good. A record the host takes no longer as it is (too large, an encoding it refused)
// is split or re-encoded first. Retries have no attempt limit: the record is on disk.
//
// ReplayWindow is shared with the replay thread; everything else is io thread only.

#include "spool/spool_types.hpp"
#include "transport/anchored.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace spanline::detail {

class ProjectResolver;
class Spool;
class Upstream;
class VersionProbe;
struct SenderContext;

// Spool records handed from the replay thread to the io thread and not yet finished
// (acknowledged, or left for the next run): bounded, so replay never holds more than a
// few requests' worth in memory however large the backlog. Always `slots` records (enough
// to fill replay's share of the in-flight limit); past that, more records while those held
// take less than `bytes` on disk and number fewer than `max_records`, so that small records
// (durable ingest writes one per group commit) can wait together and share a request.
// Thread-safe.
struct ReplayWindow {
  explicit ReplayWindow(std::size_t slots, std::uint64_t bytes = 0, std::size_t max_records = 0)
      : slots(slots), bytes(bytes), max_records(std::max(slots, max_records)) {}

  // Waits for room for one more record and takes it; false once stopping. The caller then
  // reads the record and charges its size.
  bool acquire();
  void charge(std::uint64_t record_bytes) noexcept;
  // Gives back a record's room (`record_bytes` as charged; 0 when acquire() found no record).
  void release(std::uint64_t record_bytes) noexcept;
  // acquire() would wait: no further record can arrive until one is released.
  bool full() noexcept;
  void stop() noexcept;

  const std::size_t slots;
  const std::uint64_t bytes;
  const std::size_t max_records;
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t outstanding = 0;
  std::uint64_t outstanding_bytes = 0;
  bool stopping = false;

 private:
  bool has_room() const noexcept {
    return outstanding < slots || (outstanding < max_records && outstanding_bytes < bytes);
  }
};

class ReplayFeeder : public Anchored<ReplayFeeder> {
 public:
  ReplayFeeder(const SenderContext& context, Spool& spool, std::shared_ptr<ReplayWindow> window,
               Upstream& upstream, const VersionProbe& probe, ProjectResolver& resolver);
  ~ReplayFeeder();

  // A record from the replay thread; it holds its room in the window until it is acknowledged.
  void enqueue(SpoolRecord record);
  bool has_waiting() const noexcept { return !ready_.empty(); }
  // Records wait, and may be sent: the payload limit is known, since records may have
  // been written under a larger one than the host's (GET /version answers or fails
  // quickly), and should go in parts rather than into a 413.
  bool sendable() const noexcept;
  // Starts the oldest record that may go (or settles it, or sets it aside for later),
  // together with the records waiting behind it for the same destination that fit in the
  // same request (see Combined). False when every waiting record must wait (a backoff
  // hold, older records sharing row ids not yet acknowledged, or small records lingering
  // for company): a timer wakes delivery later.
  bool start_next();
  // Records not acknowledged stay in the spool for the next run.
  void stop() noexcept;

 private:
  class Shipment;  // a record on the wire, as delivery's outcome handler sees it
  // A record split because the host refused it as too large (413), isolating refused
  // rows, or because it is over the host's payload limit: its parts go one after the
  // other, in order, so rows of one id inside it stay in order too. The record is
  // acknowledged (and its window room freed) once the last part is settled.
  struct Parts {
    std::deque<SpoolRecord> waiting;  // not sent yet, in order
    bool rejected = false;            // some part was refused for good
    // Requests left for isolating refused rows (isolation_budget()); set at the first 400/422.
    std::optional<std::uint64_t> isolation_left;
  };
  // A record, one part of it (same RecordId), or several records in one request.
  //
  // Several: small records of one destination (durable ingest writes one per group
  // commit) go as one request, their events one after the other, up to batch.max_bytes
  // and batch.max_rows, after waiting up to batch.linger_ms for company. Only records
  // replay may send now are combined: none shares a row id with an older unacknowledged
  // record, so none with another member either. Each member is acknowledged on its own
  // once the request is settled: all of them when it was delivered; a retry resends the
  // whole request; a 415 re-encodes it; anything that would split or refuse it (413,
  // rows refused, an encoding it cannot take) sends the members again one by one, each
  // then settled exactly as if it had never been combined.
  struct Item {
    SpoolRecord record;            // what goes out: for several records, their combined body
    std::shared_ptr<Parts> parts;  // null unless a part of a record
    // The records a combined request stands for, each with its own body (kept to send
    // them alone after all); empty for a single record or part.
    std::vector<SpoolRecord> members;
    std::chrono::steady_clock::time_point arrived{};  // handed over by the replay thread
    bool alone = false;                               // taken out of a combined request: never combined again
  };

  void start(Item item);
  std::optional<std::uint32_t> destination_of(const std::string& key);
  // Item stays in the window; `rejected` refuses it (every member) for good.
  void finish(Item& item, bool rejected);
  void send_in_parts(Item item, std::deque<SpoolRecord> parts);
  // A combined request's members go again one by one, first one next.
  void send_alone(Item item);
  bool combinable(const Item& item) const noexcept;
  // The largest body, and the most rows, one combined request takes.
  std::size_t combined_max_bytes() const noexcept;
  // Takes `first` and the records behind it that may share its request; nullopt when
  // `first` should linger for more (the deadline is in `linger_until`).
  std::optional<Item> take_combined(std::deque<Item>::iterator first,
                                    std::chrono::steady_clock::time_point now,
                                    std::chrono::steady_clock::time_point& linger_until);
  // The members' events as one body in the host's encoding: members.size(), or the index of
  // a member whose body could not be read (0 when encoding failed).
  std::size_t combine_bodies(const std::vector<SpoolRecord>& members, SpoolRecord& into);
  std::optional<std::deque<SpoolRecord>> split_record(const SpoolRecord& record, std::size_t max_raw_bytes);
  std::string first_id(const SpoolRecord& record) const;
  bool transcode(SpoolRecord& record, Compression to);
  void arm_hold_timer();
  void arm_blocked_timer();
  void arm_linger_timer(std::chrono::steady_clock::time_point until);

  const SenderContext& context_;
  Spool& spool_;
  const std::shared_ptr<ReplayWindow> window_;
  Upstream& upstream_;
  const VersionProbe& probe_;
  ProjectResolver& resolver_;
  std::deque<Item> ready_;  // handed out by the spool, waiting for a slot
  std::unordered_map<std::string, std::uint32_t> destinations_;  // record key -> table index
  std::chrono::steady_clock::time_point hold_until_{};           // replay backs off after a failure
  std::unique_ptr<boost::asio::steady_timer> hold_timer_;
  std::unique_ptr<boost::asio::steady_timer> blocked_timer_;  // every waiting record waits for an older one
  std::unique_ptr<boost::asio::steady_timer> linger_timer_;   // small records wait for company
  bool hold_armed_ = false;
  bool blocked_armed_ = false;
  std::optional<std::chrono::steady_clock::time_point> linger_armed_;
  std::uint32_t failures_ = 0;  // in a row
};

}  // namespace spanline::detail
