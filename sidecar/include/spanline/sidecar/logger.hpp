#pragma once
// spanline::sidecar: what the spanlined daemon needs of a Logger beyond the application
// API: rows that arrive as JSON text, admission that never waits, and write-ahead to the
// spool for durable ingest. Part of the spanline::sidecar target, which the daemon links;
// neither libspanline.so nor the -dev package carries it.
//
// Thread safety: as Logger's members, every function may be called from any thread.

#include "core/prepared_row.hpp"  // PreparedRow, DurableResult (an exposed header)

#include <spanline/logger.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

namespace spanline::sidecar {

// Queues a row prepared elsewhere (the sidecar's ingest); counted like any other.
// Throws std::invalid_argument for an unknown handle or an id outside `row.json`.
LogResult log_prepared(Logger& logger, DestinationHandle to, PreparedRow row);

// log_prepared for a caller that must never wait, such as an event loop's thread. Under
// drop_newest and drop_oldest it is log_prepared. Under block and spill, when the
// memory budget has no room it returns empty at once instead of waiting: nothing is
// counted and `row` is left as it was, for the caller to offer again once
// notify_when_room() wakes it (spill has asked for batches to be spooled meanwhile).
// Otherwise `row` has been taken (queued, or dropped and counted). It does not wait
// for a batcher that is behind (Options::block_timeout does not apply).
std::optional<LogResult> try_log_prepared(Logger& logger, DestinationHandle to, PreparedRow& row);

// Runs `wake` once, when room may have been freed in the memory budget (a row settled,
// evicted or dropped) or the logger shuts down, on the thread that freed it (outside
// the budget's lock; a thread's credit handed back as it exits frees room under the
// registry lock of live budgets), at once when already shut down. `wake` must not
// block or throw (post to an event loop). Wakes can be spurious; room freed between a
// refused try_log_prepared and this call is seen by trying once more after it.
void notify_when_room(Logger& logger, std::function<void()> wake);

// Write-ahead for durable ingest (the daemon's ingest.ack = "durable"): writes the
// rows straight to the spool as one record, waits until an fsync covers it, and
// returns durable; the spool's replay then delivers them. Rows sharing an id are
// combined first, as in a batch (a merge row folds into the row before it), so
// upstream receives one event per id. Nothing is written when the result is not
// durable, except on timeout (written, not yet known to be on disk).
DurableResult log_durable(Logger& logger, DestinationHandle to, std::vector<PreparedRow> rows,
                          std::chrono::milliseconds timeout);

}  // namespace spanline::sidecar
