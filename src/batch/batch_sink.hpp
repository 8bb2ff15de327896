#pragma once
// The batcher's view of the next stage.

#include "batch/batch.hpp"

#include <spanline/options.hpp>

namespace spanline::detail {

class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // Takes ownership of an encoded batch. Thread-safe; never blocks for long.
  virtual void submit(Batch batch) noexcept = 0;
  // Largest request body (uncompressed) the server accepts, as known so far.
  virtual std::size_t payload_limit() const noexcept = 0;
  // True once payload_limit() is the server's answer (or a configured or fallback value it
  // will keep), not a guess made before the server was asked.
  virtual bool payload_limit_known() const noexcept { return true; }
  // The encoding the sender currently uses for its host (after any 415 fallback).
  virtual Compression encoding() const noexcept = 0;
  // True when a batch submitted now would start sending at once: no pause in force,
  // nothing waiting, a request slot free. The batcher keeps growing a batch past its
  // linger while this is false. A hint read from the batcher's thread; any answer is safe.
  virtual bool ready_for_batch() const noexcept { return true; }
  // True while the host limits the request rate: a 429 answered within the last pause
  // window, or batches waiting at the sender for a pause to end or a slot to free. Each
  // request is then worth as many rows as the host takes in one, and the batcher lets
  // batches grow to payload_limit() instead of its latency-friendly size. A hint read
  // from the batcher's thread; any answer is safe.
  virtual bool rate_limited() const noexcept { return false; }
};

}  // namespace spanline::detail
