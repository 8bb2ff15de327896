#pragma once
// Destinations known only by project name get their id from POST /v1/project
// (get-or-create). Live batches for such a destination are parked here, still budgeted,
// until the id is known; replay asks for the lookup and tries its record again later.
//
// Every parked batch ends in one Accounting call: handed back on success, rejected when
// the API refuses the name for good (or the table has no name), dropped when retries
// run out, or handed to stop()'s `drop`. io thread only.

#include "transport/anchored.hpp"
#include "transport/job.hpp"

#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>

namespace spanline::detail {

class Upstream;
struct HttpResult;
struct SenderContext;

class ProjectResolver : public Anchored<ProjectResolver> {
 public:
  using Jobs = std::deque<Job>;
  // `on_resolved` takes the parked batches back once their destination has an id;
  // `on_settled` is told when parked batches were settled here (for the drain).
  ProjectResolver(const SenderContext& context, Upstream& upstream, std::function<void(Jobs)> on_resolved,
                  std::function<void()> on_settled);
  ~ProjectResolver();

  // Holds `job` until its destination resolves; starts the lookup if none runs.
  void park(Job job);
  // Starts the lookup for `destination` if none runs.
  void resolve_soon(std::uint32_t destination);
  bool has_parked() const noexcept;
  // Cancels every lookup and hands each parked batch to `drop`.
  void stop(const std::function<void(Batch&)>& drop) noexcept;

 private:
  struct Resolution {
    Jobs parked;
    bool running = false;
    std::uint32_t retries = 0;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  void resolve(std::uint32_t destination);
  void resolve_later(std::uint32_t destination, std::chrono::milliseconds delay);
  void on_project_answer(std::uint32_t destination, HttpResult result);
  // Settles what is parked for `destination` with `settle`; the lookup ends.
  void settle_parked(Resolution& resolution, const std::function<void(Batch&)>& settle);

  const SenderContext& context_;
  Upstream& upstream_;
  std::function<void(Jobs)> on_resolved_;
  std::function<void()> on_settled_;
  std::map<std::uint32_t, Resolution> resolutions_;
  bool stopped_ = false;
};

}  // namespace spanline::detail
