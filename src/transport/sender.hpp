#pragma once
// The Sender: the last stage. Delivers encoded batches to the Braintrust API over
// HTTP/1.1 keep-alive connections (TLS when the base URL is https) from one io
// thread, with an adaptive (AIMD) limit on requests in flight and the pipeline's one
// retry layer (delivery.hpp lists what each answer leads to). Destinations known only
// by project name are resolved first (POST /v1/project, get-or-create); their batches
// wait, still budgeted, until then.
//
// Every batch handed to submit() ends in exactly one Accounting call (each part of a
// split batch does). Batches waiting for a slot, a retry or a project id stay counted
// in the memory budget: that is how backpressure reaches producers.
//
// With a spool (optional), batches that cannot be sent now go to disk, already
// encoded, and settle as spooled: waiting and retrying batches once the upstream has
// failed for Options::spool_outage_after; the oldest waiting batches when make_room()
// is called (overflow = spill, budget full); whatever is left at the shutdown deadline.
// A replay thread streams the spool's records (oldest first) to the io thread, which
// sends them on the same connections as live batches, within a share of the in-flight
// limit and only while few live batches wait. A refused append drops the batch
// (spool_full).
//
// The io thread's work is split into parts that talk through small interfaces
// (upstream.hpp, shipment.hpp), composed in sender.cpp:
//   delivery.hpp         connection pool, request lifecycle, the one outcome handler
//   project_resolver.hpp project names to ids
//   version_probe.hpp    GET /version: the payload limit
//   spool_bridge.hpp     outage clock, spilling, rows diverted behind spooled ones
//   replay_feeder.hpp    spool records back to delivery, acknowledged once settled
//
// Thread safety: submit(), payload_limit(), encoding(), in_flight() and make_room()
// may be called from any thread; start() and shutdown() from the owning thread.

#include "batch/batch_sink.hpp"
#include "transport/version_probe.hpp"  // kDefaultPayloadLimit

#include <spanline/options.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>

namespace boost::asio {
class io_context;
}

namespace spanline::detail {

class Accounting;
class DestinationTable;
class ErrorReporter;
class SenderCore;
class Spool;
class SettledEvents;
struct ReplayWindow;

class Sender : public BatchSink {
 public:
  // Throws std::invalid_argument for a bad api_url or an unreadable ca_file.
  // The references must outlive the Sender.
  // `spool` may be null (no spool); it must outlive the Sender.
  // `settled`, when given, takes settled batches' events to free them on the batcher's
  // thread (settled_events.hpp); it must outlive the Sender.
  Sender(const Options& options, DestinationTable& destinations, Accounting& accounting,
         ErrorReporter& errors, Spool* spool = nullptr, SettledEvents* settled = nullptr);
  ~Sender() override;  // shutdown(now)
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Starts the io thread and the GET /version probe. Calling it twice does nothing.
  void start();
  void submit(Batch batch) noexcept override;
  // Options::max_payload_bytes if set, else what GET /version reported, else 6 MiB.
  std::size_t payload_limit() const noexcept override;
  Compression encoding() const noexcept override;
  // No 429 pause in force, no batch waiting for a slot, a slot free (see BatchSink).
  bool ready_for_batch() const noexcept override;
  // A 429 within the last pause window, or batches waiting for a slot (see BatchSink).
  bool rate_limited() const noexcept override;
  // Options::max_payload_bytes is set, or GET /version answered (or failed).
  bool payload_limit_known() const noexcept override;

  // Stops taking batches (later ones are dropped as shutdown), keeps delivering until
  // `deadline`, then settles whatever is still queued, in flight, waiting to retry or
  // waiting for a project id as dropped(shutdown), and joins the io thread. Returns
  // at `deadline` (plus the time to settle) even when the server hangs. Idempotent.
  void shutdown(std::chrono::steady_clock::time_point deadline) noexcept;

  // Batch requests on the wire now.
  std::size_t in_flight() const noexcept;

  // The memory budget is full under overflow = spill: move the oldest waiting batches
  // to the spool until about half the budget is free. Never blocks; requests made while
  // one is pending fold into it. Does nothing without a spool.
  void make_room() noexcept;

 private:
  void run_replay() noexcept;

  Accounting& accounting_;
  // Declared before core_: destroyed last, which also releases the handlers' hold on the core.
  std::unique_ptr<boost::asio::io_context> io_;
  std::shared_ptr<SenderCore> core_;
  std::thread thread_;
  Spool* const spool_;
  std::shared_ptr<ReplayWindow> replay_window_;
  std::thread replay_thread_;  // only with a spool

  std::mutex lifecycle_mutex_;  // accepting_ against submit(), start/stop against each other
  bool accepting_ = true;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace spanline::detail
