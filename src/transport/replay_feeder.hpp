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

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace spanline::detail {

class ProjectResolver;
class Spool;
class Upstream;
class VersionProbe;
struct SenderContext;

// Spool records handed from the replay thread to the io thread and not yet finished
// (acknowledged, or left for the next run): bounded, so replay never holds more than a
// few records in memory however large the backlog. Thread-safe.
struct ReplayWindow {
  explicit ReplayWindow(std::size_t slots) : capacity(slots) {}

  // Waits for a free slot and takes it; false once stopping.
  bool acquire();
  void release() noexcept;
  void stop() noexcept;

  const std::size_t capacity;
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t outstanding = 0;
  bool stopping = false;
};

class ReplayFeeder : public Anchored<ReplayFeeder> {
 public:
  ReplayFeeder(const SenderContext& context, Spool& spool, std::shared_ptr<ReplayWindow> window,
               Upstream& upstream, const VersionProbe& probe, ProjectResolver& resolver);
  ~ReplayFeeder();

  // A record from the replay thread; it holds one window slot until it is acknowledged.
  void enqueue(SpoolRecord record);
  bool has_waiting() const noexcept { return !ready_.empty(); }
  // Records wait, and may be sent: the payload limit is known, since records may have
  // been written under a larger one than the host's (GET /version answers or fails
  // quickly), and should go in parts rather than into a 413.
  bool sendable() const noexcept;
  // Starts the oldest record that may go (or settles it, or sets it aside for later).
  // False when every waiting record must wait (a backoff hold, or older records sharing
  // row ids not yet acknowledged): a timer wakes delivery later.
  bool start_next();
  // Records not acknowledged stay in the spool for the next run.
  void stop() noexcept;

 private:
  class Shipment;  // a record on the wire, as delivery's outcome handler sees it
  // A record split because the host refused it as too large (413), isolating refused
  // rows, or because it is over the host's payload limit: its parts go one after the
  // other, in order, so rows of one id inside it stay in order too. The record is
  // acknowledged (and its window slot freed) once the last part is settled.
  struct Parts {
    std::deque<SpoolRecord> waiting;  // not sent yet, in order
    bool rejected = false;            // some part was refused for good
    // Requests left for isolating refused rows (isolation_budget()); set at the first 400/422.
    std::optional<std::uint64_t> isolation_left;
  };
  // A record, or one part of it (same RecordId), waiting to be sent or on the wire.
  struct Item {
    SpoolRecord record;
    std::shared_ptr<Parts> parts;  // null for a whole record
  };

  void start(Item item);
  std::optional<std::uint32_t> destination_of(const std::string& key);
  void finish(Item& item, bool rejected);
  void send_in_parts(Item item, std::deque<SpoolRecord> parts);
  std::optional<std::deque<SpoolRecord>> split_record(const SpoolRecord& record, std::size_t max_raw_bytes);
  std::string first_id(const SpoolRecord& record) const;
  bool transcode(SpoolRecord& record, Compression to);
  void arm_hold_timer();
  void arm_blocked_timer();

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
  bool hold_armed_ = false;
  bool blocked_armed_ = false;
  std::uint32_t failures_ = 0;  // in a row
};

}  // namespace spanline::detail
