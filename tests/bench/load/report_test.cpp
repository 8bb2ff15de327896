#include "report.hpp"

#include "report_md.hpp"
#include "svg.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

namespace spanline::load {
namespace {

RunResult sample_result() {
  RunResult r;
  r.name = "no-faults";
  r.target = "inproc";
  r.mode = "open";
  r.target_rate = 20000;
  r.threads = 2;
  r.faults = "429 on 30% (Retry-After 1 s)";
  r.send_seconds = 10;
  r.drain_seconds = 1.5;
  r.traces = 5000;
  r.rows_logged = 80000;
  r.achieved_rate = 19990;
  r.rows_per_second = 8000;
  r.caller_trace = {1000, 2000, 3000, 90'000, 150'000, 200'000, 2500.5};
  r.caller_call = {16000, 300, 400, 900, 1500, 5000, 350};
  r.delivery = {200000, 20'000'000, 30'000'000, 60'000'000, 90'000'000, 1'100'000'000, 25'000'000};
  r.delivery_known = true;
  r.sent = 200000;
  r.delivered_unique = 199990;
  r.duplicates = 42;
  r.lost = 10;
  r.rejected = 3;
  r.dropped_local = 7;
  r.bytes_raw = 100 << 20;
  r.bytes_wire = 20 << 20;
  r.compression_ratio = 5.0;
  r.requests = 321;
  r.status_429 = 97;
  r.retries = 97;
  r.cpu_of = "library threads + producer threads";
  r.cpu_seconds = 3.25;
  r.peak_rss_bytes = 50 << 20;
  for (int i = 1; i <= 10; ++i) {
    r.samples.push_back({static_cast<double>(i), static_cast<std::uint64_t>(i) * 20000,
                         static_cast<std::uint64_t>(i) * 19000, 100, 2, 5, 9, 0});
  }
  return r;
}

TEST(LoadReport, TextShowsEveryHeadlineNumber) {
  const std::string text = render_text(sample_result());
  for (const char* needle :
       {"no-faults", "target=inproc", "sent 200000", "delivered unique 199990", "ids seen again 42", "lost 10",
        "rejected 3", "p99 90.0 us", "max 200.0 us", "5.00x", "429s 97", "3.25 s", "50.0 MiB", "LOSS"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << "missing '" << needle << "' in\n" << text;
  }
  RunResult dropped = sample_result();
  dropped.lost = 0;
  EXPECT_FALSE(dropped.clean());
  EXPECT_NE(render_text(dropped).find("rows were dropped or rejected"), std::string::npos);
  RunResult ok = dropped;
  ok.dropped_local = 0;
  ok.rejected = 0;
  EXPECT_TRUE(ok.clean());
  EXPECT_NE(render_text(ok).find("NO LOSS"), std::string::npos);
  RunResult unknown = sample_result();
  unknown.delivery_known = false;
  EXPECT_NE(render_text(unknown).find("UNKNOWN"), std::string::npos);
}

// Under a 429 storm: successful requests per second x spans per payload-limit body.
TEST(LoadReport, RequestBoundIsOkRequestsPerSecondTimesSpansPerPayloadBody) {
  RunResult r = sample_result();
  r.send_seconds = 8;
  r.drain_seconds = 2;                // 10 s in all
  r.delivered_unique = 1000;          // 100 spans/s delivered
  r.bytes_raw = 2'000'000;            // 2,000 bytes per span
  r.payload_limit_bytes = 6'000'000;  // 3,000 spans per body
  r.requests_ok = 20;                 // 2 per second
  EXPECT_DOUBLE_EQ(r.delivered_rate(), 100);
  EXPECT_DOUBLE_EQ(r.request_bound(), 6000);
  r.payload_limit_bytes = 5'999'999;  // a partial span does not fit: 2,999 per body
  EXPECT_DOUBLE_EQ(r.request_bound(), 5998);
  r.payload_limit_bytes = 6'000'000;

  const boost::json::value v = boost::json::parse(to_json_text(r));
  EXPECT_DOUBLE_EQ(v.at("request_bound").to_number<double>(), 6000);
  EXPECT_DOUBLE_EQ(v.at("delivered_rate").to_number<double>(), 100);
  const RunResult back = result_from_json(v);
  EXPECT_EQ(back.requests_ok, 20u);
  EXPECT_EQ(back.payload_limit_bytes, 6'000'000u);
  EXPECT_NE(render_text(r).find("of the request bound 6000 spans/s"), std::string::npos) << render_text(r);

  ReportInputs in;
  in.runs = {r};
  const std::string md = render_report(in).markdown;
  EXPECT_NE(md.find("request bound"), std::string::npos);
  EXPECT_NE(md.find("6.0k spans/s / 1.7 %"), std::string::npos) << md;

  RunResult unknown = r;
  unknown.payload_limit_bytes = 0;  // not a spawned fake API
  EXPECT_EQ(unknown.request_bound(), 0);
  EXPECT_EQ(render_text(unknown).find("request bound"), std::string::npos);
}

TEST(LoadReport, JsonIsOneObjectAndRoundTrips) {
  const RunResult r = sample_result();
  const std::string text = to_json_text(r);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  const boost::json::value v = boost::json::parse(text);
  EXPECT_EQ(v.at("lost").to_number<std::uint64_t>(), 10u);
  EXPECT_EQ(v.at("latency").at("caller_trace").at("p99_ns").to_number<std::uint64_t>(), 90'000u);
  const RunResult back = result_from_json(v);
  EXPECT_EQ(back.name, r.name);
  EXPECT_EQ(back.sent, r.sent);
  EXPECT_EQ(back.delivered_unique, r.delivered_unique);
  EXPECT_EQ(back.lost, r.lost);
  EXPECT_EQ(back.caller_trace.p999, r.caller_trace.p999);
  EXPECT_EQ(back.delivery.max, r.delivery.max);
  EXPECT_DOUBLE_EQ(back.compression_ratio, r.compression_ratio);
  EXPECT_TRUE(back.delivery_known);
  ASSERT_EQ(back.samples.size(), r.samples.size());
  EXPECT_EQ(back.samples[4].delivered, r.samples[4].delivered);
  EXPECT_EQ(back.samples[4].status_429, 9u);
  EXPECT_THROW(result_from_json(boost::json::parse(R"({"x":1})")), std::invalid_argument);
}

RunResult sidecar_result() {
  RunResult r = sample_result();
  r.name = "uds tiny queue";
  r.target = "uds";
  r.rejected = 0;
  r.dropped_local = 0;
  r.missing = 500;
  r.lost = 0;
  r.delivered_unique = r.sent - r.missing;
  r.sidecar_counts_known = true;
  r.dropped_sidecar = {{"queue_full", 2000}, {"invalid_not_json", 3}};
  r.dropped_sidecar_unanswered = 2003;  // a stream socket answers nothing
  return r;
}

TEST(LoadReport, SidecarDropsAreShownByReasonAndNotAsLoss) {
  const RunResult r = sidecar_result();
  EXPECT_EQ(r.dropped_sidecar_total(), 2003u);
  EXPECT_FALSE(r.clean());  // dropped is not lost, but it is not clean either
  const std::string text = render_text(r);
  for (const char* needle :
       {"lost 0", "dropped by the sidecar 2003 rows (invalid_not_json: 3, queue_full: 2000)",
        "missing                500 ids, 500 of them accounted for by counted drops",
        "no row id lost, but rows were dropped or rejected"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << "missing '" << needle << "' in\n" << text;
  }
  EXPECT_EQ(text.find("LOSS"), std::string::npos) << text;

  RunResult unread = r;
  unread.sidecar_counts_known = false;
  unread.dropped_sidecar.clear();
  EXPECT_NE(render_text(unread).find("dropped by the sidecar unknown"), std::string::npos);
  RunResult none = r;
  none.dropped_sidecar.clear();
  EXPECT_NE(render_text(none).find("dropped by the sidecar 0 rows"), std::string::npos);
  EXPECT_EQ(text.find("refused in its answers"), std::string::npos);
  // Over HTTP the daemon refused most of them in its answers, which the harness counted.
  RunResult http = r;
  http.target = "http";
  http.dropped_sidecar_unanswered = 3;
  EXPECT_NE(render_text(http).find("(invalid_not_json: 3, queue_full: 2000); 2000 of them refused in its "
                                   "answers (in dropped locally)"),
            std::string::npos)
      << render_text(http);
  // In process there is no sidecar to speak of.
  EXPECT_EQ(render_text(sample_result()).find("dropped by the sidecar"), std::string::npos);

  const boost::json::value v = boost::json::parse(to_json_text(r));
  EXPECT_EQ(v.at("dropped_sidecar").at("queue_full").to_number<std::uint64_t>(), 2000u);
  EXPECT_EQ(v.at("missing").to_number<std::uint64_t>(), 500u);
  const RunResult back = result_from_json(v);
  EXPECT_TRUE(back.sidecar_counts_known);
  EXPECT_EQ(back.dropped_sidecar, r.dropped_sidecar);
  EXPECT_EQ(back.dropped_sidecar_unanswered, 2003u);
  EXPECT_EQ(back.missing, 500u);
  EXPECT_EQ(back.lost, 0u);
  // A result written before this accounting existed: what it called lost was all missing.
  boost::json::object old = v.as_object();
  old.erase("missing");
  old.erase("dropped_sidecar");
  old.erase("sidecar_counts_known");
  old["lost"] = 500;
  const RunResult legacy = result_from_json(old);
  EXPECT_EQ(legacy.missing, 500u);
  EXPECT_FALSE(legacy.sidecar_counts_known);
  EXPECT_TRUE(legacy.dropped_sidecar.empty());

  ReportInputs in;
  in.runs = {r};
  const std::string md = render_report(in).markdown;
  for (const char* needle :
       {"| dropped by the sidecar (rows) | 2003 (invalid_not_json: 3, queue_full: 2000) |",
        "| missing ids accounted for by counted drops | 500 of 500 |",
        "| 0 | 2003 | 42 |"}) {  // summary: lost 0, dropped 2003, ids again 42
    EXPECT_NE(md.find(needle), std::string::npos) << "missing '" << needle << "' in\n" << md;
  }
}

TEST(LoadReport, FormatsUnits) {
  EXPECT_EQ(format_ns(850), "850 ns");
  EXPECT_EQ(format_ns(12'300), "12.3 us");
  EXPECT_EQ(format_ns(45'600'000), "45.6 ms");
  EXPECT_EQ(format_ns(12'000'000'000ULL), "12.00 s");
  EXPECT_EQ(format_bytes(900), "900 B");
  EXPECT_EQ(format_bytes(1.5 * 1024 * 1024), "1.5 MiB");
  EXPECT_EQ(format_count(12'345), "12.3k");
  EXPECT_EQ(format_count(2'500'000), "2.50M");
}

TEST(LoadReport, MarkdownHasTablesReferenceFractionsAndPlots) {
  ReportInputs in;
  in.runs = {sample_result()};
  RunResult second = sample_result();
  second.name = "outage 10s";
  second.lost = 0;
  in.runs.push_back(second);
  Reference ref;
  ref.batch_bytes = 2 << 20;
  ref.batch_events = 1000;
  ref.bytes_per_span = 1000;
  ref.zstd1_bytes_per_s = 400e6;  // -> 400k spans/s ceiling
  ref.zstd1_ratio = 6;
  ref.memcpy_bytes_per_s = 8e9;
  in.reference = ref;
  in.micro = boost::json::parse(
      R"({"context":{"num_cpus":2,"mhz_per_cpu":2400,"library_build_type":"release"},)"
      R"("benchmarks":[{"name":"BM_LogSpanRow/threads:1","run_type":"iteration","real_time":210.5,)"
      R"("cpu_time":209.0,"time_unit":"ns","items_per_second":4.7e6,"p99_ns":812}]})");
  in.micro_fresh = boost::json::parse(
      R"({"benchmarks":[{"name":"BM_LogCallLatency/20000/threads:1","run_type":"iteration",)"
      R"("real_time":3.0,"cpu_time":0.05,"time_unit":"s","p50_net_ns":118}]})");
  const RenderedReport out = render_report(in);
  const std::string& md = out.markdown;
  for (const char* needle :
       {"## Physical reference", "400.0k", "## Scenario: no-faults", "## Scenario: outage 10s",
        "5.0 %",  // accepted: 19,990 of 400k spans/s
        "4.3 %",  // delivered: 199,990 over 11.5 s
        "**10**", "BM_LogSpanRow/threads:1", "p99_ns=812", "211 ns", "latency.svg",
        "throughput_no-faults.svg", "throughput_outage-10s.svg", "### Caller cost in a fresh process",
        "BM_LogCallLatency/20000/threads:1", "p50_net_ns=118"}) {
    EXPECT_NE(md.find(needle), std::string::npos) << "missing '" << needle << "'";
  }
  ASSERT_EQ(out.files.size(), 4u);  // latency, delivery latency, two throughput plots
  for (const auto& [name, svg] : out.files) {
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << name;
    EXPECT_NE(svg.find("</svg>"), std::string::npos) << name;
    EXPECT_NE(svg.find("<polyline"), std::string::npos) << name;
  }
}

TEST(LoadReport, WritesReportFromADirectory) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("load_report_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "a.load.json") << to_json_text(sample_result());
  write_report(dir.string());
  std::ifstream in(dir / "REPORT.md");
  std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(md.find("## Scenario: no-faults"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir / "latency.svg"));
  EXPECT_TRUE(std::filesystem::exists(dir / "throughput_no-faults.svg"));
  std::filesystem::remove_all(dir);
}

TEST(LoadReport, NiceTicksAreRoundAndCoverTheRange) {
  const auto t = nice_ticks(0, 47'000);
  ASSERT_GE(t.size(), 3u);
  EXPECT_EQ(t.front(), 0);
  EXPECT_GE(t.back(), 40'000);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 10'000);
  EXPECT_EQ(xml_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

TEST(LoadReport, SvgChartSkipsNonPositiveValuesOnLogAxis) {
  ChartSpec spec;
  spec.log_y = true;
  spec.title = "t";
  const std::string svg = render_line_chart(spec, {{"s", {{0, 0}, {1, 10}, {2, 1000}}}});
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_NE(svg.find(">1000<"), std::string::npos);
}

TEST(LoadReport, SvgChartWithoutPointsOnLogAxisIsAnEmptyFrame) {
  ChartSpec spec;
  spec.log_y = true;
  spec.title = "t";
  const std::string svg = render_line_chart(spec, {{"s", {{0, 0}}}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

}  // namespace
}  // namespace spanline::load
