// End-to-end: the in-process Logger against the fake Braintrust API on loopback.
#include <spanline/logger.hpp>

#include "fake_api.hpp"

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <random>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;

constexpr const char* kProject = "5a1e3c9e-4d2b-4f6a-9c1d-2b3e4f5a6b7c";
constexpr const char* kOtherProject = "7b2f4d0f-5e3c-4a7b-8d2e-3c4f5a6b7c8d";

// Producers here outrun the pipeline on purpose and wait for room (OverflowPolicy::block).
// The default 200 ms wait drops rows when the machine is starved of CPU (a loaded CI
// box); these tests are about delivery, not about that timeout, so the wait is long.
Options options_for(const FakeApi& api) {
  return Options{.api_key = "test-key", .api_url = api.base_url(), .block_timeout = 30s, .linger = 5ms,
                 .retry_base_delay = 10ms, .retry_max_delay = 200ms};
}

Fields llm_fields(int i) {
  Fields f;
  f.string("input", "Summarize the following support ticket number " + std::to_string(i) +
                        ": the customer reports that the export button does nothing on Firefox.");
  f.string("output", "The export button fails silently on Firefox; the customer needs a CSV export today.");
  f.scores({{"helpfulness", 0.75}}).metadata({{"model", "gpt-4o-mini"}}).tags({"support"});
  f.metrics({{"prompt_tokens", 48}, {"completion_tokens", 21}});
  return f;
}

// Collects error reports from spanline's threads.
struct Reports {
  std::mutex mutex;
  std::vector<ErrorReport> all;
  ErrorHandler handler() {
    return [this](const ErrorReport& report) {
      std::lock_guard lock(mutex);
      all.push_back(report);
    };
  }
  std::vector<ErrorReport> snapshot() {
    std::lock_guard lock(mutex);
    return all;
  }
};

TEST(LoggerE2E, HundredThousandSpansFromFourThreadsArriveExactlyOnce) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Options options = options_for(api);
  options.encode_threads = 3;  // batches encoded in parallel still arrive exactly once
  Logger logger(options);
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kThreads = 4;
  constexpr int kSpansPerThread = 25'000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kSpansPerThread; ++i) {
        Span span = logger.start_span(to, {.name = "chat", .type = "llm"}, llm_fields(i));
        if (i % 1000 == 0) ids[t].emplace_back(span.id());
        (void)span.end();
      }
    });
  }
  for (auto& producer : producers) producer.join();
  const FlushResult flushed = logger.flush(120s);
  ASSERT_TRUE(flushed.complete) << "pending " << flushed.pending;
  EXPECT_EQ(flushed.dropped, 0u);
  EXPECT_EQ(flushed.rejected, 0u);
  EXPECT_EQ(flushed.delivered, 2u * kThreads * kSpansPerThread);  // start + end rows

  const auto server = api.stats();
  EXPECT_EQ(server.unique_rows, std::uint64_t{kThreads} * kSpansPerThread);
  EXPECT_EQ(api.row_count("project_logs", kProject), std::size_t{kThreads} * kSpansPerThread);
  const Stats stats = logger.stats();
  EXPECT_EQ(server.rows_received, stats.events_sent);  // nothing was sent twice
  for (const auto& list : ids) {
    for (const std::string& id : list) {
      const auto row = api.row("project_logs", kProject, id);
      ASSERT_TRUE(row.has_value()) << id;
      EXPECT_TRUE(row->at("metrics").as_object().contains("start"));
      EXPECT_TRUE(row->at("metrics").as_object().contains("end"));
      EXPECT_EQ(row->at("span_attributes").at("name").as_string(), "chat");
    }
  }
}

// Spans with several updates each, interleaved, in small batches compressed by three
// encoder threads and sent eight at a time: every update reaches its row, whether it
// meets the start row in its batch or follows it in a later request.
TEST(LoggerE2E, EveryUpdateOfInterleavedSpansReachesItsRow) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Options options = options_for(api);
  options.encode_threads = 3;
  options.batch_max_bytes = 16 << 10;
  options.initial_in_flight = 8;  // many requests on the wire: they must not reorder a span's rows
  Logger logger(options);
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kSpans = 3000;
  constexpr int kOpen = 25;  // spans open at once
  std::vector<Span> open;
  std::vector<std::string> ids;
  std::vector<int> steps;
  std::mt19937 rng(7);
  for (int started = 0; started < kSpans || !open.empty();) {
    if (started < kSpans && static_cast<int>(open.size()) < kOpen) {
      open.push_back(logger.start_span(to, {.name = "step", .type = "task"},
                                       Fields{}.string("input", "question " + std::to_string(started)).tags({"a"})));
      ids.emplace_back(open.back().id());
      steps.push_back(0);
      ++started;
      continue;
    }
    const std::size_t k = rng() % open.size();
    Span& span = open[k];
    switch (steps[k]++) {
      case 0: ASSERT_EQ(span.log(Fields{}.string("output", "answer").metadata({{"model", "m1"}})), LogResult::queued); break;
      case 1: ASSERT_EQ(span.log(Fields{}.scores({{"quality", 0.5}}).tags({"b"})), LogResult::queued); break;
      default:
        ASSERT_EQ(span.end(Fields{}.metadata({{"cost", "0.01"}})), LogResult::queued);
        open[k] = std::move(open.back());
        open.pop_back();
        steps[k] = steps.back();
        steps.pop_back();
    }
  }
  const FlushResult flushed = logger.flush(60s);
  ASSERT_TRUE(flushed.complete) << "pending " << flushed.pending;
  EXPECT_EQ(flushed.delivered, 4u * kSpans);
  ASSERT_EQ(api.row_count("project_logs", kProject), std::size_t{kSpans});
  for (const std::string& id : ids) {
    const auto row = api.row("project_logs", kProject, id);
    ASSERT_TRUE(row.has_value()) << id;
    SCOPED_TRACE(boost::json::serialize(*row));
    EXPECT_EQ(row->at("output").as_string(), "answer") << id;
    EXPECT_EQ(row->at("metadata").at("model").as_string(), "m1") << id;
    EXPECT_EQ(row->at("metadata").at("cost").as_string(), "0.01") << id;
    EXPECT_EQ(row->at("scores").at("quality").as_double(), 0.5) << id;
    EXPECT_EQ(row->at("tags").as_array().size(), 2u) << id;
    EXPECT_TRUE(row->at("metrics").as_object().contains("start")) << id;
    EXPECT_TRUE(row->at("metrics").as_object().contains("end")) << id;
  }
  EXPECT_GT(logger.stats().rows_coalesced, 0u);
}

// Counts requests that started inside the pause after a 429 (allowing 100 ms for the
// client to read the 429 and for timestamps taken on different threads).
int requests_inside_a_pause(const std::vector<fakeapi::RequestRecord>& log) {
  int violations = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].status != 429) continue;
    for (std::size_t j = i + 1; j < log.size(); ++j) {
      const auto gap = log[j].at - log[i].at;
      if (gap > 100ms && gap < 900ms) ++violations;
    }
  }
  return violations;
}

TEST(LoggerE2E, TooManyRequestsPausesTheHostAndLosesNothing) {
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = {.fail_429 = 0.3, .retry_after_s = 1, .seed = 7}});
  Options options = options_for(api);
  options.batch_max_rows = 500;  // many requests, so 429s happen
  // One request at a time: a request already on the wire when a 429 is answered
  // cannot be mistaken for one started inside the pause.
  options.max_in_flight = 1;
  options.initial_in_flight = 1;
  Logger logger(options);
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kRows = 6'000;
  for (int i = 0; i < kRows; ++i) ASSERT_EQ(logger.log(to, llm_fields(i)), LogResult::queued);
  const FlushResult flushed = logger.flush(180s);
  ASSERT_TRUE(flushed.complete);
  EXPECT_EQ(api.stats().unique_rows, std::uint64_t{kRows});
  ASSERT_GT(api.stats().requests[429], 0u);

  // No request may reach the host inside a pause window.
  EXPECT_EQ(requests_inside_a_pause(api.request_log()), 0);
  EXPECT_GT(logger.stats().retries, 0u);
}

// While the host answers 429, batches grow past batch.max_bytes to the server's payload
// limit (which the fake API enforces on the encoded and the decoded body alike, with a
// 413), and still no request starts inside a pause.
TEST(LoggerE2E, ARateLimitedHostGetsPayloadLimitBatchesAndNoRequestInsideAPause) {
  constexpr std::size_t kPayloadLimit = 64 << 10;
  // Retry-After 2 s: a 429 counts as recent for 4 s from when the logger read it.
  FakeApi api(ServerConfig{.api_key = "test-key",
                           .max_payload_bytes = kPayloadLimit,
                           .faults = {.fail_429 = 0.3, .retry_after_s = 2, .seed = 7}});
  Options options = options_for(api);
  options.batch_max_bytes = 8 << 10;  // the payload limit (from GET /version) is 8 times this
  options.max_in_flight = 1;          // as in TooManyRequestsPausesTheHostAndLosesNothing
  options.initial_in_flight = 1;
  Logger logger(options);
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  // Small flushed groups until the host has answered a 429; the flush that saw it returns
  // after its 2 s pause, so the next rows are batched within the 429's window.
  int rows = 0;
  for (int group = 0; group < 40 && api.stats().requests.count(429) == 0; ++group) {
    for (int i = 0; i < 20; ++i, ++rows) ASSERT_EQ(logger.log(to, llm_fields(rows)), LogResult::queued);
    ASSERT_TRUE(logger.flush(60s).complete);
  }
  ASSERT_GT(api.stats().requests.count(429), 0u) << "the fault seed produced no 429";
  const std::size_t before = api.request_log().size();
  for (int i = 0; i < 1'000; ++i, ++rows) ASSERT_EQ(logger.log(to, llm_fields(rows)), LogResult::queued);
  const FlushResult flushed = logger.flush(180s);
  ASSERT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.dropped + flushed.rejected, 0u);
  const auto stats = api.stats();
  EXPECT_EQ(stats.unique_rows, static_cast<std::uint64_t>(rows));
  EXPECT_EQ(stats.requests.count(413), 0u) << "a body over the payload limit reached the server";

  const auto log = api.request_log();
  // A row of llm_fields() renders to more than 300 bytes: 8 KiB holds fewer than 28.
  std::size_t largest = 0;
  for (std::size_t i = before; i < log.size(); ++i) largest = std::max(largest, log[i].events);
  EXPECT_GT(largest, 2 * ((8u << 10) / 300)) << "batches never grew past batch.max_bytes";
  EXPECT_LE(largest, kPayloadLimit / 300);
  // No request inside a pause (requests_inside_a_pause() assumes 1 s pauses: check 2 s).
  int violations = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].status != 429) continue;
    for (std::size_t j = i + 1; j < log.size(); ++j) {
      const auto gap = log[j].at - log[i].at;
      if (gap > 100ms && gap < 1900ms) ++violations;
    }
  }
  EXPECT_EQ(violations, 0);
}

TEST(LoggerE2E, ServerErrorsAndResetsAreRetriedUntilDelivered) {
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = {.fail_5xx = 0.3, .reset = 0.2, .seed = 11}});
  Options options = options_for(api);
  options.batch_max_rows = 300;
  Logger logger(options);
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kRows = 6'000;
  for (int i = 0; i < kRows; ++i) ASSERT_EQ(logger.log(to, llm_fields(i)), LogResult::queued);
  const FlushResult flushed = logger.flush(180s);
  ASSERT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.dropped + flushed.rejected, 0u);
  const auto server = api.stats();
  EXPECT_EQ(server.unique_rows, std::uint64_t{kRows});
  EXPECT_GT(server.requests.count(503) ? server.requests.at(503) : 0, 0u);
  EXPECT_GT(server.resets, 0u);
}

TEST(LoggerE2E, UnauthorizedIsRejectedOnceAndReportedWithoutTheKey) {
  FakeApi api(ServerConfig{.api_key = "the-right-key"});
  Options options = options_for(api);
  options.api_key = "sk-wrong-secret-0123456789";
  Logger logger(options);
  Reports reports;
  logger.set_error_handler(reports.handler());
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  for (int i = 0; i < 10; ++i) ASSERT_EQ(logger.log(to, llm_fields(i)), LogResult::queued);
  const FlushResult flushed = logger.flush(30s);
  ASSERT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.rejected, 10u);
  EXPECT_EQ(flushed.delivered, 0u);
  const auto server = api.stats();
  EXPECT_EQ(server.requests.at(401), logger.stats().requests_by_status.at(401));  // never retried
  EXPECT_EQ(logger.stats().retries, 0u);
  const auto seen = reports.snapshot();
  ASSERT_FALSE(seen.empty());
  bool saw_401 = false;
  for (const auto& report : seen) {
    saw_401 = saw_401 || report.http_status == 401;
    EXPECT_EQ(report.message.find("sk-wrong-secret"), std::string::npos) << report.message;
  }
  EXPECT_TRUE(saw_401);
}

TEST(LoggerE2E, PayloadTooLargeSplitsTheBatch) {
  // The logger is told a large limit, the server enforces a small one: 413s must split.
  FakeApi api(ServerConfig{.api_key = "test-key", .max_payload_bytes = 64 << 10});
  Options options = options_for(api);
  options.max_payload_bytes = 1 << 20;
  options.batch_max_bytes = 1 << 20;
  options.compression = Compression::none;
  Logger logger(options);
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kRows = 3'000;
  for (int i = 0; i < kRows; ++i) ASSERT_EQ(logger.log(to, llm_fields(i)), LogResult::queued);
  const FlushResult flushed = logger.flush(120s);
  ASSERT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.rejected, 0u);
  EXPECT_EQ(api.stats().unique_rows, std::uint64_t{kRows});
  EXPECT_GT(api.stats().requests.at(413), 0u);
}

TEST(LoggerE2E, ProjectNamesAreResolvedOnce) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Logger logger(options_for(api));
  const DestinationHandle by_name = logger.destination(Destination::project_named("checkout-service"));
  EXPECT_EQ(logger.destination(Destination::project_named("checkout-service")).index, by_name.index);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(logger.log(by_name, llm_fields(i)), LogResult::queued);
  ASSERT_TRUE(logger.flush(60s).complete);
  const std::string project_id = api.project_id("checkout-service");
  ASSERT_FALSE(project_id.empty());
  EXPECT_EQ(api.row_count("project_logs", project_id), 100u);
  std::size_t project_posts = 0;
  for (const auto& record : api.request_log()) project_posts += record.target == "/v1/project" ? 1 : 0;
  EXPECT_EQ(project_posts, 1u);
}

TEST(LoggerE2E, SeveralDestinationsMergesAndDeletes) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Logger logger(options_for(api));
  const DestinationHandle first = logger.destination(Destination::project(kProject));
  const DestinationHandle second = logger.destination(Destination::project(kOtherProject));
  const DestinationHandle experiment = logger.destination(Destination::experiment(kOtherProject));
  ASSERT_EQ(logger.log(first, Fields{}.string("input", "a").tags({"x"}), "row-1"), LogResult::queued);
  ASSERT_EQ(logger.log_merge(first, "row-1", Fields{}.string("output", "b").tags({"y"})), LogResult::queued);
  ASSERT_EQ(logger.log(second, Fields{}.string("input", "c"), "row-2"), LogResult::queued);
  ASSERT_EQ(logger.log(second, Fields{}.string("input", "gone"), "row-3"), LogResult::queued);
  ASSERT_TRUE(logger.flush(30s).complete);
  ASSERT_EQ(logger.delete_row(second, "row-3"), LogResult::queued);
  ASSERT_EQ(logger.log(experiment, Fields{}.string("input", "e"), "row-4"), LogResult::queued);
  ASSERT_TRUE(logger.flush(30s).complete);

  const auto merged = api.row("project_logs", kProject, "row-1");
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(merged->at("input").as_string(), "a");
  EXPECT_EQ(merged->at("output").as_string(), "b");
  EXPECT_EQ(merged->at("tags").as_array().size(), 2u);
  EXPECT_TRUE(api.row("project_logs", kOtherProject, "row-2").has_value());
  EXPECT_FALSE(api.row("project_logs", kOtherProject, "row-3").has_value());
  EXPECT_FALSE(api.row("project_logs", kProject, "row-2").has_value());
  EXPECT_TRUE(api.row("experiment", kOtherProject, "row-4").has_value());
}

// A port that refuses connections: bound once to learn a free number, then closed.
std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(LoggerE2E, ShutdownWithTheServerDownReportsPendingRowsInsteadOfHanging) {
  Options options{.api_key = "test-key",
                  .api_url = "http://127.0.0.1:" + std::to_string(closed_port()),
                  .linger = 5ms,
                  .max_payload_bytes = 1 << 20,
                  .retry_base_delay = 10ms,
                  .retry_max_delay = 100ms};
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  for (int i = 0; i < 500; ++i) ASSERT_EQ(logger.log(to, llm_fields(i)), LogResult::queued);
  const auto started = std::chrono::steady_clock::now();
  const FlushResult result = logger.shutdown(500ms);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 20s);  // generous: it must return near its deadline, not hang on retries
  EXPECT_FALSE(result.complete);
  EXPECT_EQ(result.delivered, 0u);
  EXPECT_EQ(result.pending, 0u);
  EXPECT_EQ(logger.stats().dropped(DropReason::shutdown), 500u);
  // Shutdown is idempotent and later rows are refused and counted.
  EXPECT_EQ(logger.shutdown(1s).dropped, result.dropped);
  EXPECT_EQ(logger.log(to, llm_fields(0)), LogResult::dropped_shutdown);
  EXPECT_EQ(logger.stats().dropped(DropReason::shutdown), 501u);
}

TEST(LoggerE2E, FullBudgetDropsNewestAndCountsEveryRow) {
  Options options{.api_key = "test-key",
                  .api_url = "http://127.0.0.1:" + std::to_string(closed_port()),
                  .max_queue_rows = 50,
                  .overflow = OverflowPolicy::drop_newest,
                  .max_payload_bytes = 1 << 20,
                  .retry_base_delay = 50ms};
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  int queued = 0, dropped = 0;
  for (int i = 0; i < 200; ++i) (logger.log(to, llm_fields(i)) == LogResult::queued ? queued : dropped) += 1;
  EXPECT_EQ(queued, 50);
  EXPECT_EQ(dropped, 150);
  const Stats stats = logger.stats();
  EXPECT_EQ(stats.rows_in, 50u);
  EXPECT_EQ(stats.dropped(DropReason::queue_full), 150u);
  EXPECT_LE(stats.memory_bytes, options.max_queue_bytes);
}

TEST(LoggerE2E, OversizedRowIsRefusedAtLogTime) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Options options = options_for(api);
  options.max_payload_bytes = 64 << 10;
  Logger logger(options);
  Reports reports;
  logger.set_error_handler(reports.handler());
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  EXPECT_EQ(logger.log(to, Fields{}.string("input", std::string(100 << 10, 'x'))), LogResult::dropped_too_large);
  EXPECT_EQ(logger.stats().dropped(DropReason::too_large), 1u);
  EXPECT_FALSE(reports.snapshot().empty());
}

TEST(LoggerE2E, InvalidOptionsAndHandlesThrowClearly) {
  EXPECT_THROW(Logger(Options{.batch_max_bytes = 12}), std::invalid_argument);
  FakeApi api(ServerConfig{});
  Logger logger(options_for(api));
  EXPECT_THROW((void)logger.log(DestinationHandle{42}, Fields{}), std::invalid_argument);
  EXPECT_THROW((void)logger.destination(Destination::project("")), std::invalid_argument);
  EXPECT_THROW((void)logger.destination(Destination::project("a/b")), std::invalid_argument);
}

}  // namespace
}  // namespace spanline
