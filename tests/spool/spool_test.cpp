#include "spool/spool.hpp"

#include "spool/segment_format.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support/spool_support.hpp"

namespace spanline::detail {
namespace {

using namespace spool_test;
using namespace std::chrono_literals;

std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

SpoolOptions small_options(const std::filesystem::path& dir) {
  return SpoolOptions{
      .directory = dir, .fsync_interval = 5ms, .segment_max_bytes = 64 << 10, .max_bytes = 64 << 20};
}

std::set<std::uint32_t> indices_of(const std::vector<SpoolRecord>& records,
                                   const std::map<std::uint64_t, std::uint32_t>& index_by_offset_key) {
  std::set<std::uint32_t> out;
  for (const auto& r : records) {
    const auto it = index_by_offset_key.find(r.id.segment << 32 | r.id.offset);
    if (it != index_by_offset_key.end()) out.insert(it->second);
  }
  return out;
}

std::map<std::uint64_t, std::uint32_t> index_by_id(const std::vector<Written>& written) {
  std::map<std::uint64_t, std::uint32_t> out;
  for (const auto& w : written) out[w.result.id.segment << 32 | w.result.id.offset] = w.index;
  return out;
}

TEST(SpoolRoundTrip, ManyRecordsAcrossSegmentsComeBackInOrder) {
  TempDir dir;
  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto written = append_records(*spool, 0, 1500);
  for (const auto& w : written) ASSERT_EQ(w.result.status, SpoolStatus::ok) << w.result.error.message;

  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), written.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].id, written[i].result.id);
    expect_record(records[i], written[i].index);
  }
  const SpoolMetrics m = spool->metrics();
  EXPECT_GE(m.segments_created, 4u);
  EXPECT_EQ(m.records_written, 1500u);
  EXPECT_EQ(m.records_replayed, 1500u);
  EXPECT_EQ(m.records_outstanding, 1500u);
  EXPECT_GT(m.replay_lag_bytes, 0u);
  EXPECT_EQ(m.segments_on_disk, segment_files(dir.path()).size());

  for (const auto& r : records) spool->ack(r.id);
  spool->close();
  // Every segment, the last one included (closed early once fully acked), is gone.
  EXPECT_TRUE(segment_files(dir.path()).empty());
  const SpoolMetrics after = spool->metrics();
  EXPECT_EQ(after.records_acked, 1500u);
  EXPECT_EQ(after.replay_lag_bytes, 0u);
  EXPECT_EQ(after.bytes_on_disk, 0u);
  EXPECT_EQ(after.oldest_unacked_age_ms, 0);
}

TEST(SpoolRoundTrip, ReplayFollowsTheWriterAndWakesTheReader) {
  TempDir dir;
  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  EXPECT_FALSE(spool->next_record().has_value());
  auto reader = std::async(std::launch::async, [&] {
    std::vector<SpoolRecord> got;
    const auto deadline = in(60s);
    while (got.size() < 300 && std::chrono::steady_clock::now() < deadline) {
      if (auto r = spool->next_record()) {
        got.push_back(std::move(*r));
      } else {
        spool->wait_for_records(deadline);
      }
    }
    return got;
  });
  const auto written = append_records(*spool, 0, 300);
  ASSERT_EQ(reader.wait_for(60s), std::future_status::ready);
  const auto got = reader.get();
  ASSERT_EQ(got.size(), 300u);
  for (std::size_t i = 0; i < got.size(); ++i) expect_record(got[i], written[i].index);
}

TEST(SpoolRoundTrip, RedeliveredRecordComesBackFirst) {
  TempDir dir;
  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto written = append_records(*spool, 0, 3);
  auto first = spool->next_record();
  auto second = spool->next_record();
  ASSERT_TRUE(first && second);
  spool->redeliver(first->id);
  auto again = spool->next_record();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first->id);
  expect_record(*again, 0);
  auto third = spool->next_record();
  ASSERT_TRUE(third);
  expect_record(*third, 2);
  EXPECT_EQ(spool->metrics().records_redelivered, 1u);
  spool->ack(first->id);
  spool->redeliver(first->id);  // already acked: ignored
  EXPECT_FALSE(spool->next_record().has_value());
}

TEST(SpoolGroupCommit, OneFsyncCoversManyAppendsFromManyThreads) {
  TempDir dir;
  auto options = small_options(dir.path());
  options.fsync_interval = 50ms;
  options.segment_max_bytes = 256 << 20;  // no segment closes: only the interval syncs
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  constexpr int kThreads = 4;
  constexpr std::uint32_t kPerThread = 500;
  std::vector<std::future<SpoolStatus>> done;
  for (int t = 0; t < kThreads; ++t) {
    done.push_back(std::async(std::launch::async, [&, t] {
      std::uint64_t last = 0;
      for (std::uint32_t i = 0; i < kPerThread; ++i) {
        const std::string payload = make_payload(i, 200);
        const auto r = spool->append(make_entry(i, make_key(static_cast<std::uint32_t>(t)), payload));
        if (!r.ok()) return r.status;
        EXPECT_GT(r.sequence, last);
        last = r.sequence;
      }
      return spool->wait_durable(last, in(60s));
    }));
  }
  for (auto& f : done) EXPECT_EQ(f.get(), SpoolStatus::ok);
  const SpoolMetrics m = spool->metrics();
  EXPECT_EQ(m.records_written, kThreads * kPerThread);
  EXPECT_GE(m.fsyncs, 1u);
  EXPECT_LT(m.fsyncs * 10, m.records_written) << "group commit should share fsyncs";
}

TEST(SpoolGroupCommit, WaitTimesOutUntilTheNextSyncAndSyncForcesIt) {
  TempDir dir;
  auto options = small_options(dir.path());
  // Longer than any machine's uptime: steady_clock counts from boot, so a "last sync"
  // that defaulted to the clock's epoch would make the first record wait this long.
  options.fsync_interval = std::chrono::hours(24 * 365 * 50);
  options.sync_on_wait = false;
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  const std::string payload = make_payload(1, 100);
  // The first record after an idle spell is synced at once...
  const auto first = spool->append(make_entry(1, make_key(1), payload));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(spool->wait_durable(first.sequence, in(60s)), SpoolStatus::ok);
  // ...the next one waits for the interval (decades here), unless sync() forces it.
  const auto second = spool->append(make_entry(2, make_key(2), payload));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(spool->wait_durable(second.sequence, in(50ms)), SpoolStatus::timeout);
  const auto fsyncs_before = spool->metrics().fsyncs;
  EXPECT_EQ(spool->sync(in(60s)), SpoolStatus::ok);
  EXPECT_EQ(spool->wait_durable(second.sequence, in(1ms)), SpoolStatus::ok);
  EXPECT_EQ(spool->metrics().fsyncs, fsyncs_before + 1);
}

TEST(SpoolGroupCommit, SyncOnWaitDoesNotWaitForTheInterval) {
  TempDir dir;
  auto options = small_options(dir.path());
  options.fsync_interval = std::chrono::hours(1);
  options.sync_on_wait = true;
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  constexpr int kThreads = 4;
  constexpr std::uint32_t kPerThread = 100;
  std::vector<std::future<int>> done;
  for (int t = 0; t < kThreads; ++t) {
    done.push_back(std::async(std::launch::async, [&] {
      int durable = 0;
      for (std::uint32_t i = 0; i < kPerThread; ++i) {
        const std::string payload = make_payload(i, 300);
        const auto r = spool->append(make_entry(i, make_key(i), payload));
        // Without sync_on_wait every wait but the first would take the whole hour.
        if (r.ok() && spool->wait_durable(r.sequence, in(60s)) == SpoolStatus::ok) ++durable;
      }
      return durable;
    }));
  }
  for (auto& f : done) EXPECT_EQ(f.get(), static_cast<int>(kPerThread));
  const SpoolMetrics m = spool->metrics();
  EXPECT_GE(m.fsyncs, 2u);
  EXPECT_LE(m.fsyncs, m.records_written);
}

TEST(SpoolGroupCommit, CloseMakesEverythingDurable) {
  TempDir dir;
  auto options = small_options(dir.path());
  options.fsync_interval = std::chrono::hours(1);
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  const auto written = append_records(*spool, 0, 20);
  auto waiter = std::async(std::launch::async,
                           [&] { return spool->wait_durable(written.back().result.sequence, in(60s)); });
  spool->close();
  EXPECT_EQ(waiter.get(), SpoolStatus::ok);
  EXPECT_EQ(spool->append(make_entry(99, make_key(99), "x")).status, SpoolStatus::closed);
}

void flip_byte(const std::filesystem::path& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0xff));
}

TEST(SpoolCorruption, FlippedAndTruncatedRecordsAreSkippedAndCounted) {
  TempDir dir;
  std::vector<Written> written;
  {
    auto spool = open_or_fail(small_options(dir.path()));
    ASSERT_TRUE(spool);
    written = append_records(*spool, 0, 400);
  }
  const auto files = segment_files(dir.path());
  ASSERT_GE(files.size(), 3u);
  // Flip bytes in the 5th record of the first segment.
  const auto seg1 = std::find_if(written.begin(), written.end(), [&](const Written& w) {
    return w.result.id.segment == written[0].result.id.segment;
  });
  const Written& damaged = *(seg1 + 4);
  for (std::uint64_t at : {30u, 31u, 200u}) flip_byte(files[0], damaged.result.id.offset + at);
  // Truncate the last record of the second segment, as a crash mid-write would.
  const std::uint64_t second_segment = written[0].result.id.segment + 1;
  const Written* last_of_second = nullptr;
  for (const auto& w : written) {
    if (w.result.id.segment == second_segment) last_of_second = &w;
  }
  ASSERT_NE(last_of_second, nullptr);
  std::filesystem::resize_file(files[1], last_of_second->result.id.offset + 25);

  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  const auto got = indices_of(records, index_by_id(written));
  EXPECT_EQ(records.size(), written.size() - 2);
  EXPECT_EQ(got.size(), written.size() - 2);
  EXPECT_FALSE(got.contains(damaged.index));
  EXPECT_FALSE(got.contains(last_of_second->index));
  for (const auto& r : records) expect_record(r, index_by_id(written).at(r.id.segment << 32 | r.id.offset));
  const SpoolMetrics m = spool->metrics();
  EXPECT_EQ(m.records_corrupt, 1u);
  EXPECT_EQ(m.records_truncated, 1u);
  EXPECT_GT(m.bytes_skipped, 25u);

  // Skipped records need no ack: acking the rest deletes every segment.
  for (const auto& r : records) spool->ack(r.id);
  spool->close();
  EXPECT_TRUE(segment_files(dir.path()).empty());
}

TEST(SpoolCorruption, SegmentOfAnUnknownVersionIsSkippedAndKept) {
  TempDir dir;
  {
    auto spool = open_or_fail(small_options(dir.path()));
    ASSERT_TRUE(spool);
    append_records(*spool, 0, 100);
  }
  const auto files = segment_files(dir.path());
  ASSERT_GE(files.size(), 2u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.put(static_cast<char>(99));  // format version 99
  }
  SpoolOptions options = small_options(dir.path());
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> notices;
  options.on_notice = [&](std::string_view kind, const std::string& message) {
    std::lock_guard lock(mutex);
    notices.emplace_back(kind, message);
  };
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  const std::uint64_t skipped_segment = *parse_segment_name(files[0].filename().string());
  const auto records = drain(*spool);
  EXPECT_GT(records.size(), 0u);
  for (const auto& r : records) EXPECT_NE(r.id.segment, skipped_segment);
  EXPECT_EQ(spool->metrics().segments_unreadable, 1u);
  EXPECT_EQ(spool->metrics().segments_unknown_version, 1u);
  // A second pass over the spool does not report it again.
  EXPECT_TRUE(drain(*spool).empty());
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(notices.size(), 1u);
    EXPECT_EQ(notices[0].first, "unknown-version");
    EXPECT_NE(notices[0].second.find(files[0].string()), std::string::npos) << notices[0].second;
    EXPECT_NE(notices[0].second.find("kept on disk"), std::string::npos) << notices[0].second;
  }
  for (const auto& r : records) spool->ack(r.id);
  spool->close();
  EXPECT_EQ(segment_files(dir.path()), std::vector<std::filesystem::path>{files[0]});
}

// The mode bits of `path` (no symlink following).
mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Sets the process umask for its lifetime (the whole test binary shares it: no test
// runs beside this one in the same process).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t previous_;
};

TEST(SpoolPermissions, DirectoryAndEveryFileAreOwnerOnlyWhateverTheUmask) {
  TempDir parent;
  const std::filesystem::path dir = parent.path() / "spool";
  {
    ScopedUmask open_to_all(0);
    auto spool = open_or_fail(small_options(dir));
    ASSERT_TRUE(spool);
    append_records(*spool, 0, 100);
    ASSERT_EQ(spool->sync(in(10s)), SpoolStatus::ok);
    const auto records = drain(*spool);
    ASSERT_FALSE(records.empty());
    spool->ack(records.front().id);  // writes a .acks file
    spool->close();
  }
  EXPECT_EQ(mode_of(dir), 0700u);
  std::size_t segments = 0, acks = 0, others = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(mode_of(entry.path()), 0600u) << name;
    if (name.ends_with(".spool")) {
      ++segments;
    } else if (name.ends_with(".acks")) {
      ++acks;
    } else {
      ++others;
    }
  }
  EXPECT_GE(segments, 2u);
  EXPECT_GE(acks, 1u);
  EXPECT_GE(others, 1u) << "the lock file";
}

TEST(SpoolPermissions, TooOpenModesFromAnEarlierRunAreTightenedAndReported) {
  TempDir dir;
  {
    auto spool = open_or_fail(small_options(dir.path()));
    ASSERT_TRUE(spool);
    append_records(*spool, 0, 20);
  }
  // As an earlier version (or a careless copy) left them.
  ::chmod(dir.path().c_str(), 0755);
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ::chmod(entry.path().c_str(), 0644);
    ++files;
  }
  ASSERT_GE(files, 2u);

  SpoolOptions options = small_options(dir.path());
  std::vector<std::pair<std::string, std::string>> notices;
  options.on_notice = [&](std::string_view kind, const std::string& message) {
    notices.emplace_back(kind, message);
  };
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  EXPECT_EQ(mode_of(dir.path()), 0700u);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(mode_of(entry.path()), 0600u) << entry.path();
  }
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_EQ(notices[0].first, "permissions");
  EXPECT_NE(notices[0].second.find("had mode 0755"), std::string::npos) << notices[0].second;
  EXPECT_NE(notices[0].second.find("set to 0700"), std::string::npos) << notices[0].second;
  EXPECT_NE(notices[1].second.find(std::to_string(files) + " set to owner-only"), std::string::npos)
      << notices[1].second;

  // Once tight, a reopen has nothing to say.
  spool.reset();
  notices.clear();
  spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  EXPECT_TRUE(notices.empty());
}

TEST(SpoolRestart, UnackedRecordsAreReplayedAfterReopen) {
  TempDir dir;
  std::vector<Written> written;
  {
    auto spool = open_or_fail(small_options(dir.path()));
    ASSERT_TRUE(spool);
    written = append_records(*spool, 0, 500);
    // Half replayed, a few acked, then the process goes away without acking the rest.
    const auto some = [&] {
      std::vector<SpoolRecord> out;
      for (int i = 0; i < 250; ++i) out.push_back(spool->next_record().value());
      return out;
    }();
    for (int i = 0; i < 10; ++i) spool->ack(some[static_cast<std::size_t>(i)].id);
  }
  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  // Everything but the acknowledged records comes back (the handed-out ones too), in order.
  ASSERT_EQ(records.size(), written.size() - 10);
  for (std::size_t i = 0; i < records.size(); ++i) expect_record(records[i], written[i + 10].index);
  EXPECT_EQ(spool->metrics().records_already_acked, 10u);
  EXPECT_EQ(spool->metrics().records_corrupt + spool->metrics().records_truncated, 0u);
}

TEST(SpoolRestart, AckedSegmentsAreDeletedPartlyAckedOnesKept) {
  TempDir dir;
  std::vector<Written> written;
  {
    auto spool = open_or_fail(small_options(dir.path()));
    ASSERT_TRUE(spool);
    written = append_records(*spool, 0, 400);
  }
  auto files = segment_files(dir.path());
  ASSERT_GE(files.size(), 3u);
  const std::uint64_t first = written.front().result.id.segment;
  std::size_t in_second = 0;
  {
    auto spool = open_or_fail(small_options(dir.path()));
    ASSERT_TRUE(spool);
    const auto records = drain(*spool);
    ASSERT_EQ(records.size(), written.size());
    bool skipped_one = false;
    for (const auto& r : records) {
      if (r.id.segment == first) spool->ack(r.id);
      if (r.id.segment == first + 1) {
        ++in_second;
        // Ack all but one record of the second segment.
        if (!skipped_one) {
          skipped_one = true;
        } else {
          spool->ack_rejected(r.id);
        }
      }
    }
    spool->close();  // finishes the deletions the acks queued
    EXPECT_EQ(spool->metrics().segments_deleted, 1u);
    EXPECT_EQ(spool->metrics().records_rejected, in_second - 1);
  }
  const auto left = segment_files(dir.path());
  EXPECT_EQ(left.size(), files.size() - 1);
  EXPECT_FALSE(std::find(left.begin(), left.end(), files[0]) != left.end());
  EXPECT_TRUE(std::find(left.begin(), left.end(), files[1]) != left.end());

  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto again = drain(*spool);
  for (const auto& r : again) EXPECT_NE(r.id.segment, first);
  std::size_t first_count = 0;
  for (const auto& w : written) first_count += w.result.id.segment == first ? 1 : 0;
  // The second segment's rejected records were acknowledged too: not replayed.
  EXPECT_EQ(again.size(), written.size() - first_count - (in_second - 1));
  EXPECT_EQ(spool->metrics().records_already_acked, in_second - 1);
}

// A real crash: a child process appends, learns which records are durable, and is
// killed with SIGKILL mid-stream. Every durable record must be replayed afterwards.
TEST(SpoolRestart, KillNineKeepsEveryDurableRecord) {
  TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    SpoolError error;
    auto spool = Spool::open(small_options(dir.path()), error);
    if (!spool) ::_exit(3);
    std::uint32_t durable = 0;
    for (std::uint32_t i = 0; i < 600; ++i) {
      const std::string payload = make_payload(i, 100 + (i * 7919u) % 2901);
      const auto r = spool->append(make_entry(i, make_key(i), payload));
      if (!r.ok()) ::_exit(4);
      if (i == 399) {
        if (spool->wait_durable(r.sequence, in(60s)) != SpoolStatus::ok) ::_exit(5);
        durable = i + 1;
        if (::write(pipe_fds[1], &durable, sizeof durable) != sizeof durable) ::_exit(6);
      }
    }
    ::raise(SIGKILL);  // no close, no destructors
    ::_exit(7);
  }
  ::close(pipe_fds[1]);
  std::uint32_t durable = 0;
  const ssize_t n = ::read(pipe_fds[0], &durable, sizeof durable);
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof durable));
  ASSERT_EQ(durable, 400u);

  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_GE(records.size(), durable);
  // Records come back in append order, so the durable ones are the first `durable`.
  for (std::uint32_t i = 0; i < durable; ++i) expect_record(records[i], i);
}

TEST(SpoolSizeBound, DropNewestRefusesAndCounts) {
  TempDir dir;
  auto options = small_options(dir.path());
  options.max_bytes = 64 << 10;
  options.segment_max_bytes = 16 << 10;
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  const std::string payload = make_payload(1, 1000);
  int accepted = 0;
  AppendResult last;
  for (int i = 0; i < 200; ++i) {
    last = spool->append(make_entry(1, make_key(1), payload));
    if (!last.ok()) break;
    ++accepted;
  }
  EXPECT_EQ(last.status, SpoolStatus::full);
  EXPECT_GT(accepted, 50);
  EXPECT_EQ(spool->append(make_entry(1, make_key(1), payload)).status, SpoolStatus::full);
  const SpoolMetrics m = spool->metrics();
  EXPECT_EQ(m.full_drops, 2u);
  EXPECT_EQ(m.rows_full_dropped, 4u);  // source_rows of index 1 is 2
  EXPECT_LE(m.bytes_on_disk, options.max_bytes);
  EXPECT_EQ(m.block_waits, 0u);
  // One record that could never fit is refused as too large, not as full.
  const std::string huge(70 << 10, 'x');
  EXPECT_EQ(spool->append(make_entry(1, make_key(1), huge)).status, SpoolStatus::too_large);
}

TEST(SpoolSizeBound, BlockTimesOutThenUnblocksWhenAcksFreeSpace) {
  TempDir dir;
  auto options = small_options(dir.path());
  options.max_bytes = 64 << 10;
  options.segment_max_bytes = 16 << 10;
  options.full_policy = SpoolFullPolicy::block;
  options.block_timeout = 100ms;
  const std::string payload = make_payload(1, 1000);
  {
    auto spool = open_or_fail(options);
    ASSERT_TRUE(spool);
    AppendResult r;
    for (int i = 0; i < 200 && (r = spool->append(make_entry(1, make_key(1), payload))).ok(); ++i) {
    }
    EXPECT_EQ(r.status, SpoolStatus::full);
    EXPECT_EQ(spool->metrics().block_waits, 1u);
    EXPECT_EQ(spool->metrics().block_timeouts, 1u);
  }

  options.block_timeout = 60s;
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  auto blocked =
      std::async(std::launch::async, [&] { return spool->append(make_entry(2, make_key(2), payload)); });
  // Wait until the appender is really blocked (a counter, not a sleep).
  const auto deadline = in(60s);
  while (spool->metrics().block_waits == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  ASSERT_EQ(spool->metrics().block_waits, 1u);
  EXPECT_EQ(blocked.wait_for(0s), std::future_status::timeout);

  // Replay and ack everything: whole segments are deleted and the append goes through.
  const auto records = drain(*spool);
  EXPECT_GT(records.size(), 50u);
  for (const auto& r : records) spool->ack(r.id);
  ASSERT_EQ(blocked.wait_for(60s), std::future_status::ready);
  const AppendResult result = blocked.get();
  EXPECT_EQ(result.status, SpoolStatus::ok);
  const SpoolMetrics m = spool->metrics();
  EXPECT_EQ(m.block_timeouts, 0u);
  EXPECT_GE(m.segments_deleted, 1u);
  auto next = spool->next_record();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->id, result.id);
}

TEST(SpoolSizeBound, CloseReleasesABlockedAppend) {
  TempDir dir;
  auto options = small_options(dir.path());
  options.max_bytes = 8 << 10;
  options.segment_max_bytes = 4 << 10;
  options.full_policy = SpoolFullPolicy::block;
  options.block_timeout = 600s;
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  const std::string payload = make_payload(1, 3000);
  ASSERT_TRUE(spool->append(make_entry(1, make_key(1), payload)).ok());
  ASSERT_TRUE(spool->append(make_entry(1, make_key(1), payload)).ok());
  auto blocked =
      std::async(std::launch::async, [&] { return spool->append(make_entry(1, make_key(1), payload)); });
  const auto deadline = in(60s);
  while (spool->metrics().block_waits == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  spool->close();
  ASSERT_EQ(blocked.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(blocked.get().status, SpoolStatus::closed);
}

TEST(SpoolErrors, UnwritableDirectoryGivesAClearError) {
  TempDir dir;
  // A path below a regular file fails for every user, root included (ENOTDIR).
  const auto file = dir.path() / "not-a-directory";
  std::ofstream(file) << "x";
  const auto below_file = file / "spool";
  SpoolError error;
  auto spool = Spool::open(SpoolOptions{.directory = below_file}, error);
  EXPECT_EQ(spool, nullptr);
  EXPECT_TRUE(error);
  EXPECT_EQ(error.code.value(), ENOTDIR);
  EXPECT_NE(error.message.find(below_file.string()), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("Not a directory"), std::string::npos) << error.message;

  // Permissions only stop a non-root user; as root, chmod does not, so this part checks
  // that case only when it can.
  if (::geteuid() != 0) {
    const auto locked = dir.path() / "locked";
    std::filesystem::create_directories(locked);
    ::chmod(locked.c_str(), 0500);
    SpoolError denied;
    EXPECT_EQ(Spool::open(SpoolOptions{.directory = locked}, denied), nullptr);
    EXPECT_EQ(denied.code.value(), EACCES) << denied.message;
    EXPECT_NE(denied.message.find(locked.string()), std::string::npos) << denied.message;
    ::chmod(locked.c_str(), 0700);
  }
}

TEST(SpoolErrors, ADirectoryIsUsedByOneSpoolAtATime) {
  TempDir dir;
  auto first = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(first);
  SpoolError error;
  EXPECT_EQ(Spool::open(small_options(dir.path()), error), nullptr);
  EXPECT_EQ(error.code.value(), EBUSY);
  EXPECT_NE(error.message.find(dir.path().string()), std::string::npos) << error.message;
  first.reset();
  EXPECT_NE(Spool::open(small_options(dir.path()), error), nullptr) << error.message;
}

TEST(SpoolErrors, BadOptionsThrowWithTheSettingName) {
  EXPECT_THROW(validate(SpoolOptions{}), std::invalid_argument);
  try {
    validate(SpoolOptions{.directory = "/tmp/x", .segment_max_bytes = 12});
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("segment_max_bytes"), std::string::npos);
  }
}

// A write that fails mid-record (here: the file size limit, EFBIG; a full disk gives
// ENOSPC the same way) is reported with the path, leaves no torn record behind, and
// later appends work again.
TEST(SpoolErrors, FailedWriteIsReportedAndRolledBack) {
  TempDir dir;
  auto options = small_options(dir.path());
  options.segment_max_bytes = 1 << 20;
  auto spool = open_or_fail(options);
  ASSERT_TRUE(spool);
  const auto before = append_records(*spool, 0, 5);
  for (const auto& w : before) ASSERT_TRUE(w.result.ok());

  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGXFSZ, &ignore, &previous);
  rlimit old_limit{};
  ::getrlimit(RLIMIT_FSIZE, &old_limit);
  rlimit small = old_limit;
  small.rlim_cur = 24 << 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string payload = make_payload(9, 30 << 10);
  const AppendResult failed = spool->append(make_entry(9, make_key(9), payload));
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::sigaction(SIGXFSZ, &previous, nullptr);

  EXPECT_EQ(failed.status, SpoolStatus::io_error);
  EXPECT_EQ(failed.error.code.value(), EFBIG);
  EXPECT_NE(failed.error.message.find(dir.path().string()), std::string::npos) << failed.error.message;
  EXPECT_EQ(spool->last_error().code.value(), EFBIG);
  EXPECT_EQ(spool->metrics().write_errors, 1u);

  const auto after = append_records(*spool, 5, 5);
  for (const auto& w : after) ASSERT_TRUE(w.result.ok()) << w.result.error.message;
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), 10u);
  for (std::uint32_t i = 0; i < 10; ++i) expect_record(records[i], i);
  EXPECT_EQ(spool->metrics().records_corrupt + spool->metrics().records_truncated, 0u);
}

TEST(SpoolMetricsTest, LagAndAgeOfTheOldestUnackedRecord) {
  TempDir dir;
  auto spool = open_or_fail(small_options(dir.path()));
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->metrics().oldest_unacked_age_ms, 0);
  const auto written = append_records(*spool, 0, 10);
  for (const auto& w : written) ASSERT_TRUE(w.result.ok());
  SpoolMetrics m = spool->metrics();
  EXPECT_EQ(m.records_written, 10u);
  EXPECT_EQ(m.replay_lag_bytes, m.bytes_written);
  EXPECT_GE(m.oldest_unacked_age_ms, 0);
  const auto records = drain(*spool);
  spool->ack(records[0].id);
  m = spool->metrics();
  EXPECT_EQ(m.replay_lag_bytes, m.bytes_written - records[0].size);
  EXPECT_EQ(m.records_outstanding, 9u);
  EXPECT_GT(m.oldest_unacked_age_ms, -1);
  for (const auto& r : records) spool->ack(r.id);
  m = spool->metrics();
  EXPECT_EQ(m.replay_lag_bytes, 0u);
  EXPECT_EQ(m.records_outstanding, 0u);
  EXPECT_EQ(m.oldest_unacked_age_ms, 0);
}

}  // namespace
}  // namespace spanline::detail
