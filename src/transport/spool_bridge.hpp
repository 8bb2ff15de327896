#pragma once
// Between delivery and the spool (only with a spool): the outage clock, writing batches
// to disk (spilling), and diverting rows that must follow an earlier spooled row of the
// same id. Replaying the spool back is replay_feeder.hpp's job.
//
// A spilled batch settles as spooled, or as dropped(spool_full) when the spool refuses
// it. io thread only.

#include "transport/anchored.hpp"
#include "transport/job.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace spanline::detail {

class Spool;
class Upstream;
class VersionProbe;
struct SenderContext;

class SpoolBridge : public Anchored<SpoolBridge> {
 public:
  // `on_outage` runs on the io thread when the outage clock runs out: delivery then
  // spills what waits.
  SpoolBridge(const SenderContext& context, Spool& spool, const Upstream& upstream, const VersionProbe& probe,
              std::function<void()> on_outage);
  ~SpoolBridge();

  // --- the outage clock ---
  // Failing with no 2xx for Options::spool_outage_after.
  bool in_outage() const noexcept;
  void upstream_answered() noexcept;
  // A retriable failure. The first one after a 2xx starts the outage clock.
  void upstream_failed();

  // Writes a batch to the spool, split to the payload limit first so that replay can
  // send each record as it is.
  void spill(Job job);
  // Rows whose id has an earlier row in the spool, not yet acknowledged, go to the
  // spool behind it instead of upstream. False when nothing of the batch is left to send.
  bool divert_followers(Job& job);

  void stop() noexcept;

 private:
  void spill_batch(Batch& batch);

  const SenderContext& context_;
  Spool& spool_;
  const Upstream& upstream_;
  const VersionProbe& probe_;
  std::function<void()> on_outage_;
  std::optional<std::chrono::steady_clock::time_point>
      failing_since_;  // first retriable failure since the last 2xx
  std::unique_ptr<boost::asio::steady_timer> outage_timer_;
  bool stopped_ = false;
};

}  // namespace spanline::detail
