// Acknowledgements kept on disk (spool/ack_journal.hpp): the file format and its damage
// cases, a spool reopened after some of its records were acknowledged (closed, or killed
// with SIGKILL), and end to end: a span's end row, sent live once its start row had been
// replayed from the spool, survives a crash of the process and the restart's replay.
#include "spool/ack_journal.hpp"

#include <spanline/logger.hpp>
#include <spanline/sidecar/logger.hpp>

#include "fake_api.hpp"
#include "spool/segment_format.hpp"
#include "spool/segment_scanner.hpp"
#include "spool/spool.hpp"
#include "support/spool_support.hpp"
#include "support/wait_support.hpp"

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

using namespace spool_test;
using namespace std::chrono_literals;

SpoolOptions ack_options(const std::filesystem::path& dir) {
  return SpoolOptions{
      .directory = dir, .fsync_interval = 5ms, .segment_max_bytes = 64 << 10, .max_bytes = 64 << 20};
}

std::vector<std::filesystem::path> ack_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".acks") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string entry_bytes(const AckEntry& entry) {
  char bytes[kAckEntryBytes];
  encode_ack_entry(entry, bytes);
  return std::string(bytes, sizeof bytes);
}

// Hands out `count` records (oldest first) without acknowledging them.
std::vector<SpoolRecord> take(Spool& spool, std::size_t count) {
  std::vector<SpoolRecord> out;
  while (out.size() < count) {
    auto record = spool.next_record();
    if (!record) break;
    out.push_back(std::move(*record));
  }
  return out;
}

// ---- format ----------------------------------------------------------------------------

TEST(SpoolAckFormat, NamesAndEntriesRoundTrip) {
  EXPECT_EQ(ack_path("/d", 42).filename().string(), "00000000000000000042.acks");
  EXPECT_EQ(parse_ack_name("00000000000000000042.acks"), 42u);
  EXPECT_EQ(parse_ack_name("00000000000000000042.spool"), std::nullopt);
  EXPECT_EQ(parse_ack_name("0000000000000000004x.acks"), std::nullopt);
  EXPECT_EQ(parse_ack_name("42.acks"), std::nullopt);

  std::string file = encode_ack_header();
  ASSERT_EQ(file.size(), kAckHeaderBytes);
  // Written in acknowledgement order, read back sorted and without repeats.
  file += entry_bytes({900, 7}) + entry_bytes({16, 3}) + entry_bytes({900, 7}) + entry_bytes({400, 1});
  const ParsedAcks parsed = parse_acks(file);
  EXPECT_TRUE(parsed.header_ok);
  EXPECT_EQ(parsed.ignored, 0u);
  EXPECT_EQ(parsed.entries, (std::vector<AckEntry>{{16, 3}, {400, 1}, {900, 7}}));
}

TEST(SpoolAckFormat, TornTailDamagedEntriesAndABadHeaderAreIgnored) {
  const std::string header = encode_ack_header();
  const std::string a = entry_bytes({16, 11}), b = entry_bytes({300, 22}), c = entry_bytes({700, 33});

  // A write cut short: the partial entry goes, the whole ones stay.
  ParsedAcks torn = parse_acks(header + a + b + c.substr(0, 9));
  EXPECT_EQ(torn.entries, (std::vector<AckEntry>{{16, 11}, {300, 22}}));
  EXPECT_EQ(torn.ignored, 1u);

  // A damaged entry in the middle costs only itself (a zeroed block, as after a power loss, too).
  std::string damaged = b;
  damaged[3] = static_cast<char>(damaged[3] ^ 0x40);
  ParsedAcks middle = parse_acks(header + a + damaged + std::string(kAckEntryBytes, '\0') + c);
  EXPECT_EQ(middle.entries, (std::vector<AckEntry>{{16, 11}, {700, 33}}));
  EXPECT_EQ(middle.ignored, 2u);

  // Another format (or no header at all): nothing is trusted.
  std::string other_version = header;
  other_version[8] = 9;
  EXPECT_TRUE(parse_acks(other_version + a).entries.empty());
  EXPECT_FALSE(parse_acks(other_version + a).header_ok);
  EXPECT_TRUE(parse_acks(header.substr(0, 10)).entries.empty());
  EXPECT_TRUE(parse_acks("").entries.empty());
}

// ---- the spool across restarts ---------------------------------------------------------

// The data-loss case: record A is acknowledged (so its ids were released and later rows
// of them went upstream live), record B is not, so their segment stays on disk. The next
// open() must hand out B only.
TEST(SpoolAcks, AnAcknowledgedRecordIsNotReplayedAfterReopen) {
  TempDir dir;
  std::vector<Written> written;
  RecordId acked, rejected;
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    written = append_records(*spool, 0, 4);
    const auto records = take(*spool, 4);
    ASSERT_EQ(records.size(), 4u);
    acked = records[0].id;
    rejected = records[2].id;
    spool->ack(acked);
    spool->ack_rejected(rejected);
    spool->ack(acked);  // repeated: ignored, and not written twice
    EXPECT_EQ(spool->metrics().records_acked, 1u);
    // Destroyed without acknowledging the rest: the segment stays.
  }
  ASSERT_EQ(segment_files(dir.path()).size(), 1u);
  ASSERT_EQ(ack_files(dir.path()).size(), 1u);
  EXPECT_EQ(read_bytes(ack_files(dir.path())[0]).size(), kAckHeaderBytes + 2 * kAckEntryBytes);

  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].id, written[1].result.id);
  expect_record(records[0], 1);
  EXPECT_EQ(records[1].id, written[3].result.id);
  expect_record(records[1], 3);
  SpoolMetrics m = spool->metrics();
  EXPECT_EQ(m.records_already_acked, 2u);
  EXPECT_EQ(m.records_replayed, 2u);
  EXPECT_EQ(m.records_outstanding, 2u);
  EXPECT_EQ(m.replay_lag_bytes, records[0].size + records[1].size) << "the skipped records are not lag";

  // Acknowledging the rest deletes the segment and its acknowledgements with it.
  for (const auto& r : records) spool->ack(r.id);
  spool->close();
  EXPECT_TRUE(segment_files(dir.path()).empty());
  EXPECT_TRUE(ack_files(dir.path()).empty());
  EXPECT_EQ(spool->metrics().ack_write_errors, 0u);
}

// Acknowledgements written after an earlier restart go on after the old ones.
TEST(SpoolAcks, AcknowledgementsAccumulateOverSeveralRuns) {
  TempDir dir;
  std::vector<Written> written;
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    written = append_records(*spool, 0, 5);
    spool->ack(take(*spool, 1).at(0).id);
  }
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    const auto records = take(*spool, 2);
    ASSERT_EQ(records.size(), 2u);
    expect_record(records[0], 1);
    spool->ack(records[1].id);  // record 2; record 1 stays unacknowledged
  }
  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), 3u);
  expect_record(records[0], 1);
  expect_record(records[1], 3);
  expect_record(records[2], 4);
  EXPECT_EQ(spool->metrics().records_already_acked, 2u);
}

// A real crash: the acknowledgement must be on disk (in the page cache) by the time
// ack() returns, with no close, no destructor and no fsync after it.
TEST(SpoolAcks, KillNineRightAfterAnAckDoesNotReplayTheRecord) {
  TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  SpoolOptions options = ack_options(dir.path());
  options.fsync_interval = std::chrono::hours(1);  // only the first write is ever fsynced
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    SpoolError error;
    auto spool = Spool::open(options, error);
    if (!spool) ::_exit(3);
    const auto written = append_records(*spool, 0, 6);
    if (spool->sync(std::chrono::steady_clock::now() + 60s) != SpoolStatus::ok) ::_exit(4);
    const auto records = take(*spool, 6);
    if (records.size() != 6) ::_exit(5);
    spool->ack(records[0].id);
    spool->ack(records[1].id);
    spool->ack_rejected(records[4].id);
    const char done = 'a';
    if (::write(pipe_fds[1], &done, 1) != 1) ::_exit(6);
    ::raise(SIGKILL);
    ::_exit(7);
  }
  ::close(pipe_fds[1]);
  char done = 0;
  const ssize_t n = ::read(pipe_fds[0], &done, 1);
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit status " << WEXITSTATUS(status);
  ASSERT_EQ(n, 1);

  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), 3u);
  expect_record(records[0], 2);
  expect_record(records[1], 3);
  expect_record(records[2], 5);
  EXPECT_EQ(spool->metrics().records_already_acked, 3u);
}

// A crash in the middle of writing an entry leaves part of it: that record is replayed
// once more (a duplicate), the others are not, and later entries line up again.
TEST(SpoolAcks, ATornAckFileTailCostsOnlyItsEntry) {
  TempDir dir;
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    append_records(*spool, 0, 5);
    const auto records = take(*spool, 2);
    spool->ack(records.at(0).id);
    spool->ack(records.at(1).id);
  }
  const auto files = ack_files(dir.path());
  ASSERT_EQ(files.size(), 1u);
  std::filesystem::resize_file(files[0], kAckHeaderBytes + kAckEntryBytes + 9);
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    const auto records = take(*spool, 2);
    ASSERT_EQ(records.size(), 2u);
    expect_record(records[0], 1);  // its entry was torn: replayed again
    expect_record(records[1], 2);
    EXPECT_EQ(spool->metrics().records_already_acked, 1u);
    spool->ack(records[0].id);
    spool->ack(records[1].id);
  }
  // The new entries were written over the torn one, on the 16-byte grid.
  EXPECT_EQ(std::filesystem::file_size(files[0]), kAckHeaderBytes + 3 * kAckEntryBytes);
  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), 2u);
  expect_record(records[0], 3);
  expect_record(records[1], 4);
  EXPECT_EQ(spool->metrics().records_already_acked, 3u);
}

TEST(SpoolAcks, AnUnusableAckFileMeansReplayingEverythingAndIsStartedAgain) {
  TempDir dir;
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    append_records(*spool, 0, 3);
    spool->ack(take(*spool, 1).at(0).id);
  }
  const auto files = ack_files(dir.path());
  ASSERT_EQ(files.size(), 1u);
  std::string bytes = read_bytes(files[0]);
  bytes[0] = 'X';  // bad magic
  write_bytes(files[0], bytes);
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    const auto records = take(*spool, 3);
    ASSERT_EQ(records.size(), 3u);  // record 0 again: a duplicate, never a loss
    EXPECT_EQ(spool->metrics().records_already_acked, 0u);
    spool->ack(records[1].id);
  }
  EXPECT_EQ(read_bytes(files[0]).size(), kAckHeaderBytes + kAckEntryBytes);
  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), 2u);
  expect_record(records[0], 0);
  expect_record(records[1], 2);
}

// An entry names a record by offset and CRC: other bytes at that offset (a file left
// from a segment of the same number) are not taken for the acknowledged record.
TEST(SpoolAcks, AnEntryOnlyMatchesTheRecordItWasWrittenFor) {
  TempDir dir;
  std::vector<Written> written;
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    written = append_records(*spool, 0, 3);
  }
  const RecordId first = written[0].result.id;
  const RecordId second = written[1].result.id;
  std::uint32_t second_crc = 0;
  {
    boost::system::error_code ec;
    auto scanner = SegmentScanner::open(segment_path(dir.path(), second.segment), second.segment, ec);
    ASSERT_TRUE(scanner);
    SpoolRecord record;
    ASSERT_TRUE(scanner->read_at(second.offset, 1 << 20, record, ec));
    second_crc = record.crc;
  }
  write_bytes(ack_path(dir.path(), first.segment), encode_ack_header() +
                                                       entry_bytes({first.offset, 0x12345678}) +
                                                       entry_bytes({second.offset, second_crc}));
  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].id, first);
  expect_record(records[1], 2);
  EXPECT_EQ(spool->metrics().records_already_acked, 1u);
}

// A crash between deleting a segment and deleting its .acks file leaves an orphan: it
// is removed at open, and new segments are numbered past it anyway.
TEST(SpoolAcks, AnOrphanAckFileIsRemovedAndNeverReused) {
  TempDir dir;
  const std::filesystem::path orphan = ack_path(dir.path(), 7);
  write_bytes(orphan, encode_ack_header() + entry_bytes({kSegmentHeaderBytes, 1}));
  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  EXPECT_FALSE(std::filesystem::exists(orphan));
  const auto written = append_records(*spool, 0, 1);
  ASSERT_TRUE(written[0].result.ok());
  EXPECT_GT(written[0].result.id.segment, 7u);
}

// What an earlier run acknowledged counts towards settling its backlog, which holds
// every live row back until then, and towards deleting its segments.
TEST(SpoolAcks, SkippedRecordsSettleTheEarlierRunsBacklog) {
  TempDir dir;
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    append_records(*spool, 0, 3);
    const auto records = take(*spool, 3);
    spool->ack(records.at(0).id);
    spool->ack(records.at(2).id);
  }
  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->order().route(1), ReplayOrder::Route::spool);
  auto only = spool->next_record();
  ASSERT_TRUE(only);
  expect_record(*only, 1);
  EXPECT_FALSE(spool->next_record().has_value());
  EXPECT_EQ(spool->order().route(1), ReplayOrder::Route::spool) << "record 1 is not settled yet";
  spool->ack(only->id);
  EXPECT_EQ(spool->order().route(1), ReplayOrder::Route::live);
  spool->close();
  EXPECT_TRUE(segment_files(dir.path()).empty());
  EXPECT_TRUE(ack_files(dir.path()).empty());
}

// With many segments, each keeps its own acknowledgements. A segment whose records were
// all acknowledged but which was still there at the restart (a crash came before its
// deletion) is passed over whole and deleted.
TEST(SpoolAcks, EverySegmentKeepsItsOwnAcknowledgements) {
  TempDir dir;
  std::vector<Written> written;
  std::set<std::uint32_t> acked;
  std::uint64_t first_segment = 0;
  {
    auto spool = open_or_fail(ack_options(dir.path()));
    ASSERT_TRUE(spool);
    written = append_records(*spool, 0, 400);
    const auto records = take(*spool, 400);
    ASSERT_EQ(records.size(), 400u);
    first_segment = records.front().id.segment;
    std::uint32_t last_of_first = 0;
    for (std::uint32_t i = 0; i < records.size(); ++i) {
      if (records[i].id.segment == first_segment) last_of_first = i;
    }
    for (std::uint32_t i = 0; i < records.size(); ++i) {
      // The first segment but its last record, and every third record elsewhere.
      if ((records[i].id.segment == first_segment && i != last_of_first) ||
          (records[i].id.segment != first_segment && i % 3 == 0)) {
        spool->ack(records[i].id);
        acked.insert(i);
      }
    }
    // The last record's acknowledgement reached the file, then the process died: as if
    // ack() had returned and the crash came before the flusher deleted the segment.
    std::ofstream(ack_path(dir.path(), first_segment), std::ios::binary | std::ios::app)
        << entry_bytes({records[last_of_first].id.offset, records[last_of_first].crc});
    acked.insert(last_of_first);
  }
  const auto segments_left = segment_files(dir.path()).size();
  ASSERT_GE(segments_left, 3u);
  ASSERT_TRUE(std::filesystem::exists(segment_path(dir.path(), first_segment)));
  auto spool = open_or_fail(ack_options(dir.path()));
  ASSERT_TRUE(spool);
  const auto records = drain(*spool);
  ASSERT_EQ(records.size(), written.size() - acked.size());
  std::size_t next = 0;
  for (std::uint32_t i = 0; i < written.size(); ++i) {
    if (acked.contains(i)) continue;
    ASSERT_LT(next, records.size());
    EXPECT_EQ(records[next].id, written[i].result.id);
    expect_record(records[next], i);
    ++next;
  }
  EXPECT_EQ(spool->metrics().records_already_acked, acked.size());
  EXPECT_NE(records.front().id.segment, first_segment);
  for (const auto& r : records) spool->ack(r.id);
  spool->close();
  EXPECT_TRUE(segment_files(dir.path()).empty());
  EXPECT_TRUE(ack_files(dir.path()).empty());
}

}  // namespace
}  // namespace spanline::detail

// ---- end to end ------------------------------------------------------------------------

namespace spanline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using detail::spool_test::TempDir;
using fakeapi::FakeApi;
using fakeapi::FaultConfig;
using fakeapi::ServerConfig;

constexpr const char* kProject = "3b9d2c4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
constexpr const char* kSpanId = "acked-span";

Options crash_options(std::uint16_t port, const std::filesystem::path& dir) {
  Options o{.api_key = "test-key",
            .api_url = "http://127.0.0.1:" + std::to_string(port),
            .linger = 5ms,
            .retry_base_delay = 10ms,
            .retry_max_delay = 100ms};
  // Two requests on the wire: replay takes one (so it sends the spool's records one after
  // the other, oldest first), live batches the other.
  o.max_in_flight = 2;
  o.initial_in_flight = 2;
  o.spool_dir = dir.string();
  o.spool_fsync_interval = 20ms;
  o.spool_outage_after = 60s;  // no outage spilling: the live merge row goes upstream
  return o;
}

using test_support::wait_for;

PreparedRow prepared(const std::string& id, const std::string& rest) {
  return PreparedRow{.json = R"({"id":")" + id + "\"," + rest + "}",
                     .id_offset = 7,
                     .id_size = static_cast<std::uint32_t>(id.size())};
}

// The child: writes the span's full row and some other rows to the spool while the API is
// down, waits until replay has delivered the span's row (so its id is released), logs the
// span's end as a live merge row, and waits to be killed. Exit codes say where it failed.
[[noreturn]] void run_crashing_child(int from_parent, int to_parent, const std::filesystem::path& dir) {
  std::uint16_t port = 0;
  if (::read(from_parent, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) ::_exit(10);
  {
    Logger logger(crash_options(port, dir));
    logger.set_error_handler([](const ErrorReport&) {});
    const DestinationHandle to = logger.destination(Destination::project(kProject));
    std::vector<PreparedRow> span{prepared(kSpanId, R"("input":"the question","metrics":{"start":1})")};
    if (sidecar::log_durable(logger, to, span, 10s) != DurableResult::durable) ::_exit(11);
    for (int i = 0; i < 8; ++i) {
      std::vector<PreparedRow> other{prepared("other-" + std::to_string(i), R"("input":"x")")};
      if (sidecar::log_durable(logger, to, other, 10s) != DurableResult::durable) ::_exit(12);
    }
    const char spooled = 's';
    if (::write(to_parent, &spooled, 1) != 1) ::_exit(13);
    // The span's record is the oldest and goes first: once one record is delivered, it is
    // that one, and it was acknowledged on the same I/O thread before anything logged now
    // is routed.
    if (!wait_for([&] { return logger.stats().spool.rows_replayed_delivered >= 1; }, 60s)) ::_exit(14);
    if (logger.log_merge(to, kSpanId, Fields{}.string("output", "the live answer")) != LogResult::queued)
      ::_exit(15);
    char wait = 0;
    (void)::read(from_parent, &wait, 1);  // killed while waiting here
  }
  ::_exit(16);
}

TEST(SpoolAcksE2E, ASpansEndRowSurvivesACrashAfterItsStartWasReplayed) {
  TempDir dir;
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  // Forked before any thread of this process exists: the fake API starts afterwards.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(to_child[1]);
    ::close(to_parent[0]);
    run_crashing_child(to_child[0], to_parent[1], dir.path());
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  const auto reap = [&] {
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(to_child[1]);
    ::close(to_parent[0]);
    return status;
  };

  FakeApi api(ServerConfig{.api_key = "test-key",
                           .faults = FaultConfig{.outage_start_s = 0, .outage_duration_s = 3600}});
  const std::uint16_t port = api.port();
  ASSERT_EQ(::write(to_child[1], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  char spooled = 0;
  if (::read(to_parent[0], &spooled, 1) != 1) {
    const int status = reap();
    FAIL() << "the child stopped before spooling, exit status " << WEXITSTATUS(status);
  }
  // Up again, slowly: each request takes a while, so when the span's merge row has been
  // applied most of the other records are still unacknowledged and their segment stays.
  api.set_faults(FaultConfig{.latency_ms = 300});
  const bool merged = wait_for(
      [&] {
        const auto row = api.row("project_logs", kProject, kSpanId);
        return row && row->contains("output");
      },
      60s);
  const int status = reap();  // kill -9: no shutdown, no flush, no close
  ASSERT_TRUE(merged) << "the live merge row never arrived; child status " << status;

  // The case being tested: the segment holding the replayed (and acknowledged) full row
  // is still there, and the merge row went upstream live, not through the spool.
  ASSERT_TRUE(detail::spool_test::spool_holds_text(dir.path(), R"("id":"acked-span")")) << "the span's record was deleted already";
  ASSERT_FALSE(detail::spool_test::spool_holds_text(dir.path(), "the live answer")) << "the merge row went through the spool";

  api.set_faults({});
  Logger again(crash_options(port, dir.path()));
  again.set_error_handler([](const ErrorReport&) {});
  ASSERT_TRUE(wait_for([&] { return api.row("project_logs", kProject, "other-7").has_value(); }, 20s));
  ASSERT_TRUE(wait_for([&] { return again.stats().spool.replay_lag_bytes == 0; }, 20s))
      << "replay lag " << again.stats().spool.replay_lag_bytes;
  const auto row = api.row("project_logs", kProject, kSpanId);
  ASSERT_TRUE(row.has_value());
  EXPECT_TRUE(row->contains("input")) << boost::json::serialize(*row);
  EXPECT_TRUE(row->contains("output"))
      << "the replayed full row replaced the merged one: " << boost::json::serialize(*row);
  // The public snapshot says so too: at least the span's record was skipped as acknowledged
  // by the killed run, and every acknowledgement of this run reached its .acks file.
  const Stats stats = again.stats();
  EXPECT_GE(stats.spool.records_already_acked, 1u);
  EXPECT_EQ(stats.spool.ack_write_errors, 0u);
}

}  // namespace
}  // namespace spanline
