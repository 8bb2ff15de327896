#include "report.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <stdexcept>

namespace spanline::load {

namespace json = boost::json;

LatencySummary summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.count = h.count();
  s.p50 = h.percentile(0.50);
  s.p90 = h.percentile(0.90);
  s.p99 = h.percentile(0.99);
  s.p999 = h.percentile(0.999);
  s.max = h.max();
  s.mean = h.mean();
  return s;
}

std::string format_ns(std::uint64_t ns) {
  char buf[32];
  const auto v = static_cast<double>(ns);
  if (ns < 10'000)
    std::snprintf(buf, sizeof buf, "%" PRIu64 " ns", ns);
  else if (ns < 1'000'000)
    std::snprintf(buf, sizeof buf, "%.1f us", v / 1e3);
  else if (ns < 1'000'000'000ULL)
    std::snprintf(buf, sizeof buf, "%.1f ms", v / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", v / 1e9);
  return buf;
}

std::string format_bytes(double bytes) {
  char buf[32];
  if (bytes < 1024)
    std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  else if (bytes < 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024);
  else if (bytes < 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  return buf;
}

std::string format_count(double count) {
  char buf[32];
  if (count < 1e3)
    std::snprintf(buf, sizeof buf, "%.0f", count);
  else if (count < 1e6)
    std::snprintf(buf, sizeof buf, "%.1fk", count / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2fM", count / 1e6);
  return buf;
}

namespace {

void line(std::string& out, const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  out += buf;
  out += '\n';
}

void latency_line(std::string& out, const char* label, const LatencySummary& s) {
  if (s.count == 0) {
    line(out, "  %-22s n/a", label);
    return;
  }
  line(out, "  %-22s p50 %-10s p90 %-10s p99 %-10s p99.9 %-10s max %-10s (n=%s)", label,
       format_ns(s.p50).c_str(), format_ns(s.p90).c_str(), format_ns(s.p99).c_str(),
       format_ns(s.p999).c_str(), format_ns(s.max).c_str(),
       format_count(static_cast<double>(s.count)).c_str());
}

json::object latency_json(const LatencySummary& s) {
  return {{"count", s.count},  {"p50_ns", s.p50}, {"p90_ns", s.p90},  {"p99_ns", s.p99},
          {"p999_ns", s.p999}, {"max_ns", s.max}, {"mean_ns", s.mean}};
}

std::uint64_t u64(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return v->as_int64() < 0 ? 0 : static_cast<std::uint64_t>(v->as_int64());
  if (v->is_double()) return v->as_double() < 0 ? 0 : static_cast<std::uint64_t>(v->as_double());
  throw std::invalid_argument("result field '" + std::string(key) + "' is not a number");
}

double dbl(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_double()) return v->as_double();
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  throw std::invalid_argument("result field '" + std::string(key) + "' is not a number");
}

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->as_string());
}

LatencySummary latency_from(const json::object& o, std::string_view key) {
  LatencySummary s;
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_object()) return s;
  const auto& l = v->as_object();
  s.count = u64(l, "count");
  s.p50 = u64(l, "p50_ns");
  s.p90 = u64(l, "p90_ns");
  s.p99 = u64(l, "p99_ns");
  s.p999 = u64(l, "p999_ns");
  s.max = u64(l, "max_ns");
  s.mean = dbl(l, "mean_ns");
  return s;
}

}  // namespace

std::string describe_drops(const std::map<std::string, std::uint64_t>& by_reason) {
  std::string out;
  for (const auto& [reason, rows] : by_reason) {
    if (!out.empty()) out += ", ";
    out += reason + ": " + std::to_string(rows);
  }
  return out;
}

std::string render_text(const RunResult& r) {
  std::string out;
  line(out, "spanline-load: %s  target=%s mode=%s threads=%u%s%s", r.name.empty() ? "run" : r.name.c_str(),
       r.target.c_str(), r.mode.c_str(), r.threads, r.faults.empty() ? "" : "  faults: ", r.faults.c_str());
  if (r.mode == "open") line(out, "  offered rate           %s spans/s", format_count(r.target_rate).c_str());
  line(out, "  achieved rate          %s spans/s, %s rows/s over %.2f s (warm-up %.1f s), drain %.2f s",
       format_count(r.achieved_rate).c_str(), format_count(r.rows_per_second).c_str(), r.send_seconds,
       r.warmup_s, r.drain_seconds);
  line(out, "  traces                 %" PRIu64 " (%" PRIu64 " rows logged)", r.traces, r.rows_logged);
  if (r.backlog_spans > 0) {
    line(out, "  backlog                %" PRIu64 " spans were due but not sent by the end (target too slow)",
         r.backlog_spans);
  }
  latency_line(out, "caller latency / trace", r.caller_trace);
  latency_line(out, "caller latency / call", r.caller_call);
  latency_line(out, "delivery latency", r.delivery);
  if (r.delivery_known) {
    line(out,
         "  sent %" PRIu64 "  delivered unique %" PRIu64 "  ids seen again %" PRIu64 "  lost %" PRIu64
         "  rejected %" PRIu64 "  dropped locally %" PRIu64 "%s",
         r.sent, r.delivered_unique, r.duplicates, r.lost, r.rejected, r.dropped_local,
         r.unexpected ? "  (more delivered than sent: shared server?)" : "");
  } else {
    line(out,
         "  sent %" PRIu64 "  delivered unique UNKNOWN (no fake API stats)  rejected %" PRIu64
         "  dropped locally %" PRIu64,
         r.sent, r.rejected, r.dropped_local);
  }
  if (r.target != "inproc") {
    if (!r.sidecar_counts_known) {
      line(out, "  %-22s unknown (its /metrics was not read: --spawn-agent or --agent-admin)",
           "dropped by the sidecar");
    } else if (r.dropped_sidecar.empty()) {
      line(out, "  %-22s 0 rows", "dropped by the sidecar");
    } else {
      // The http target counts a refused request's rows as dropped locally: say which rows
      // are the same ones, so nobody adds them up twice.
      const std::uint64_t total = r.dropped_sidecar_total();
      const std::uint64_t answered = total - std::min(total, r.dropped_sidecar_unanswered);
      std::string note;
      if (answered > 0)
        note = "; " + std::to_string(answered) + " of them refused in its answers (in dropped locally)";
      line(out, "  %-22s %" PRIu64 " rows (%s)%s", "dropped by the sidecar", total,
           describe_drops(r.dropped_sidecar).c_str(), note.c_str());
    }
  }
  if (r.delivery_known && r.missing > r.lost) {
    line(out, "  %-22s %" PRIu64 " ids, %" PRIu64 " of them accounted for by counted drops (not lost)",
         "missing", r.missing, r.missing - r.lost);
  }
  line(out,
       "  bytes raw %s  on the wire %s  ratio %.2fx  requests %" PRIu64 "  429s %" PRIu64
       "  retries %" PRIu64,
       format_bytes(static_cast<double>(r.bytes_raw)).c_str(),
       format_bytes(static_cast<double>(r.bytes_wire)).c_str(), r.compression_ratio, r.requests, r.status_429,
       r.retries);
  if (r.status_429 > 0 && r.request_bound() > 0) {
    line(out,
         "  delivered %.0f spans/s (send + drain) = %.0f%% of the request bound %.0f spans/s (%" PRIu64
         " requests ok x spans per %s body)",
         r.delivered_rate(), 100 * r.delivered_rate() / r.request_bound(), r.request_bound(), r.requests_ok,
         format_bytes(static_cast<double>(r.payload_limit_bytes)).c_str());
  }
  line(out, "  cpu (%s) %.2f s  peak RSS %s", r.cpu_of.c_str(), r.cpu_seconds,
       format_bytes(static_cast<double>(r.peak_rss_bytes)).c_str());
  line(out, "  result: %s",
       !r.delivery_known ? "delivery unknown"
       : r.lost > 0      ? "LOSS"
       : r.clean()       ? "NO LOSS"
                         : "no row id lost, but rows were dropped or rejected");
  return out;
}

json::object to_json(const RunResult& r) {
  json::object o;
  o["name"] = r.name;
  o["target"] = r.target;
  o["mode"] = r.mode;
  o["target_rate"] = r.target_rate;
  o["threads"] = r.threads;
  o["faults"] = r.faults;
  o["warmup_s"] = r.warmup_s;
  o["send_seconds"] = r.send_seconds;
  o["drain_seconds"] = r.drain_seconds;
  o["traces"] = r.traces;
  o["rows_logged"] = r.rows_logged;
  o["backlog_spans"] = r.backlog_spans;
  o["achieved_rate"] = r.achieved_rate;
  o["rows_per_second"] = r.rows_per_second;
  o["latency"] = json::object{{"caller_trace", latency_json(r.caller_trace)},
                              {"caller_call", latency_json(r.caller_call)},
                              {"delivery", latency_json(r.delivery)}};
  o["delivery_known"] = r.delivery_known;
  o["sent"] = r.sent;
  o["delivered_unique"] = r.delivered_unique;
  o["duplicates"] = r.duplicates;
  o["missing"] = r.missing;
  o["lost"] = r.lost;
  o["unexpected"] = r.unexpected;
  o["rejected"] = r.rejected;
  o["dropped_local"] = r.dropped_local;
  o["sidecar_counts_known"] = r.sidecar_counts_known;
  json::object sidecar;
  for (const auto& [reason, rows] : r.dropped_sidecar) sidecar[reason] = rows;
  o["dropped_sidecar"] = std::move(sidecar);
  o["dropped_sidecar_unanswered"] = r.dropped_sidecar_unanswered;
  o["bytes_raw"] = r.bytes_raw;
  o["bytes_wire"] = r.bytes_wire;
  o["compression_ratio"] = r.compression_ratio;
  o["requests"] = r.requests;
  o["status_429"] = r.status_429;
  o["retries"] = r.retries;
  o["requests_ok"] = r.requests_ok;
  o["payload_limit_bytes"] = r.payload_limit_bytes;
  o["delivered_rate"] = r.delivered_rate();
  o["request_bound"] = r.request_bound();
  o["cpu_of"] = r.cpu_of;
  o["cpu_seconds"] = r.cpu_seconds;
  o["peak_rss_bytes"] = r.peak_rss_bytes;
  o["sample_fields"] =
      json::array{"t", "sent", "delivered", "queue_rows", "in_flight", "retries", "status_429", "dropped"};
  json::array samples;
  samples.reserve(r.samples.size());
  for (const auto& s : r.samples) {
    samples.push_back(
        json::array{s.t, s.sent, s.delivered, s.queue_rows, s.in_flight, s.retries, s.status_429, s.dropped});
  }
  o["samples"] = std::move(samples);
  return o;
}

std::string to_json_text(const RunResult& result) { return json::serialize(to_json(result)); }

RunResult result_from_json(const json::value& value) {
  if (!value.is_object()) throw std::invalid_argument("a load result must be a JSON object");
  const auto& o = value.as_object();
  if (!o.contains("target") || !o.contains("sent"))
    throw std::invalid_argument("not a spanline-load result (no 'target' or 'sent')");
  RunResult r;
  r.name = str(o, "name");
  r.target = str(o, "target");
  r.mode = str(o, "mode");
  r.target_rate = dbl(o, "target_rate");
  r.threads = static_cast<unsigned>(u64(o, "threads"));
  r.faults = str(o, "faults");
  r.warmup_s = dbl(o, "warmup_s");
  r.send_seconds = dbl(o, "send_seconds");
  r.drain_seconds = dbl(o, "drain_seconds");
  r.traces = u64(o, "traces");
  r.rows_logged = u64(o, "rows_logged");
  r.backlog_spans = u64(o, "backlog_spans");
  r.achieved_rate = dbl(o, "achieved_rate");
  r.rows_per_second = dbl(o, "rows_per_second");
  if (const auto* l = o.if_contains("latency"); l != nullptr && l->is_object()) {
    r.caller_trace = latency_from(l->as_object(), "caller_trace");
    r.caller_call = latency_from(l->as_object(), "caller_call");
    r.delivery = latency_from(l->as_object(), "delivery");
  }
  const auto* known = o.if_contains("delivery_known");
  r.delivery_known = known != nullptr && known->is_bool() && known->as_bool();
  r.sent = u64(o, "sent");
  r.delivered_unique = u64(o, "delivered_unique");
  r.duplicates = u64(o, "duplicates");
  r.lost = u64(o, "lost");
  // Results written before drops were told apart from loss have no "missing": it was "lost".
  r.missing = o.contains("missing") ? u64(o, "missing") : r.lost;
  r.unexpected = u64(o, "unexpected");
  r.rejected = u64(o, "rejected");
  r.dropped_local = u64(o, "dropped_local");
  const auto* sidecar_known = o.if_contains("sidecar_counts_known");
  r.sidecar_counts_known = sidecar_known != nullptr && sidecar_known->is_bool() && sidecar_known->as_bool();
  r.dropped_sidecar_unanswered = u64(o, "dropped_sidecar_unanswered");
  if (const auto* d = o.if_contains("dropped_sidecar"); d != nullptr && d->is_object()) {
    for (const auto& [reason, rows] : d->as_object()) {
      if (const std::uint64_t n = u64(d->as_object(), reason); n > 0)
        r.dropped_sidecar[std::string(reason)] = n;
    }
  }
  r.bytes_raw = u64(o, "bytes_raw");
  r.bytes_wire = u64(o, "bytes_wire");
  r.compression_ratio = dbl(o, "compression_ratio");
  r.requests = u64(o, "requests");
  r.status_429 = u64(o, "status_429");
  r.retries = u64(o, "retries");
  r.requests_ok = u64(o, "requests_ok");
  r.payload_limit_bytes = u64(o, "payload_limit_bytes");
  r.cpu_of = str(o, "cpu_of");
  r.cpu_seconds = dbl(o, "cpu_seconds");
  r.peak_rss_bytes = u64(o, "peak_rss_bytes");
  if (const auto* s = o.if_contains("samples"); s != nullptr && s->is_array()) {
    for (const auto& row : s->as_array()) {
      if (!row.is_array() || row.as_array().size() < 8) continue;
      const auto& a = row.as_array();
      auto num = [](const json::value& v) -> double {
        return v.is_double()   ? v.as_double()
               : v.is_uint64() ? static_cast<double>(v.as_uint64())
               : v.is_int64()  ? static_cast<double>(v.as_int64())
                               : 0.0;
      };
      ProgressSample p;
      p.t = num(a[0]);
      p.sent = static_cast<std::uint64_t>(num(a[1]));
      p.delivered = static_cast<std::uint64_t>(num(a[2]));
      p.queue_rows = static_cast<std::uint64_t>(num(a[3]));
      p.in_flight = static_cast<std::uint64_t>(num(a[4]));
      p.retries = static_cast<std::uint64_t>(num(a[5]));
      p.status_429 = static_cast<std::uint64_t>(num(a[6]));
      p.dropped = static_cast<std::uint64_t>(num(a[7]));
      r.samples.push_back(p);
    }
  }
  return r;
}

}  // namespace spanline::load
