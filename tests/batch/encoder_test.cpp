#include "batch/encoder.hpp"

#include "codec/codec.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;

constexpr auto kDeadline = 20s;  // generous: only reached when something is broken

// Records what it receives; optionally holds every submit() until opened.
class RecordingSink : public BatchSink {
 public:
  void submit(Batch batch) noexcept override {
    std::unique_lock lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    batches_.push_back(std::move(batch));
    changed_.notify_all();
  }
  std::size_t payload_limit() const noexcept override { return std::size_t{6} << 20; }
  Compression encoding() const noexcept override { return encoding_.load(); }
  bool ready_for_batch() const noexcept override { return ready_.load(); }

  void set_encoding(Compression encoding) { encoding_ = encoding; }
  void set_ready(bool ready) { ready_ = ready; }
  void set_open(bool open) {
    std::lock_guard lock(mutex_);
    open_ = open;
    changed_.notify_all();
  }
  bool wait_entered(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return entered_ >= count; });
  }
  bool wait_batches(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] { return batches_.size() >= count; });
  }
  std::vector<Batch> batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Batch> batches_;
  std::size_t entered_ = 0;
  bool open_ = true;
  std::atomic<Compression> encoding_{Compression::zstd};
  std::atomic<bool> ready_{true};
};

struct Fixture {
  explicit Fixture(EncoderConfig config) : encoder(config, sink, accounting, errors) {}

  PipelineCounters counters;
  MemoryBudget budget{std::uint64_t{1} << 32, 10'000'000};
  Accounting accounting{counters, budget};
  ErrorReporter errors{0ms};
  RecordingSink sink;
  Encoder encoder;
};

// A batch whose single event names its sequence number; `pad` bytes make it slow or fast to encode.
Batch numbered_batch(std::size_t n, std::size_t pad) {
  Batch batch;
  BatchEvent& event = batch.events.emplace_back();
  event.json = R"({"id":"row-)" + std::to_string(n) + R"(","pad":")" + std::string(pad, static_cast<char>('a' + n % 26)) + "\"}";
  return batch;
}

std::string first_id(const Batch& batch) {
  const std::string raw = decompress(batch.encoding, batch.body, std::size_t{64} << 20);
  EXPECT_EQ(raw, assemble_body(batch));
  const std::size_t start = raw.find("row-");
  return raw.substr(start, raw.find('"', start) - start);
}

// Two at the least, so one core can compress while the other's encoder is busy; four
// at most, so a big machine does not hold a zstd context per core for one logger.
TEST(Encoder, DefaultThreadsAreOnePerTwoCoresFromTwoToFour) {
  const std::size_t cores = std::thread::hardware_concurrency();
  const std::size_t expected = cores / 2 < 2 ? 2 : (cores / 2 > 4 ? 4 : cores / 2);
  EXPECT_EQ(default_encoder_threads(), expected) << cores << " cores";
}

TEST(Encoder, HandsBatchesOnEncodedAndInSubmissionOrder) {
  Fixture f(EncoderConfig{.threads = 4, .max_waiting = 16});
  f.encoder.start();
  constexpr std::size_t kBatches = 300;
  // Big and small batches alternate, so later (small) ones finish encoding first.
  for (std::size_t n = 0; n < kBatches; ++n) f.encoder.submit(numbered_batch(n, n % 3 == 0 ? 400'000 : 10));
  f.encoder.stop();
  const auto batches = f.sink.batches();
  ASSERT_EQ(batches.size(), kBatches);
  for (std::size_t n = 0; n < kBatches; ++n) {
    EXPECT_EQ(batches[n].encoding, Compression::zstd);
    EXPECT_EQ(batches[n].raw_body_bytes, batches[n].body_size());
    EXPECT_EQ(first_id(batches[n]), "row-" + std::to_string(n));
  }
}

TEST(Encoder, UsesTheNextStagesCurrentEncoding) {
  Fixture f(EncoderConfig{.threads = 1});
  f.encoder.start();
  f.sink.set_encoding(Compression::gzip);
  f.encoder.submit(numbered_batch(0, 1000));
  ASSERT_TRUE(f.sink.wait_batches(1));  // the encoding is read when the batch is encoded
  f.sink.set_encoding(Compression::none);
  f.encoder.submit(numbered_batch(1, 1000));
  f.encoder.stop();
  const auto batches = f.sink.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].encoding, Compression::gzip);
  EXPECT_EQ(batches[1].encoding, Compression::none);
  EXPECT_EQ(first_id(batches[0]), "row-0");
  EXPECT_EQ(first_id(batches[1]), "row-1");
}

TEST(Encoder, WithoutWorkersEncodesOnTheCallersThread) {
  Fixture f(EncoderConfig{.threads = 0});
  f.encoder.start();
  f.encoder.submit(numbered_batch(7, 100));
  // Handed on before submit() returned: nothing else could have done it.
  const auto batches = f.sink.batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(first_id(batches[0]), "row-7");
}

TEST(Encoder, SubmitWaitsWhileTheWaitingLimitIsReached) {
  Fixture f(EncoderConfig{.threads = 1, .max_waiting = 2});
  f.encoder.start();
  f.sink.set_open(false);  // the next stage takes nothing: the worker stays in its first hand-on

  std::mutex mutex;
  std::condition_variable changed;
  std::size_t returned = 0;
  std::thread producer([&] {
    for (std::size_t n = 0; n < 4; ++n) {
      f.encoder.submit(numbered_batch(n, 100));
      std::lock_guard lock(mutex);
      ++returned;
      changed.notify_all();
    }
  });
  ASSERT_TRUE(f.sink.wait_entered(1));
  {
    std::unique_lock lock(mutex);
    // Batch 0 is in the sink; 1 and 2 fill the two waiting places; 3 must wait.
    ASSERT_TRUE(changed.wait_for(lock, kDeadline, [&] { return returned >= 3; }));
    EXPECT_FALSE(changed.wait_for(lock, 200ms, [&] { return returned >= 4; }));
  }
  EXPECT_FALSE(f.encoder.ready_for_batch());
  f.sink.set_open(true);
  producer.join();
  f.encoder.stop();
  const auto batches = f.sink.batches();
  ASSERT_EQ(batches.size(), 4u);
  for (std::size_t n = 0; n < 4; ++n) EXPECT_EQ(first_id(batches[n]), "row-" + std::to_string(n));
}

TEST(Encoder, ReadyOnlyWhenAWorkerIsFreeAndTheNextStageIsReady) {
  Fixture f(EncoderConfig{.threads = 1, .max_waiting = 4});
  f.encoder.start();
  EXPECT_TRUE(f.encoder.ready_for_batch());
  f.sink.set_ready(false);
  EXPECT_FALSE(f.encoder.ready_for_batch());
  f.sink.set_ready(true);

  f.sink.set_open(false);
  f.encoder.submit(numbered_batch(0, 100));
  ASSERT_TRUE(f.sink.wait_entered(1));  // the only worker is busy handing it on
  EXPECT_FALSE(f.encoder.ready_for_batch());
  f.sink.set_open(true);
  ASSERT_TRUE(f.sink.wait_batches(1));
  f.encoder.stop();
}

TEST(Encoder, StopHandsOnEverythingAndLaterSubmitsStillArrive) {
  Fixture f(EncoderConfig{.threads = 2, .max_waiting = 64});
  f.encoder.start();
  for (std::size_t n = 0; n < 50; ++n) f.encoder.submit(numbered_batch(n, 20'000));
  f.encoder.stop();
  EXPECT_EQ(f.sink.batches().size(), 50u);
  f.encoder.submit(numbered_batch(50, 10));  // after stop: encoded on this thread
  const auto batches = f.sink.batches();
  ASSERT_EQ(batches.size(), 51u);
  EXPECT_EQ(first_id(batches[50]), "row-50");
}

}  // namespace
}  // namespace spanline::detail
