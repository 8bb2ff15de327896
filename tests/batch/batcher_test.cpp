#include "batch/batcher.hpp"
#include "batch/encoder.hpp"

#include "batch/merge.hpp"
#include "codec/codec.hpp"
#include "support/merge_cases.hpp"
#include "support/row_support.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr auto kDeadline = 20s;  // generous: only reached when something is broken

// The sender's place in tests: records every batch, and settles it as delivered so the
// memory budget and counters can be checked end to end.
class MemorySink : public BatchSink {
 public:
  explicit MemorySink(Accounting& accounting) : accounting_(accounting) {}

  void submit(Batch batch) noexcept override {
    accounting_.delivered(batch, batch.raw_body_bytes, batch.body.size());
    {
      std::lock_guard lock(mutex_);
      rows_ += batch.source_rows();
      batches_.push_back(std::move(batch));
    }
    changed_.notify_all();
  }
  std::size_t payload_limit() const noexcept override { return payload_limit_.load(); }
  Compression encoding() const noexcept override { return encoding_.load(); }
  bool ready_for_batch() const noexcept override {
    readiness_asked_.fetch_add(1);
    return ready_.load();
  }

  bool rate_limited() const noexcept override {
    rate_limit_asked_.fetch_add(1);
    return rate_limited_.load();
  }
  std::uint64_t rate_limit_asked() const { return rate_limit_asked_.load(); }
  bool payload_limit_known() const noexcept override { return limit_known_.load(); }
  void set_payload_limit_known(bool known) { limit_known_ = known; }

  void set_payload_limit(std::size_t limit) { payload_limit_ = limit; }
  void set_rate_limited(bool limited) { rate_limited_ = limited; }
  void set_encoding(Compression encoding) { encoding_ = encoding; }
  void set_ready(bool ready) { ready_ = ready; }
  std::uint64_t readiness_asked() const { return readiness_asked_.load(); }

  // True once at least `rows` source rows arrived.
  bool wait_for_rows(std::uint64_t rows) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return rows_ >= rows; });
  }
  std::vector<Batch> batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  std::uint64_t rows() const {
    std::lock_guard lock(mutex_);
    return rows_;
  }

 private:
  Accounting& accounting_;
  std::atomic<std::size_t> payload_limit_{std::size_t{6} << 20};
  std::atomic<Compression> encoding_{Compression::zstd};
  std::atomic<bool> ready_{true};
  std::atomic<bool> rate_limited_{false};
  mutable std::atomic<std::uint64_t> rate_limit_asked_{0};
  std::atomic<bool> limit_known_{true};
  mutable std::atomic<std::uint64_t> readiness_asked_{0};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Batch> batches_;
  std::uint64_t rows_ = 0;
};

// A Row as the logger would queue it.
Row make_row(std::uint32_t destination, std::string json_text) {
  const bool merge = is_merge_row(json::parse(json_text).as_object());
  return row_test::row_from_text(std::move(json_text), merge, destination);
}

// `{"id":"<id>","n":<n>,"pad":"xxx..."}` of exactly `size` bytes when size is large enough.
std::string row_json(const std::string& id, std::size_t n, std::size_t size = 0, bool merge = false) {
  std::string s = R"({"id":")" + id + R"(","n":)" + std::to_string(n) + R"(,"_is_merge":)" +
                  (merge ? "true" : "false") + R"(,"pad":")";
  if (s.size() + 2 < size) s.append(size - s.size() - 2, 'x');
  s += "\"}";
  return s;
}

struct Pipeline {
  // Two encoder workers, so the tests also see that batches keep their order through it.
  explicit Pipeline(BatcherConfig config)
      : encoder(EncoderConfig{.threads = 2}, sink, accounting, errors), batcher(config, queue, encoder, accounting, errors) {
    encoder.start();
    errors.set_handler([this](const ErrorReport& report) {
      std::lock_guard lock(reports_mutex);
      reports.push_back(report);
    });
  }
  ~Pipeline() { stop(); }

  // Drains the batcher, then waits for the encoder to hand everything to the sink.
  void stop() {
    batcher.stop();
    encoder.stop();
  }

  void push(Row row) {
    ASSERT_TRUE(budget.try_acquire(row.budget_bytes()));
    counters.rows_in.fetch_add(1);
    ASSERT_TRUE(queue.push(std::move(row)));
  }
  void push(std::uint32_t destination, std::string json_text) {
    push(make_row(destination, std::move(json_text)));
  }

  std::size_t report_count() {
    std::lock_guard lock(reports_mutex);
    return reports.size();
  }

  PipelineCounters counters;
  MemoryBudget budget{std::uint64_t{1} << 32, 10'000'000};
  Accounting accounting{counters, budget};
  RowQueue queue;
  ErrorReporter errors{0ms};
  MemorySink sink{accounting};
  std::mutex reports_mutex;
  std::vector<ErrorReport> reports;
  Encoder encoder;
  Batcher batcher;
};

json::array decode_events(const Batch& batch) {
  const std::string raw = decompress(batch.encoding, batch.body, std::size_t{64} << 20);
  EXPECT_EQ(raw.size(), batch.raw_body_bytes);
  return json::parse(raw).at("events").as_array();
}

std::vector<std::string> ids_of(const Batch& batch) {
  std::vector<std::string> ids;
  for (const auto& event : decode_events(batch)) ids.emplace_back(event.at("id").as_string().c_str());
  return ids;
}

BatcherConfig slow_config() {
  return BatcherConfig{.batch_max_bytes = 1 << 20, .batch_max_rows = 10'000, .linger = std::chrono::hours(1)};
}

TEST(Batcher, GroupsRowsByDestination) {
  Pipeline p(slow_config());
  p.batcher.start();
  for (int i = 0; i < 10; ++i) {
    p.push(0, row_json("a" + std::to_string(i), i));
    p.push(1, row_json("b" + std::to_string(i), i));
  }
  p.stop();
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 2u);
  for (const auto& batch : batches) {
    const std::string prefix = batch.destination == 0 ? "a" : "b";
    const auto ids = ids_of(batch);
    ASSERT_EQ(ids.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(ids[i], prefix + std::to_string(i));
  }
  EXPECT_NE(batches[0].destination, batches[1].destination);
}

TEST(Batcher, ClosesOnBytes) {
  auto config = slow_config();
  config.batch_max_bytes = 4096;
  Pipeline p(config);
  p.batcher.start();
  constexpr int kRows = 50;
  for (int i = 0; i < kRows; ++i) p.push(0, row_json(std::to_string(i), i, 500));
  // 8 rows of 500 bytes fit in 4096: six batches must close with no linger, flush or stop.
  ASSERT_TRUE(p.sink.wait_for_rows(48));
  const auto before_stop = p.sink.batches();
  ASSERT_EQ(before_stop.size(), 6u);
  p.stop();
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 7u);
  std::vector<std::string> ids;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    EXPECT_LE(batches[b].raw_body_bytes, 4096u);
    EXPECT_EQ(batches[b].raw_body_bytes, batches[b].body_size());
    if (b + 1 < batches.size()) {
      EXPECT_GT(batches[b].raw_body_bytes + 501, 4096u);
    }
    for (auto& id : ids_of(batches[b])) ids.push_back(std::move(id));
  }
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kRows));
  for (int i = 0; i < kRows; ++i) EXPECT_EQ(ids[i], std::to_string(i));
}

TEST(Batcher, PayloadLimitCapsBatches) {
  Pipeline p(slow_config());  // batch_max_bytes 1 MiB, but the server takes 2000
  p.sink.set_payload_limit(2000);
  p.batcher.start();
  for (int i = 0; i < 40; ++i) p.push(0, row_json(std::to_string(i), i, 300));
  p.stop();
  const auto batches = p.sink.batches();
  ASSERT_GT(batches.size(), 5u);
  std::uint64_t rows = 0;
  for (const auto& batch : batches) {
    EXPECT_LE(batch.raw_body_bytes, 2000u);
    rows += batch.source_rows();
  }
  EXPECT_EQ(rows, 40u);
}

// Waits until the batcher has taken every queued row.
void wait_queue_empty(Pipeline& p) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (p.queue.size_approx() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(p.queue.size_approx(), 0u);
}

// Closes the open batches and waits until `rows` rows in all reached the sink.
void flush(Pipeline& p, std::uint64_t rows) {
  p.batcher.begin_flush();
  ASSERT_TRUE(p.sink.wait_for_rows(rows));
  p.batcher.end_flush();
}

// A rate-limited host: batches grow past batch_max_bytes up to the payload limit, never
// past it, and shrink back to batch_max_bytes once the host is no longer limited.
TEST(Batcher, GrowsToThePayloadLimitWhileRateLimitedAndShrinksBackAfter) {
  auto config = slow_config();
  config.batch_max_bytes = 4096;
  Pipeline p(config);
  p.sink.set_payload_limit(20'000);
  p.sink.set_rate_limited(true);
  p.batcher.start();
  // Rows go in a few at a time, each group taken before the next: the queue never holds
  // more than batch_max_bytes, so only the sink's signal can grow the batches.
  std::size_t n = 0;
  const auto push_in_groups = [&](int rows) {
    for (int i = 0; i < rows; ++i, ++n) {
      p.push(0, row_json(std::to_string(n), n, 500));
      if (i % 4 == 3) wait_queue_empty(p);
    }
    wait_queue_empty(p);
  };
  push_in_groups(200);  // 100 KB: five payload-limit batches
  flush(p, 200);
  const auto grown = p.sink.batches();
  std::size_t big = 0;
  for (const auto& batch : grown) {
    EXPECT_LE(batch.raw_body_bytes, 20'000u);
    EXPECT_LE(batch.body.size(), 20'000u);
    if (batch.raw_body_bytes > 4096) ++big;
  }
  // 39 rows of 500 bytes fit in 20,000: every batch but the flushed last one is full.
  EXPECT_GE(big, grown.size() - 1);
  EXPECT_GE(grown.front().raw_body_bytes + 501, 20'000u);

  p.sink.set_rate_limited(false);  // the pressure ends
  push_in_groups(100);
  flush(p, 300);
  const auto all = p.sink.batches();
  ASSERT_GT(all.size(), grown.size() + 5);
  for (std::size_t b = grown.size(); b < all.size(); ++b) EXPECT_LE(all[b].raw_body_bytes, 4096u) << b;
}

// Before the server told its limit, the sink's 6 MiB is a guess: batches stay at
// batch_max_bytes however rate-limited the host or long the queue.
TEST(Batcher, DoesNotGrowBatchesBeforeThePayloadLimitIsKnown) {
  auto config = slow_config();
  config.batch_max_bytes = 4096;
  Pipeline p(config);
  p.sink.set_payload_limit(20'000);
  p.sink.set_payload_limit_known(false);
  p.sink.set_rate_limited(true);
  for (int i = 0; i < 3'000; ++i) p.push(0, row_json(std::to_string(i), i, 500));
  p.batcher.start();
  p.stop();
  const auto batches = p.sink.batches();
  ASSERT_GT(batches.size(), 300u);
  for (const auto& batch : batches) EXPECT_LE(batch.raw_body_bytes, 4096u);
}

// A deep row queue alone keeps batch_max_bytes: the sink is keeping up, and larger
// batches would only hold more of the memory budget at once.
TEST(Batcher, AQueueBacklogAloneDoesNotGrowBatches) {
  auto config = slow_config();
  config.batch_max_bytes = 4096;
  Pipeline p(config);
  p.sink.set_payload_limit(20'000);
  // Queued before the batcher starts: its first drain leaves ~1 MB behind.
  constexpr int kRows = 3'000;
  for (int i = 0; i < kRows; ++i) p.push(0, row_json(std::to_string(i), i, 500));
  p.batcher.start();
  p.stop();
  const auto batches = p.sink.batches();
  std::uint64_t rows = 0;
  std::size_t big = 0;
  for (const auto& batch : batches) {
    EXPECT_LE(batch.raw_body_bytes, 20'000u);
    rows += batch.source_rows();
    if (batch.raw_body_bytes > 4096) ++big;
  }
  EXPECT_EQ(rows, std::uint64_t{kRows});
  EXPECT_EQ(big, 0u);
  EXPECT_GT(batches.size(), 300u);
}

TEST(Batcher, ClosesOnRows) {
  auto config = slow_config();
  config.batch_max_rows = 10;
  Pipeline p(config);
  p.batcher.start();
  for (int i = 0; i < 35; ++i) p.push(0, row_json(std::to_string(i), i));
  ASSERT_TRUE(p.sink.wait_for_rows(30));
  const auto before_stop = p.sink.batches();
  ASSERT_EQ(before_stop.size(), 3u);
  for (const auto& batch : before_stop) EXPECT_EQ(batch.events.size(), 10u);
  p.stop();
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[3].events.size(), 5u);
}

TEST(Batcher, ClosesOnLinger) {
  auto config = slow_config();
  config.linger = 20ms;
  Pipeline p(config);
  p.batcher.start();
  for (int i = 0; i < 5; ++i) p.push(0, row_json(std::to_string(i), i));
  // Neither stop nor flush: only the linger deadline can close the batch.
  ASSERT_TRUE(p.sink.wait_for_rows(5));
  EXPECT_EQ(p.sink.rows(), 5u);
  // And it keeps working for rows that come after an idle period.
  p.push(0, row_json("late", 99));
  ASSERT_TRUE(p.sink.wait_for_rows(6));
}

// Polls `condition` until it holds or the deadline passes.
template <typename Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A 429 storm: while the sender cannot start a batch, linger must not cut the open
// batch into many small ones that would queue behind the pause.
TEST(Batcher, KeepsGrowingPastLingerWhileTheSinkIsNotReady) {
  auto config = slow_config();
  config.linger = 2ms;
  Pipeline p(config);
  p.sink.set_ready(false);
  p.batcher.start();
  for (int i = 0; i < 10; ++i) p.push(0, row_json(std::to_string(i), i));
  // Every question the batcher asks after the rows are due is a linger close it held back.
  ASSERT_TRUE(eventually([&] { return p.queue.size_approx() == 0; }));
  const std::uint64_t asked = p.sink.readiness_asked();
  ASSERT_TRUE(eventually([&] { return p.sink.readiness_asked() >= asked + 10; }));
  EXPECT_EQ(p.sink.batches().size(), 0u);
  for (int i = 10; i < 20; ++i) p.push(0, row_json(std::to_string(i), i));
  ASSERT_TRUE(eventually([&] { return p.queue.size_approx() == 0; }));
  const std::uint64_t asked_again = p.sink.readiness_asked();
  ASSERT_TRUE(eventually([&] { return p.sink.readiness_asked() >= asked_again + 3; }));
  EXPECT_EQ(p.sink.batches().size(), 0u);

  p.sink.set_ready(true);  // the pause ends: everything leaves as one batch
  ASSERT_TRUE(p.sink.wait_for_rows(20));
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].events.size(), 20u);
  // And once the sink is ready, linger closes batches as before.
  p.push(0, row_json("later", 20));
  ASSERT_TRUE(p.sink.wait_for_rows(21));
  EXPECT_EQ(p.sink.batches().size(), 2u);
}

// Between pauses a rate-limited host is ready for a batch, but each request it allows
// should carry a full one: linger waits until the host is no longer rate-limited.
TEST(Batcher, KeepsGrowingPastLingerWhileTheHostIsRateLimited) {
  auto config = slow_config();
  config.linger = 2ms;
  Pipeline p(config);
  p.sink.set_rate_limited(true);
  p.batcher.start();
  for (int i = 0; i < 10; ++i) p.push(0, row_json(std::to_string(i), i));
  ASSERT_TRUE(eventually([&] { return p.queue.size_approx() == 0; }));
  // The batcher asks at every drain; ten more drains are well past the 2 ms linger.
  const std::uint64_t asked = p.sink.rate_limit_asked();
  ASSERT_TRUE(eventually([&] { return p.sink.rate_limit_asked() >= asked + 10; }));
  EXPECT_EQ(p.sink.batches().size(), 0u);

  p.sink.set_rate_limited(false);
  ASSERT_TRUE(p.sink.wait_for_rows(10));
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].events.size(), 10u);
}

TEST(Batcher, SizeLimitsAndFlushStillCloseWhileTheSinkIsNotReady) {
  auto config = slow_config();
  config.linger = 1ms;
  config.batch_max_rows = 8;
  Pipeline p(config);
  p.sink.set_ready(false);
  p.batcher.start();
  for (int i = 0; i < 20; ++i) p.push(0, row_json(std::to_string(i), i));
  ASSERT_TRUE(p.sink.wait_for_rows(16));  // two full batches close on rows
  ASSERT_TRUE(eventually([&] { return p.queue.size_approx() == 0; }));
  EXPECT_EQ(p.sink.batches().size(), 2u);
  p.batcher.begin_flush();  // a flush does not wait for the sink to become ready
  ASSERT_TRUE(p.sink.wait_for_rows(20));
  p.batcher.end_flush();
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].events.size(), 4u);
}

TEST(Batcher, ClosesOnFlush) {
  Pipeline p(slow_config());
  p.batcher.start();
  for (int i = 0; i < 5; ++i) p.push(0, row_json(std::to_string(i), i));
  p.batcher.begin_flush();
  ASSERT_TRUE(p.sink.wait_for_rows(5));
  p.batcher.end_flush();
  p.push(0, row_json("after", 5));
  p.stop();
  const auto batches = p.sink.batches();
  std::uint64_t rows = 0;
  for (const auto& batch : batches) rows += batch.source_rows();
  EXPECT_EQ(rows, 6u);
  EXPECT_EQ(ids_of(batches.back()).back(), "after");
}

TEST(Batcher, ClosesOnStop) {
  Pipeline p(slow_config());
  p.batcher.start();
  for (int i = 0; i < 100; ++i) p.push(i % 3, row_json(std::to_string(i), i));
  p.stop();
  EXPECT_EQ(p.sink.rows(), 100u);
  EXPECT_EQ(p.sink.batches().size(), 3u);
  p.stop();  // idempotent
  EXPECT_EQ(p.sink.batches().size(), 3u);
}

TEST(Batcher, StopWithoutStartDrainsOnTheCaller) {
  Pipeline p(slow_config());
  for (int i = 0; i < 10; ++i) p.push(0, row_json(std::to_string(i), i));
  p.stop();
  EXPECT_EQ(p.sink.rows(), 10u);
  p.batcher.start();  // after stop: does nothing
  EXPECT_EQ(p.sink.rows(), 10u);
}

TEST(Batcher, IgnoresWakeUpSentinels) {
  Pipeline p(slow_config());
  p.batcher.start();
  p.queue.wake();
  p.push(0, row_json("x", 1));
  p.queue.wake();
  p.stop();
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(ids_of(batches[0]), std::vector<std::string>{"x"});
}

TEST(Batcher, EncodesWithTheSinksEncoding) {
  for (const Compression encoding : {Compression::zstd, Compression::gzip, Compression::none}) {
    Pipeline p(slow_config());
    p.sink.set_encoding(encoding);
    p.batcher.start();
    for (int i = 0; i < 200; ++i) p.push(0, row_json(std::to_string(i), i, 400));
    p.stop();
    const auto batches = p.sink.batches();
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0].encoding, encoding);
    EXPECT_EQ(decode_events(batches[0]).size(), 200u);
    if (encoding != Compression::none) {
      EXPECT_LT(batches[0].body.size(), batches[0].raw_body_bytes);
    }
  }
}

TEST(Batcher, CoalescesEveryMergeCase) {
  for (const auto& c : test::merge_cases()) {
    SCOPED_TRACE(c.name);
    Pipeline p(slow_config());
    p.batcher.start();
    p.push(0, row_json("before", 0));
    p.push(0, c.earlier);
    p.push(0, row_json("between", 1));
    p.push(0, c.later);
    p.stop();
    const auto batches = p.sink.batches();
    ASSERT_EQ(batches.size(), 1u);
    const json::array events = decode_events(batches[0]);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].at("id"), "before");
    EXPECT_EQ(events[1], json::parse(c.expected)) << "got      " << json::serialize(events[1]) << "\n"
                                                  << "expected " << c.expected;
    EXPECT_EQ(events[2].at("id"), "between");
    EXPECT_EQ(batches[0].events[1].source_rows, 2u);
    EXPECT_EQ(batches[0].source_rows(), 4u);
    EXPECT_EQ(p.counters.rows_coalesced.load(), 1u);
  }
}

TEST(Batcher, CoalescesOnlyWithinOneDestination) {
  Pipeline p(slow_config());
  p.batcher.start();
  p.push(0, row_json("same", 0));
  p.push(1, row_json("same", 1, 0, true));
  p.stop();
  EXPECT_EQ(p.sink.batches().size(), 2u);
  EXPECT_EQ(p.counters.rows_coalesced.load(), 0u);
}

TEST(Batcher, SpanRowsCoalesceAcrossManyIds) {
  // start, log, end rows for 500 spans, interleaved the way concurrent spans log.
  Pipeline p(slow_config());
  p.batcher.start();
  constexpr int kSpans = 500;
  for (int step = 0; step < 3; ++step) {
    for (int s = 0; s < kSpans; ++s) {
      const std::string id = "span-" + std::to_string(s);
      if (step == 0)
        p.push(0, R"({"id":")" + id + R"(","_is_merge":false,"metrics":{"start":1},"tags":["a"]})");
      if (step == 1) p.push(0, R"({"id":")" + id + R"(","_is_merge":true,"output":"o","tags":["b"]})");
      if (step == 2) p.push(0, R"({"id":")" + id + R"(","_is_merge":true,"metrics":{"end":2}})");
    }
  }
  p.stop();
  const auto batches = p.sink.batches();
  ASSERT_EQ(batches.size(), 1u);
  const auto events = decode_events(batches[0]);
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kSpans));
  for (int s = 0; s < kSpans; ++s) {
    const auto expected =
        json::parse(R"({"id":"span-)" + std::to_string(s) +
                    R"(","_is_merge":false,"metrics":{"start":1,"end":2},"tags":["a","b"],"output":"o"})");
    EXPECT_EQ(events[s], expected) << json::serialize(events[s]);
  }
  EXPECT_EQ(p.counters.rows_coalesced.load(), 2u * kSpans);
  EXPECT_EQ(batches[0].source_rows(), 3u * kSpans);
}

TEST(Batcher, TooLargeRowIsDroppedAndReported) {
  Pipeline p(slow_config());
  p.sink.set_payload_limit(2000);
  p.batcher.start();
  p.push(0, row_json("small-1", 1, 100));
  p.push(0, row_json("huge", 2, 2000 - kEnvelopeBytes + 1));
  p.push(0, row_json("fits", 3, 2000 - kEnvelopeBytes));  // exactly at the limit: kept
  p.push(0, row_json("small-2", 4, 100));
  p.stop();
  EXPECT_EQ(p.counters.rows_dropped[static_cast<std::size_t>(DropReason::too_large)].load(), 1u);
  EXPECT_EQ(p.sink.rows(), 3u);
  std::vector<std::string> ids;
  for (const auto& batch : p.sink.batches())
    for (auto& id : ids_of(batch)) ids.push_back(std::move(id));
  EXPECT_EQ(ids, (std::vector<std::string>{"small-1", "fits", "small-2"}));
  EXPECT_GE(p.report_count(), 1u);
  EXPECT_EQ(p.budget.bytes_in_use(), 0u);
  EXPECT_EQ(p.budget.rows_in_use(), 0u);
}

TEST(Batcher, NothingLostAndAccountingSums) {
  auto config = slow_config();
  config.batch_max_bytes = 64 << 10;
  config.batch_max_rows = 300;
  config.linger = 1ms;
  Pipeline p(config);
  p.batcher.start();
  constexpr std::uint64_t kRows = 30'000;
  std::uint64_t budget_pushed = 0;
  for (std::uint64_t i = 0; i < kRows; ++i) {
    // Every fourth row merges into a row logged a few rows earlier, often in the same batch.
    const bool merge = i % 4 == 3;
    const std::string id = merge ? "r" + std::to_string(i - 2) : "r" + std::to_string(i);
    Row row = make_row(static_cast<std::uint32_t>(i % 3), row_json(id, i, 100 + i % 400, merge));
    budget_pushed += row.budget_bytes();
    p.push(std::move(row));
    if (i == kRows / 2) p.batcher.begin_flush();
    if (i == kRows / 2 + 1000) p.batcher.end_flush();
  }
  ASSERT_TRUE(p.sink.wait_for_rows(kRows));  // linger alone closes the last batches
  p.stop();
  std::uint64_t rows = 0, budget = 0, events = 0;
  for (const auto& batch : p.sink.batches()) {
    rows += batch.source_rows();
    budget += batch.budget_bytes();
    events += batch.events.size();
    EXPECT_LE(batch.events.size(), 300u);
    EXPECT_LE(batch.raw_body_bytes, std::size_t{64} << 10);
  }
  EXPECT_EQ(rows, kRows);
  EXPECT_EQ(budget, budget_pushed);
  EXPECT_EQ(events + p.counters.rows_coalesced.load(), kRows);
  EXPECT_EQ(p.counters.rows_delivered.load(), kRows);
  EXPECT_EQ(p.budget.bytes_in_use(), 0u);
  EXPECT_EQ(p.budget.rows_in_use(), 0u);
}

TEST(Batcher, ManyProducersNothingLost) {
  auto config = slow_config();
  config.batch_max_bytes = 32 << 10;
  config.linger = 2ms;
  Pipeline p(config);
  p.batcher.start();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&p, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Row row = make_row(static_cast<std::uint32_t>(t % 2),
                           row_json(std::to_string(t) + "-" + std::to_string(i), i, 200));
        if (!p.budget.try_acquire(row.budget_bytes())) std::abort();
        if (!p.queue.push(std::move(row))) std::abort();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  p.stop();
  EXPECT_EQ(p.sink.rows(), static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(p.budget.rows_in_use(), 0u);
  // Each producer's rows stay in order within its destination.
  std::vector<int> next(kThreads, 0);
  for (const auto& batch : p.sink.batches()) {
    for (const auto& id : ids_of(batch)) {
      const int t = std::stoi(id.substr(0, id.find('-')));
      const int i = std::stoi(id.substr(id.find('-') + 1));
      EXPECT_EQ(i, next[t]) << id;
      next[t] = i + 1;
    }
  }
}

// A sink whose submit() waits until the test lets it go: the batcher stuck handing on a
// batch, as when every encoder worker is busy.
class GateSink : public BatchSink {
 public:
  explicit GateSink(Accounting& accounting) : accounting_(accounting) {}

  void submit(Batch batch) noexcept override {
    std::unique_lock lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    rows_ += batch.source_rows();
    accounting_.delivered(batch, batch.raw_body_bytes, batch.body.size());
  }
  std::size_t payload_limit() const noexcept override { return std::size_t{6} << 20; }
  Compression encoding() const noexcept override { return Compression::none; }
  bool ready_for_batch() const noexcept override { return true; }

  bool wait_until_entered() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return entered_ > 0; });
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }
  std::uint64_t rows() const {
    std::lock_guard lock(mutex_);
    return rows_;
  }

 private:
  Accounting& accounting_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t entered_ = 0;
  bool open_ = false;
  std::uint64_t rows_ = 0;
};

TEST(Batcher, TellsProducersItIsBehindBeforeItWaitsToHandOnABatch) {
  PipelineCounters counters;
  MemoryBudget budget{std::uint64_t{1} << 32, 10'000'000};
  Accounting accounting{counters, budget};
  RowQueue queue;
  ErrorReporter errors{0ms};
  GateSink sink(accounting);
  Backlog backlog(10'000);
  // One row per batch: the first row drained closes a batch, and the sink holds it.
  Batcher batcher(BatcherConfig{.batch_max_bytes = 1 << 20, .batch_max_rows = 1, .linger = std::chrono::hours(1)},
                  queue, sink, accounting, errors, &backlog);
  // A drain takes at most 1,024 rows: about 200 KB of these stay queued behind it.
  constexpr int kRows = 3000;
  for (int i = 0; i < kRows; ++i) {
    Row row = make_row(0, row_json(std::to_string(i), i, 100));
    ASSERT_TRUE(budget.try_acquire(row.budget_bytes()));
    counters.rows_in.fetch_add(1);
    ASSERT_TRUE(queue.push(std::move(row)));
  }
  batcher.start();
  ASSERT_TRUE(sink.wait_until_entered());
  EXPECT_TRUE(backlog.behind());
  sink.open();
  batcher.stop();  // drains the rest; its last drain finds the queue empty
  EXPECT_FALSE(backlog.behind());
  EXPECT_EQ(sink.rows(), static_cast<std::uint64_t>(kRows));
}

}  // namespace
}  // namespace spanline::detail
