// The sender's per-batch bookkeeping of row ids (transport/live_order.hpp): every batch
// takes its place in line, is asked whether it may go, and lets go once settled, with a
// few batches in flight at a time.

#include "spool/row_keys.hpp"
#include "transport/live_order.hpp"

#include <benchmark/benchmark.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace spanline::detail {
namespace {

// Batches of `events` ids each, as the coalescer closes them: ids are distinct inside a
// batch, and one in a hundred belongs to a span that started in the batch before.
std::vector<Batch> batches_of(std::size_t events, std::size_t count) {
  std::vector<Batch> batches(count);
  std::uint64_t next_id = 0;
  for (std::size_t b = 0; b < count; ++b) {
    for (std::size_t i = 0; i < events; ++i) {
      BatchEvent event;
      const bool straddles = b > 0 && i % 100 == 0;
      event.id_key =
          straddles ? batches[b - 1].events[i].id_key : row_key("span-" + std::to_string(next_id++));
      batches[b].events.push_back(std::move(event));
    }
  }
  return batches;
}

void BM_LiveOrderBatch(benchmark::State& state) {
  const auto events = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kInFlight = 4;
  const std::vector<Batch> batches = batches_of(events, 16);
  LiveOrder order;
  std::deque<std::shared_ptr<LiveOrder::Hold>> in_flight;
  std::size_t next = 0;
  for (auto _ : state) {
    auto hold = order.hold(batches[next++ % batches.size()]);
    benchmark::DoNotOptimize(hold->first_in_line());
    in_flight.push_back(std::move(hold));
    if (in_flight.size() > kInFlight) in_flight.pop_front();  // the oldest is delivered
  }
  in_flight.clear();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * events));
}
BENCHMARK(BM_LiveOrderBatch)->Arg(1000)->Arg(4000);

}  // namespace
}  // namespace spanline::detail
