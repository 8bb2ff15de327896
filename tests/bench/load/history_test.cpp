#include "history.hpp"

#include "report.hpp"
#include "report_md.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace spanline::load {
namespace {

RunResult scenario(std::string name, double accepted) {
  RunResult r;
  r.name = std::move(name);
  r.target = "inproc";
  r.mode = "closed";
  r.send_seconds = 10;
  r.drain_seconds = 0;
  r.achieved_rate = accepted;
  r.delivery_known = true;
  r.sent = static_cast<std::uint64_t>(accepted * 10);
  r.delivered_unique = r.sent - 5;
  r.lost = 5;
  r.dropped_local = 2;
  r.rejected = 1;
  r.cpu_seconds = 20;
  r.peak_rss_bytes = 300u << 20;
  return r;
}

Reference reference() {
  Reference ref;
  ref.bytes_per_span = 2000;
  ref.zstd1_bytes_per_s = 500e6;  // 250k spans/s, 4 µs per span
  return ref;
}

boost::json::value micro_fresh() {
  return boost::json::parse(R"({"benchmarks":[
    {"name":"BM_LogCallLatency/20000/iterations:1/real_time/threads:1","run_type":"iteration",
     "p50_net_ns":130,"p99_ns":1800,"first_p50_ns":2600}]})");
}

const HistoryFigure* find(const std::vector<HistoryFigure>& figures, std::string_view name) {
  for (const auto& f : figures)
    if (f.name == name) return &f;
  return nullptr;
}

TEST(LoadHistory, HeadlineFiguresCarryValuesUnitsAndReferenceRatios) {
  const auto fresh = micro_fresh();
  const auto figures = headline_figures({scenario("01-closed", 200'000)}, reference(), nullptr, &fresh);

  const auto* accepted = find(figures, "01-closed/accepted");
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(accepted->unit, "spans/s");
  EXPECT_DOUBLE_EQ(accepted->value, 200'000);
  ASSERT_TRUE(accepted->ratio.has_value());
  EXPECT_DOUBLE_EQ(*accepted->ratio, 0.8);  // of the 250k spans/s ceiling
  EXPECT_EQ(accepted->reference, "zstd-1 ceiling");

  const auto* delivered = find(figures, "01-closed/delivered");
  ASSERT_NE(delivered, nullptr);
  EXPECT_DOUBLE_EQ(delivered->value, (2'000'000.0 - 5) / 10);

  const auto* cpu = find(figures, "01-closed/cpu_per_span");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->unit, "us/span");
  EXPECT_DOUBLE_EQ(cpu->value, 10);    // 20 s over 2M spans
  EXPECT_DOUBLE_EQ(*cpu->ratio, 2.5);  // zstd-1 needs 4 µs for a span's 2,000 B

  EXPECT_DOUBLE_EQ(find(figures, "01-closed/lost")->value, 5);
  EXPECT_FALSE(find(figures, "01-closed/lost")->ratio.has_value());
  EXPECT_DOUBLE_EQ(find(figures, "01-closed/dropped")->value, 3);
  EXPECT_DOUBLE_EQ(find(figures, "01-closed/peak_rss")->value, 300);
  EXPECT_EQ(find(figures, "01-closed/peak_rss")->unit, "MiB");

  EXPECT_DOUBLE_EQ(find(figures, "caller/BM_LogCallLatency/20000/threads:1/p50_net")->value, 130);
  EXPECT_DOUBLE_EQ(find(figures, "caller/BM_LogCallLatency/20000/threads:1/p99")->value, 1800);
  EXPECT_DOUBLE_EQ(find(figures, "caller/BM_LogCallLatency/20000/threads:1/first")->value, 2600);

  // Without a reference there is no ratio; without delivery stats no delivered or lost.
  RunResult unknown = scenario("02", 1000);
  unknown.delivery_known = false;
  const auto bare = headline_figures({unknown}, std::nullopt, nullptr, nullptr);
  EXPECT_FALSE(find(bare, "02/accepted")->ratio.has_value());
  EXPECT_EQ(find(bare, "02/delivered"), nullptr);
  EXPECT_EQ(find(bare, "02/lost"), nullptr);
}

TEST(LoadHistory, A429StormRecordsItsRequestBoundAndTheShareDelivered) {
  RunResult storm = scenario("03-429", 6000);
  storm.status_429 = 30;
  storm.requests_ok = 20;                   // 2 successful requests per second over 10 s
  storm.payload_limit_bytes = 6'000'000;    // 3,000 spans of 2,000 B per body
  storm.bytes_raw = storm.delivered_unique * 2000;
  const auto figures = headline_figures({storm}, reference(), nullptr, nullptr);
  const auto* bound = find(figures, "03-429/request_bound");
  ASSERT_NE(bound, nullptr);
  EXPECT_EQ(bound->unit, "spans/s");
  EXPECT_DOUBLE_EQ(bound->value, 6000);
  const auto* share = find(figures, "03-429/delivered_vs_bound");
  ASSERT_NE(share, nullptr);
  EXPECT_NEAR(share->value, 100 * storm.delivered_rate() / 6000, 1e-9);

  // Without 429s there is no bound to report.
  EXPECT_EQ(find(headline_figures({scenario("01", 1000)}, reference(), nullptr, nullptr), "01/request_bound"),
            nullptr);
}

TEST(LoadHistory, LinesRoundTripOneObjectPerFigure) {
  const HistoryRun run{"abc1234", true, "2026-12-08T03:10:00Z", true, {"AMD EPYC", 2}};
  const auto figures = headline_figures({scenario("01-closed", 200'000)}, reference(), nullptr, nullptr);
  const std::string text = history_lines(run, figures);
  std::istringstream lines(text);
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    const auto v = boost::json::parse(line);
    EXPECT_EQ(v.at("commit").as_string(), "abc1234");
    EXPECT_EQ(v.at("machine").at("nproc").to_number<unsigned>(), 2u);
  }
  EXPECT_EQ(count, figures.size());

  const auto back = parse_history(text + "\n\n");
  ASSERT_EQ(back.size(), figures.size());
  EXPECT_EQ(back[0].run.commit, "abc1234");
  EXPECT_TRUE(back[0].run.local_changes);
  EXPECT_TRUE(back[0].run.quick);
  EXPECT_EQ(back[0].run.machine.cpu, "AMD EPYC");
  EXPECT_EQ(back[0].figure.name, "01-closed/accepted");
  EXPECT_DOUBLE_EQ(*back[0].figure.ratio, 0.8);
  EXPECT_EQ(back[0].figure.reference, "zstd-1 ceiling");

  EXPECT_THROW(parse_history(text + "{\"commit\":\"x\"}\n"), std::runtime_error);
  try {
    parse_history(text + "not json\n");
    FAIL() << "a bad line was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line " + std::to_string(figures.size() + 1)), std::string::npos)
        << e.what();
  }
}

TEST(LoadHistory, MachineComesFromCpuinfo) {
  const auto m =
      machine_from_cpuinfo("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13  \n", 2);
  EXPECT_EQ(m.cpu, "AMD EPYC 7B13");
  EXPECT_EQ(m.nproc, 2u);
  EXPECT_EQ(machine_from_cpuinfo("processor : 0\n", 4).cpu, "unknown");
  EXPECT_GT(this_machine().nproc, 0u);
  const std::string now = utc_now_iso8601();
  ASSERT_EQ(now.size(), 20u);
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
}

std::vector<HistoryRecord> history_of(const std::vector<std::pair<HistoryRun, double>>& runs) {
  std::string text;
  for (const auto& [run, accepted] : runs) {
    RunResult r = scenario("01-closed", accepted);
    text += history_lines(run, headline_figures({r}, reference(), nullptr, nullptr));
  }
  return parse_history(text);
}

HistoryRun run_at(int minute, bool quick = false) {
  char date[32];
  std::snprintf(date, sizeof date, "2026-12-08T03:%02d:00Z", minute);
  return {"c" + std::to_string(minute), false, date, quick, {"AMD EPYC", 2}};
}

TEST(LoadHistory, SectionShowsTheLastRunsOfTheNewestKindAndFlagsRegressions) {
  // Six full runs and a quick one between them: the last five full runs are shown.
  const auto records = history_of({{run_at(1), 100'000},
                                   {run_at(2), 110'000},
                                   {run_at(3, true), 5'000},
                                   {run_at(4), 120'000},
                                   {run_at(5), 130'000},
                                   {run_at(6), 140'000},
                                   {run_at(7), 100'000}});
  std::string md;
  history_section(md, records);
  EXPECT_NE(md.find("## History: the last 5 runs"), std::string::npos) << md;
  EXPECT_EQ(md.find("`c1`"), std::string::npos) << md;  // the oldest full run falls off
  EXPECT_EQ(md.find("`c3`"), std::string::npos) << md;  // quick runs are not compared with full runs
  EXPECT_NE(md.find("| 1 | `c2` | 2026-12-08 03:02 | 2 × AMD EPYC |"), std::string::npos) << md;
  // accepted: 110k .. 100k, each with its fraction of the 250k ceiling; 140k -> 100k is a regression
  EXPECT_NE(
      md.find(
          "| 01-closed/accepted | 110.0k (44.0 %) | 120.0k (48.0 %) | 130.0k (52.0 %) | 140.0k (56.0 %) | "
          "100.0k (40.0 %) | **-28.6 % worse** |"),
      std::string::npos)
      << md;
  // CPU per span fell with more spans for the same 20 s: better, not flagged.
  EXPECT_NE(md.find("| 01-closed/cpu_per_span | 18.18 µs (4.55x) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 01-closed/lost | 5 ids | 5 ids | 5 ids | 5 ids | 5 ids | = |"), std::string::npos)
      << md;

  // A quick run last: only quick runs are shown.
  auto with_quick = records;
  const auto more = history_of({{run_at(8, true), 6'000}});
  with_quick.insert(with_quick.end(), more.begin(), more.end());
  std::string quick_md;
  history_section(quick_md, with_quick);
  EXPECT_NE(quick_md.find("the last 2 quick-mode runs"), std::string::npos) << quick_md;
  EXPECT_NE(quick_md.find("`c3`"), std::string::npos);
  EXPECT_EQ(quick_md.find("`c7`"), std::string::npos);

  // A full run in the same second as the quick one (a script running both) is a run of its own.
  HistoryRun same_second = run_at(8, true);
  same_second.quick = false;
  auto full_last = with_quick;
  const auto full = history_of({{same_second, 150'000}});
  full_last.insert(full_last.end(), full.begin(), full.end());
  std::string full_md;
  history_section(full_md, full_last);
  EXPECT_NE(full_md.find("## History: the last 5 runs"), std::string::npos) << full_md;
  EXPECT_NE(
      full_md.find(
          "| 01-closed/accepted | 120.0k (48.0 %) | 130.0k (52.0 %) | 140.0k (56.0 %) | 100.0k (40.0 %) | "
          "150.0k (60.0 %) | +50.0 % |"),
      std::string::npos)
      << full_md;

  std::string empty;
  history_section(empty, {});
  EXPECT_TRUE(empty.empty());
}

TEST(LoadHistory, LossAppearingIsFlagged) {
  RunResult clean = scenario("s", 1000);
  clean.lost = 0;
  RunResult lossy = scenario("s", 1000);
  lossy.lost = 7;
  std::string text = history_lines(run_at(1), headline_figures({clean}, std::nullopt, nullptr, nullptr));
  text += history_lines(run_at(2), headline_figures({lossy}, std::nullopt, nullptr, nullptr));
  std::string md;
  history_section(md, parse_history(text));
  EXPECT_NE(md.find("| s/lost | 0 ids | 7 ids | **worse (was 0)** |"), std::string::npos) << md;
  std::string first_only;
  history_section(first_only, parse_history(history_lines(run_at(1), {{"s/lost", 0, "ids", {}, {}}})));
  EXPECT_NE(first_only.find("## History: the last run (history.jsonl)"), std::string::npos) << first_only;
  EXPECT_NE(first_only.find("| s/lost | 0 ids | – |"), std::string::npos) << first_only;
}

TEST(LoadHistory, AppendsToTheFileAndTheReportShowsIt) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("load_history_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "01-closed.load.json") << to_json_text(scenario("01-closed", 200'000));
  std::ofstream(dir / "reference.json") << boost::json::serialize(to_json(reference()));
  std::ofstream(dir / "micro-fresh.json") << boost::json::serialize(micro_fresh());
  const std::string file = (dir / "history.jsonl").string();

  const std::size_t first = append_history(dir.string(), file, run_at(1));
  const std::size_t second = append_history(dir.string(), file, run_at(2));
  EXPECT_EQ(first, second);
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  const auto records = parse_history(text.str());
  ASSERT_EQ(records.size(), first + second);  // appended, never rewritten
  EXPECT_EQ(records.front().run.commit, "c1");
  EXPECT_EQ(records.back().run.commit, "c2");

  write_report(dir.string());
  std::ifstream report(dir / "REPORT.md");
  const std::string md((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>());
  EXPECT_NE(md.find("## History: the last 2 runs"), std::string::npos) << md;
  EXPECT_NE(md.find("| caller/BM_LogCallLatency/20000/threads:1/first | 2600 ns | 2600 ns | = |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("## Caller cost of one log() call"), std::string::npos);

  // An empty results directory has nothing to append; a damaged history stops the report.
  const auto empty = dir / "empty";
  fs::create_directories(empty);
  EXPECT_THROW(append_history(empty.string(), (empty / "history.jsonl").string(), run_at(3)),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(empty / "history.jsonl"));
  std::ofstream(file, std::ios::app) << "{broken\n";
  EXPECT_THROW(write_report(dir.string()), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace spanline::load
