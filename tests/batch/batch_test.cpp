#include "batch/batch.hpp"

#include "codec/codec.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>

namespace spanline::detail {
namespace {

namespace json = boost::json;

// An event whose JSON text is exactly `size` bytes (size >= 20), tagged with `n`.
BatchEvent make_event(std::size_t n, std::size_t size, std::uint32_t source_rows = 1) {
  std::string json = R"({"id":")" + std::to_string(n) + R"(","p":")";
  const std::size_t tail = 2;  // "}
  if (json.size() + tail < size) json.append(size - json.size() - tail, 'x');
  json += "\"}";
  BatchEvent event;
  event.json = std::move(json);
  event.source_rows = source_rows;
  event.budget_bytes = event.json.size() + 64 + n;  // distinct per event
  return event;
}

Batch make_batch(std::size_t count, std::size_t event_size) {
  Batch batch;
  batch.destination = 7;
  batch.opened = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < count; ++i)
    batch.events.push_back(make_event(i, event_size, static_cast<std::uint32_t>(1 + i % 3)));
  return batch;
}

// The ids of a batch's events, in order, read back from its assembled body.
std::vector<std::string> ids_in_body(const std::string& body) {
  std::vector<std::string> ids;
  const json::value doc = json::parse(body);
  for (const auto& event : doc.at("events").as_array()) ids.emplace_back(event.at("id").as_string().c_str());
  return ids;
}

TEST(Batch, EmptyBodyIsTheEnvelope) {
  Batch batch;
  EXPECT_EQ(assemble_body(batch), R"({"events":[]})");
  EXPECT_EQ(batch.body_size(), kEnvelopeBytes);
  EXPECT_EQ(batch.source_rows(), 0u);
  EXPECT_EQ(batch.budget_bytes(), 0u);
}

TEST(Batch, BodyIsValidJsonAndSizeMatches) {
  for (std::size_t count : {1u, 2u, 10u, 1000u}) {
    const Batch batch = make_batch(count, 120);
    const std::string body = assemble_body(batch);
    EXPECT_EQ(body.size(), batch.body_size()) << count;
    const json::value doc = json::parse(body);
    ASSERT_TRUE(doc.is_object());
    ASSERT_EQ(doc.as_object().size(), 1u);
    const auto& events = doc.at("events").as_array();
    ASSERT_EQ(events.size(), count);
    for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(events[i].at("id").as_string(), std::to_string(i));
  }
}

TEST(Batch, AccountingSums) {
  const Batch batch = make_batch(10, 50);
  std::uint64_t rows = 0, bytes = 0;
  for (const auto& e : batch.events) {
    rows += e.source_rows;
    bytes += e.budget_bytes;
  }
  EXPECT_EQ(batch.source_rows(), rows);
  EXPECT_EQ(batch.budget_bytes(), bytes);
  EXPECT_GT(rows, 10u);  // some events stand for several rows
}

TEST(Batch, EncodeFillsBodyForEveryCodec) {
  for (const Compression codec : {Compression::zstd, Compression::gzip, Compression::none}) {
    Batch batch = make_batch(200, 300);
    const std::string raw = assemble_body(batch);
    encode(batch, codec, 3);
    EXPECT_EQ(batch.encoding, codec);
    EXPECT_EQ(batch.raw_body_bytes, raw.size());
    EXPECT_EQ(decompress(codec, batch.body, raw.size()), raw);
    if (codec != Compression::none) {
      EXPECT_LT(batch.body.size(), raw.size());
    }
    EXPECT_EQ(batch.events.size(), 200u);  // events stay for accounting and re-splitting
  }
}

TEST(Batch, EncodingASmallBatchAfterALargeOneOnTheSameThreadSendsOnlyItsOwnEvents) {
  // encode() reuses a per-thread buffer for the uncompressed body: what a larger batch
  // left in it must never leak into the next body.
  for (const Compression codec : {Compression::zstd, Compression::gzip, Compression::none}) {
    Batch large = make_batch(500, 400);
    encode(large, codec, 1);
    Batch small = make_batch(3, 40);
    const std::string raw = assemble_body(small);
    encode(small, codec, 1);
    EXPECT_EQ(small.raw_body_bytes, raw.size());
    EXPECT_EQ(decompress(codec, small.body, raw.size()), raw);
    EXPECT_EQ(ids_in_body(decompress(codec, large.body, large.raw_body_bytes)).size(), 500u);
  }
}

TEST(Batch, SplitToLimitKeepsOrderAndEveryPartFits) {
  Batch batch = make_batch(1000, 200);
  const std::uint64_t rows = batch.source_rows();
  const std::uint64_t bytes = batch.budget_bytes();
  const std::size_t limit = 4096;
  const auto parts = split_to_limit(std::move(batch), limit);
  ASSERT_GT(parts.size(), 1u);
  std::vector<std::string> ids;
  std::uint64_t part_rows = 0, part_bytes = 0;
  for (const auto& part : parts) {
    EXPECT_LE(part.body_size(), limit);
    EXPECT_FALSE(part.events.empty());
    EXPECT_EQ(part.destination, 7u);
    const std::string body = assemble_body(part);
    EXPECT_LE(body.size(), limit);
    for (auto& id : ids_in_body(body)) ids.push_back(std::move(id));
    part_rows += part.source_rows();
    part_bytes += part.budget_bytes();
  }
  ASSERT_EQ(ids.size(), 1000u);
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], std::to_string(i));
  EXPECT_EQ(part_rows, rows);
  EXPECT_EQ(part_bytes, bytes);
  // Greedy packing: no part could have taken the next part's first event.
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    EXPECT_GT(parts[i].body_size() + 1 + parts[i + 1].events.front().json.size(), limit);
}

TEST(Batch, SplitAtExactLimit) {
  Batch batch = make_batch(4, 100);
  const std::size_t two = kEnvelopeBytes + 100 + 1 + 100;  // exactly two events
  const auto parts = split_to_limit(std::move(batch), two);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].body_size(), two);
  EXPECT_EQ(parts[1].body_size(), two);
}

TEST(Batch, SplitToLimitLeavesFittingBatchAlone) {
  Batch batch = make_batch(5, 100);
  encode(batch, Compression::none, 1);
  const std::string body = batch.body;
  const auto parts = split_to_limit(std::move(batch), 1 << 20);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].events.size(), 5u);
  EXPECT_EQ(parts[0].body, body);
}

TEST(Batch, OversizeEventIsIsolated) {
  Batch batch;
  batch.events.push_back(make_event(0, 100));
  batch.events.push_back(make_event(1, 100));
  batch.events.push_back(make_event(2, 5000));  // alone exceeds the limit
  batch.events.push_back(make_event(3, 100));
  const auto parts = split_to_limit(std::move(batch), 1000);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(ids_in_body(assemble_body(parts[0])), (std::vector<std::string>{"0", "1"}));
  ASSERT_EQ(parts[1].events.size(), 1u);
  EXPECT_EQ(parts[1].events[0].json.size(), 5000u);
  EXPECT_GT(parts[1].body_size(), 1000u);
  EXPECT_EQ(ids_in_body(assemble_body(parts[2])), (std::vector<std::string>{"3"}));
}

TEST(Batch, SplitInHalfKeepsOrderAndAccounting) {
  for (std::size_t count : {2u, 3u, 10u, 11u}) {
    Batch batch = make_batch(count, 80);
    const std::uint64_t rows = batch.source_rows();
    const std::uint64_t bytes = batch.budget_bytes();
    auto [first, second] = split_in_half(std::move(batch));
    EXPECT_EQ(first.events.size(), count / 2);
    EXPECT_EQ(second.events.size(), count - count / 2);
    EXPECT_EQ(first.source_rows() + second.source_rows(), rows);
    EXPECT_EQ(first.budget_bytes() + second.budget_bytes(), bytes);
    EXPECT_EQ(first.destination, 7u);
    EXPECT_EQ(second.destination, 7u);
    std::vector<std::string> ids = ids_in_body(assemble_body(first));
    for (auto& id : ids_in_body(assemble_body(second))) ids.push_back(std::move(id));
    ASSERT_EQ(ids.size(), count);
    for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(ids[i], std::to_string(i));
    EXPECT_TRUE(first.body.empty());
  }
}

TEST(Batch, SplitInHalfOfOneEventKeepsItWhole) {
  Batch batch = make_batch(1, 80);
  auto [first, second] = split_in_half(std::move(batch));
  EXPECT_EQ(first.events.size(), 1u);
  EXPECT_TRUE(second.events.empty());
}

}  // namespace
}  // namespace spanline::detail
