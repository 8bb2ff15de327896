#include "report_md.hpp"

#include "caller_cost.hpp"
#include "report.hpp"
#include "svg.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace spanline::load {

namespace json = boost::json;

namespace {

std::string f(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string percent(double fraction) { return f("%.1f %%", fraction * 100); }

std::string ns_cell(std::uint64_t ns, std::uint64_t count) { return count == 0 ? "–" : format_ns(ns); }

std::string run_label(const RunResult& r, std::size_t index) {
  return r.name.empty() ? r.target + "-" + std::to_string(index + 1) : r.name;
}

// Spans delivered per second over the whole run, drain included: what reached the server,
// as opposed to achieved_rate, what the callers handed over.
double delivered_rate(const RunResult& r) {
  const double seconds = r.send_seconds + r.drain_seconds;
  return seconds > 0 && r.delivery_known ? static_cast<double>(r.delivered_unique) / seconds : 0;
}

// Spans per second a single core could push through zstd level 1 at the reference's bytes per span.
double zstd_ceiling(const Reference& ref) {
  return ref.bytes_per_span > 0 ? ref.zstd1_bytes_per_s / ref.bytes_per_span : 0;
}

std::string throughput_svg(const RunResult& r, const std::string& label) {
  ChartSeries sent{"sent (spans/s)", {}}, delivered{"delivered (spans/s)", {}};
  double pt = 0;
  std::uint64_t ps = 0, pd = 0;
  for (const auto& s : r.samples) {
    const double dt = s.t - pt;
    if (dt > 0) {
      sent.points.emplace_back(s.t, static_cast<double>(s.sent - std::min(s.sent, ps)) / dt);
      delivered.points.emplace_back(s.t, static_cast<double>(s.delivered - std::min(s.delivered, pd)) / dt);
    }
    pt = s.t;
    ps = s.sent;
    pd = s.delivered;
  }
  ChartSpec spec;
  spec.title = "Throughput over time: " + label;
  spec.x_label = "seconds since start";
  spec.y_label = "spans per second";
  return render_line_chart(spec, {sent, delivered});
}

std::string latency_svg(const std::vector<RunResult>& runs, bool delivery) {
  ChartSpec spec;
  spec.title = delivery ? "Delivery latency (logged -> stored by the fake API)" : "Caller latency per trace";
  spec.x_label = "percentile";
  spec.y_label = delivery ? "milliseconds (log)" : "microseconds (log)";
  spec.log_y = true;
  spec.x_categories = {"p50", "p90", "p99", "p99.9", "max"};
  const double unit = delivery ? 1e6 : 1e3;
  std::vector<ChartSeries> series;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const LatencySummary& l = delivery ? runs[i].delivery : runs[i].caller_trace;
    if (l.count == 0) continue;
    ChartSeries s{run_label(runs[i], i), {}};
    const std::uint64_t values[] = {l.p50, l.p90, l.p99, l.p999, l.max};
    for (std::size_t k = 0; k < 5; ++k)
      s.points.emplace_back(static_cast<double>(k), static_cast<double>(values[k]) / unit);
    series.push_back(std::move(s));
  }
  return render_line_chart(spec, series);
}

void scenario_table(std::string& md, const RunResult& r, const std::optional<Reference>& ref) {
  auto row = [&](const std::string& k, const std::string& v) { md += "| " + k + " | " + v + " |\n"; };
  md += "| metric | value |\n|---|---|\n";
  row("target / mode / threads", r.target + " / " + r.mode + " / " + std::to_string(r.threads));
  if (r.mode == "open") row("offered rate", format_count(r.target_rate) + " spans/s");
  row("faults", r.faults.empty() ? "none" : r.faults);
  row("achieved rate",
      format_count(r.achieved_rate) + " spans/s (" + format_count(r.rows_per_second) + " rows/s)");
  if (r.delivery_known) row("delivered rate (send + drain)", format_count(delivered_rate(r)) + " spans/s");
  // A rate-limited host: what its successful requests could have carried at the payload limit.
  if (r.status_429 > 0 && r.request_bound() > 0) {
    row("request bound (requests ok/s × spans per " +
            format_bytes(static_cast<double>(r.payload_limit_bytes)) + " body) / delivered share",
        format_count(r.request_bound()) + " spans/s / " + percent(r.delivered_rate() / r.request_bound()));
  }
  if (ref && zstd_ceiling(*ref) > 0) {
    row("accepted / delivered as a fraction of the zstd-1 ceiling",
        percent(r.achieved_rate / zstd_ceiling(*ref)) + " / " +
            percent(delivered_rate(r) / zstd_ceiling(*ref)));
  }
  if (ref && ref->memcpy_bytes_per_s > 0 && r.send_seconds > 0) {
    row("raw bytes/s vs memcpy",
        percent(static_cast<double>(r.bytes_raw) / r.send_seconds / ref->memcpy_bytes_per_s));
  }
  if (r.backlog_spans > 0) row("backlog (due, never sent)", std::to_string(r.backlog_spans) + " spans");
  row("send / drain time", f("%.1f s", r.send_seconds) + " / " + f("%.1f s", r.drain_seconds));
  row("caller latency / trace p50 · p90 · p99 · p99.9 · max",
      ns_cell(r.caller_trace.p50, r.caller_trace.count) + " · " +
          ns_cell(r.caller_trace.p90, r.caller_trace.count) + " · " +
          ns_cell(r.caller_trace.p99, r.caller_trace.count) + " · " +
          ns_cell(r.caller_trace.p999, r.caller_trace.count) + " · " +
          ns_cell(r.caller_trace.max, r.caller_trace.count));
  row("caller latency / call, 1 trace in 4: p50 · p99 · max", ns_cell(r.caller_call.p50, r.caller_call.count) + " · " +
                                                   ns_cell(r.caller_call.p99, r.caller_call.count) + " · " +
                                                   ns_cell(r.caller_call.max, r.caller_call.count));
  row("delivery latency p50 · p99 · max", ns_cell(r.delivery.p50, r.delivery.count) + " · " +
                                              ns_cell(r.delivery.p99, r.delivery.count) + " · " +
                                              ns_cell(r.delivery.max, r.delivery.count));
  row("sent (row ids)", std::to_string(r.sent));
  row("delivered unique", r.delivery_known ? std::to_string(r.delivered_unique) : "unknown");
  row("ids seen again (later updates, resends)", std::to_string(r.duplicates));
  row("**lost**", r.delivery_known ? "**" + std::to_string(r.lost) + "**" : "unknown");
  row("rejected / dropped locally", std::to_string(r.rejected) + " / " + std::to_string(r.dropped_local));
  if (r.target != "inproc") {
    row("dropped by the sidecar (rows)",
        !r.sidecar_counts_known ? std::string("unknown")
        : r.dropped_sidecar.empty()
            ? std::string("0")
            : std::to_string(r.dropped_sidecar_total()) + " (" + describe_drops(r.dropped_sidecar) + ")");
  }
  if (r.delivery_known && r.missing > r.lost) {
    row("missing ids accounted for by counted drops",
        std::to_string(r.missing - r.lost) + " of " + std::to_string(r.missing));
  }
  row("bytes raw / on the wire (ratio)", format_bytes(static_cast<double>(r.bytes_raw)) + " / " +
                                             format_bytes(static_cast<double>(r.bytes_wire)) + " (" +
                                             f("%.2fx", r.compression_ratio) + ")");
  row("requests / 429s / retries",
      std::to_string(r.requests) + " / " + std::to_string(r.status_429) + " / " + std::to_string(r.retries));
  row("CPU (" + r.cpu_of + ")",
      f("%.2f s", r.cpu_seconds) +
          (r.send_seconds > 0
               ? " (" + f("%.0f %%", r.cpu_seconds / (r.send_seconds + r.drain_seconds) * 100) +
                     " of one core)"
               : ""));
  row("peak RSS", format_bytes(static_cast<double>(r.peak_rss_bytes)));
}

std::string bench_time(const json::object& b, std::string_view key) {
  const auto* v = b.if_contains(key);
  if (v == nullptr || !v->is_number()) return "–";
  const double t = v->to_number<double>();
  const auto* u = b.if_contains("time_unit");
  const std::string unit = u != nullptr && u->is_string() ? std::string(u->as_string()) : "ns";
  const double ns = unit == "ns" ? t : unit == "us" ? t * 1e3 : unit == "ms" ? t * 1e6 : t * 1e9;
  return format_ns(static_cast<std::uint64_t>(ns + 0.5));
}

void micro_section(std::string& md, const json::value& micro) {
  if (!micro.is_object() || !micro.as_object().contains("benchmarks")) {
    md += "_micro-benchmark output not readable_\n\n";
    return;
  }
  const auto& o = micro.as_object();
  if (const auto* c = o.if_contains("context"); c != nullptr && c->is_object()) {
    const auto& ctx = c->as_object();
    auto get = [&](std::string_view k) -> std::string {
      const auto* v = ctx.if_contains(k);
      if (v == nullptr) return "?";
      return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
    };
    md += "Google Benchmark on " + get("num_cpus") + " CPUs at " + get("mhz_per_cpu") +
          " MHz (Google Benchmark library build: " + get("library_build_type") + ").\n\n";
  }
  md += "| benchmark | time | CPU | items/s | bytes/s | counters |\n|---|---|---|---|---|---|\n";
  static const std::vector<std::string> standard{"name",
                                                 "family_index",
                                                 "per_family_instance_index",
                                                 "run_name",
                                                 "run_type",
                                                 "repetitions",
                                                 "repetition_index",
                                                 "threads",
                                                 "iterations",
                                                 "real_time",
                                                 "cpu_time",
                                                 "time_unit",
                                                 "items_per_second",
                                                 "bytes_per_second",
                                                 "aggregate_name",
                                                 "aggregate_unit",
                                                 "label"};
  for (const auto& bv : o.at("benchmarks").as_array()) {
    if (!bv.is_object()) continue;
    const auto& b = bv.as_object();
    if (const auto* rt = b.if_contains("run_type"); rt && rt->is_string() && rt->as_string() == "aggregate") {
      const auto* an = b.if_contains("aggregate_name");
      if (!(an && an->is_string() && an->as_string() == "median")) continue;
    }
    std::string counters;
    for (const auto& [k, v] : b) {
      if (std::find(standard.begin(), standard.end(), std::string(k)) != standard.end()) continue;
      if (!v.is_number()) continue;
      if (!counters.empty()) counters += ", ";
      counters += std::string(k) + "=" + f("%.4g", v.to_number<double>());
    }
    auto rate = [&](std::string_view k, bool bytes) -> std::string {
      const auto* v = b.if_contains(k);
      if (v == nullptr || !v->is_number()) return "–";
      return bytes ? format_bytes(v->to_number<double>()) + "/s" : format_count(v->to_number<double>());
    };
    const auto* name = b.if_contains("name");
    md += "| `" + (name && name->is_string() ? std::string(name->as_string()) : "?") + "` | " +
          bench_time(b, "real_time") + " | " + bench_time(b, "cpu_time") + " | " +
          rate("items_per_second", false) + " | " + rate("bytes_per_second", true) + " | " + counters +
          " |\n";
  }
  md += "\n";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::value parse_file(const std::filesystem::path& p) {
  boost::system::error_code ec;
  json::value v = json::parse(read_file(p), ec);
  if (ec) throw std::runtime_error(p.string() + ": not JSON: " + ec.message());
  return v;
}

}  // namespace

std::string slug(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    out += ok ? c : '-';
  }
  return out.empty() ? "run" : out;
}

RenderedReport render_report(const ReportInputs& in) {
  RenderedReport out;
  std::string& md = out.markdown;
  md += "# " + in.title + "\n\n";
  if (!in.preamble.empty()) md += in.preamble + "\n\n";

  // --- the physical reference --------------------------------------------------------
  md += "## Physical reference (same machine, same run)\n\n";
  if (in.reference) {
    const Reference& ref = *in.reference;
    md += "| measure | value |\n|---|---|\n";
    md += "| zstd level 1, per second of CPU time of one thread, on a " +
          format_bytes(static_cast<double>(ref.batch_bytes)) + " batch of " +
          std::to_string(ref.batch_events) + " generated rows | " + format_bytes(ref.zstd1_bytes_per_s) +
          "/s (ratio " + f("%.2fx", ref.zstd1_ratio) + ")" +
          (ref.zstd1_bytes_per_s_wall > 0 ? "; " + format_bytes(ref.zstd1_bytes_per_s_wall) + "/s wall clock"
                                          : "") +
          " |\n";
    md += "| average rendered bytes per span (all its rows) | " + f("%.0f B", ref.bytes_per_span) + " |\n";
    md += "| zstd-1 ceiling in spans/s (one core) | " + format_count(zstd_ceiling(ref)) + " |\n";
    md += "| memcpy, per second of CPU time of one thread, 64 MiB buffers | " +
          format_bytes(ref.memcpy_bytes_per_s) + "/s |\n\n";
  } else {
    md += "_not measured in this run_\n\n";
  }

  // --- summary -------------------------------------------------------------------------
  if (!in.runs.empty()) {
    md += "## Load scenarios: summary\n\n";
    md +=
        "| scenario | target | mode | faults | accepted spans/s | delivered spans/s | delivered vs zstd-1 | "
        "caller p99 / trace | delivery p99 | sent | lost | dropped | ids again | ratio | CPU s |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (std::size_t i = 0; i < in.runs.size(); ++i) {
      const RunResult& r = in.runs[i];
      const std::string frac = in.reference && zstd_ceiling(*in.reference) > 0 && r.delivery_known
                                   ? percent(delivered_rate(r) / zstd_ceiling(*in.reference))
                                   : "–";
      md += "| " + run_label(r, i) + " | " + r.target + " | " + r.mode +
            (r.mode == "open" ? " @" + format_count(r.target_rate) : "") + " | " +
            (r.faults.empty() ? "none" : r.faults) + " | " + format_count(r.achieved_rate) + " | " +
            (r.delivery_known ? format_count(delivered_rate(r)) : "?") + " | " + frac + " | " +
            ns_cell(r.caller_trace.p99, r.caller_trace.count) + " | " +
            ns_cell(r.delivery.p99, r.delivery.count) + " | " + std::to_string(r.sent) + " | " +
            (r.delivery_known ? std::to_string(r.lost) : "?") + " | " +
            std::to_string(r.dropped_local + r.rejected + r.dropped_sidecar_total()) + " | " +
            std::to_string(r.duplicates) + " | " + f("%.2fx", r.compression_ratio) + " | " +
            f("%.1f", r.cpu_seconds) + " |\n";
    }
    md += "\n";
    out.files.emplace_back("latency.svg", latency_svg(in.runs, false));
    md += "![caller latency](latency.svg)\n\n";
    const bool any_delivery =
        std::any_of(in.runs.begin(), in.runs.end(), [](const RunResult& r) { return r.delivery.count > 0; });
    if (any_delivery) {
      out.files.emplace_back("delivery_latency.svg", latency_svg(in.runs, true));
      md += "![delivery latency](delivery_latency.svg)\n\n";
    }

    for (std::size_t i = 0; i < in.runs.size(); ++i) {
      const RunResult& r = in.runs[i];
      const std::string label = run_label(r, i);
      md += "## Scenario: " + label + "\n\n";
      scenario_table(md, r, in.reference);
      md += "\n";
      if (r.samples.size() >= 2) {
        const std::string file = "throughput_" + slug(label) + ".svg";
        out.files.emplace_back(file, throughput_svg(r, label));
        md += "![throughput over time: " + label + "](" + file + ")\n\n";
      }
    }
  }

  caller_cost_section(md,
                      caller_costs(in.micro_fresh ? &*in.micro_fresh : nullptr, in.micro ? &*in.micro : nullptr));
  history_section(md, in.history);

  // --- micro-benchmarks ------------------------------------------------------------------
  md += "## Micro-benchmarks\n\n";
  if (in.micro)
    micro_section(md, *in.micro);
  else
    md += "_not run_\n\n";
  if (in.micro_fresh) {
    md +=
        "### Caller cost in a fresh process\n\n"
        "The same caller-cost benchmarks, run on their own: above, they run after benchmarks that "
        "logged millions of rows and left glibc's heap fragmented, which makes each row's allocation "
        "slower. Both states are real: a long-running service is closer to the first.\n\n";
    micro_section(md, *in.micro_fresh);
  }

  md +=
      "## How to read this\n\n"
      "- *sent* counts unique row ids the harness produced (a span with its merge updates is one id); "
      "*lost* = sent − delivered unique (as counted by the fake API) − the ids that rows counted as "
      "dropped account for: *dropped* adds up rows rejected by the API, rows the harness could not hand "
      "over and rows the sidecar counted as dropped or invalid (its /metrics); an id counts as explained "
      "only once every row it is logged with could have been dropped, so dropped merge rows never hide "
      "an id that vanished silently.\n"
      "- Caller latency in open loop is measured from each trace's intended send time, so stalls are not "
      "hidden (no coordinated omission). Percentiles come from a log-linear histogram (< 0.8 % error).\n"
      "- Delivery latency is estimated from the cumulative sent and delivered curves sampled every 20 ms, "
      "assuming first-in first-out delivery; it is accurate to about one sampling interval.\n"
      "- The zstd-1 ceiling is the rate at which one core can only compress these rows; a pipeline that also "
      "serializes, queues, batches and sends cannot exceed it on one core. It and memcpy are timed on "
      "the CPU time of one thread, so a loaded machine does not lower them; the wall-clock rate is "
      "shown for context.\n";
  return out;
}

ReportInputs read_report_inputs(const std::string& dir) {
  namespace fs = std::filesystem;
  ReportInputs in;
  std::vector<fs::path> loads;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 10 && name.ends_with(".load.json")) loads.push_back(e.path());
  }
  std::sort(loads.begin(), loads.end());
  for (const auto& p : loads) in.runs.push_back(result_from_json(parse_file(p)));
  if (fs::exists(fs::path(dir) / "reference.json"))
    in.reference = reference_from_json(parse_file(fs::path(dir) / "reference.json"));
  if (fs::exists(fs::path(dir) / "micro.json")) in.micro = parse_file(fs::path(dir) / "micro.json");
  if (fs::exists(fs::path(dir) / "micro-fresh.json"))
    in.micro_fresh = parse_file(fs::path(dir) / "micro-fresh.json");
  if (fs::exists(fs::path(dir) / "history.jsonl")) {
    try {
      in.history = parse_history(read_file(fs::path(dir) / "history.jsonl"));
    } catch (const std::runtime_error& e) {
      throw std::runtime_error((fs::path(dir) / "history.jsonl").string() + ": " + e.what());
    }
  }
  return in;
}

void write_report(const std::string& dir, const std::string& preamble_file) {
  namespace fs = std::filesystem;
  ReportInputs in = read_report_inputs(dir);
  if (!preamble_file.empty() && fs::exists(preamble_file)) in.preamble = read_file(preamble_file);

  const RenderedReport report = render_report(in);
  for (const auto& [name, svg] : report.files) {
    std::ofstream(fs::path(dir) / name, std::ios::binary) << svg;
  }
  std::ofstream md(fs::path(dir) / "REPORT.md", std::ios::binary);
  md << report.markdown;
  if (!md) throw std::runtime_error("cannot write " + (fs::path(dir) / "REPORT.md").string());
}

}  // namespace spanline::load
