#include "driver.hpp"

#include "accounting.hpp"
#include "agent_process.hpp"
#include "probe.hpp"
#include "process_stats.hpp"
#include "report.hpp"
#include "sidecar_metrics.hpp"
#include "targets.hpp"

#include <spanline/options.hpp>

#include <fake_api.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

namespace spanline::load {

namespace {

using Clock = std::chrono::steady_clock;

// Each call of every fourth trace is timed. Timing every call took two clock reads per
// row, 3% of the machine in a closed loop on 2 cores: the harness should not spend that
// on the cores it is measuring. A trace is picked by its number alone, so the sample
// is unbiased; each whole trace is still timed (caller latency / trace, its max included).
constexpr std::uint64_t kTimeCallsOfOneTraceIn = 4;

std::uint64_t ns_between(Clock::time_point from, Clock::time_point to) {
  return to <= from ? 0
                    : static_cast<std::uint64_t>(
                          std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string describe_faults(const LoadConfig& c) {
  if (!c.spawn_fakeapi) return {};
  std::string out;
  char buf[160];
  auto add = [&](const char* text) {
    if (!out.empty()) out += "; ";
    out += text;
  };
  if (c.faults.fail_429 > 0) {
    std::snprintf(buf, sizeof buf, "429 on %.0f%% (Retry-After %d s)", c.faults.fail_429 * 100,
                  c.faults.retry_after_s);
    add(buf);
  }
  if (c.faults.fail_5xx > 0) {
    std::snprintf(buf, sizeof buf, "503 on %.0f%%", c.faults.fail_5xx * 100);
    add(buf);
  }
  if (c.burst_5xx_ratio > 0) {
    std::snprintf(buf, sizeof buf, "5xx bursts: %.0f%% for %.1f s every %.1f s", c.burst_5xx_ratio * 100,
                  c.burst_length_s, c.burst_period_s);
    add(buf);
  }
  if (c.faults.reset > 0) {
    std::snprintf(buf, sizeof buf, "connection resets on %.0f%%", c.faults.reset * 100);
    add(buf);
  }
  if (c.faults.latency_ms > 0) {
    std::snprintf(buf, sizeof buf, "+%d ms latency", c.faults.latency_ms);
    add(buf);
  }
  if (c.faults.outage_start_s >= 0 && c.faults.outage_duration_s > 0) {
    std::snprintf(buf, sizeof buf, "outage %.0f s from t=%.0f s", c.faults.outage_duration_s,
                  c.faults.outage_start_s);
    add(buf);
  }
  return out;
}

std::optional<SocketKind> socket_kind(const std::string& target) {
  if (target == "uds") return SocketKind::uds;
  if (target == "udp-unix") return SocketKind::udp_unix;
  if (target == "tcp") return SocketKind::tcp;
  if (target == "http") return SocketKind::http;
  if (target == "otlp") return SocketKind::otlp;
  if (target == "logs3") return SocketKind::logs3;
  return std::nullopt;
}

void validate(const LoadConfig& c) {
  if (c.threads == 0 || c.threads > 256) throw std::invalid_argument("threads must be in [1, 256]");
  if (c.mode == LoadMode::open && !(c.rate > 0)) throw std::invalid_argument("open loop needs --rate > 0");
  if (c.max_spans == 0 && !(c.duration_s > 0))
    throw std::invalid_argument("need --duration > 0 or --spans > 0");
  if (c.distinct_traces == 0) throw std::invalid_argument("distinct_traces must be >= 1");
  if (c.target != "inproc" && !socket_kind(c.target))
    throw std::invalid_argument("target must be inproc, uds, udp-unix, tcp, http, otlp or logs3, got '" +
                                c.target + "'");
  if (c.target != "inproc" && c.address.empty() && c.spawn_agent.empty())
    throw std::invalid_argument("target " + c.target +
                                " needs --address (the sidecar's socket or URL) or --spawn-agent");
  if (!c.spawn_fakeapi && c.api_url.empty() && c.target == "inproc")
    throw std::invalid_argument("give --spawn-fakeapi or --api-url");
  if (c.burst_5xx_ratio > 0 && c.faults.outage_start_s >= 0)
    throw std::invalid_argument("5xx bursts and an outage window cannot be combined in one run");
  if (c.burst_5xx_ratio > 0 && !(c.burst_period_s > c.burst_length_s && c.burst_length_s > 0))
    throw std::invalid_argument("burst period must exceed a positive burst length");
}

struct ThreadTotals {
  LatencyHistogram trace_latency;
  LatencyHistogram call_latency;
  std::uint64_t refused = 0;
  double cpu_seconds = 0;
  pid_t tid = 0;
  std::string error;
};

struct Shared {
  std::atomic<std::uint64_t> spans_sent{0};
  std::atomic<std::uint64_t> spans_reserved{0};
  std::atomic<std::uint64_t> spans_measured{0};
  std::atomic<std::uint64_t> rows_logged{0};
  std::atomic<std::uint64_t> traces{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> backlog_spans{0};
  std::atomic<bool> stop{false};
};

void producer_loop(const LoadConfig& cfg, Target& target, const std::vector<TracePlan>& pool, unsigned index,
                   Clock::time_point start, Shared& shared, ThreadTotals& totals) {
  totals.tid = static_cast<pid_t>(::syscall(SYS_gettid));
  try {
    auto producer = target.make_producer(index);
    const Clock::time_point warm_end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.warmup_s));
    const Clock::time_point end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.duration_s));
    const double per_thread_rate = cfg.rate / cfg.threads;
    // Threads interleave their schedules instead of firing together.
    double cum_spans = static_cast<double>(index) / cfg.threads;
    std::size_t next = index % pool.size();
    std::uint64_t traces_here = 0;
    while (!shared.stop.load(std::memory_order_relaxed)) {
      const std::size_t current = next;
      const TracePlan& plan = pool[current];
      next = (next + cfg.threads) % pool.size();
      if (cfg.max_spans > 0) {
        if (shared.spans_reserved.fetch_add(plan.span_count(), std::memory_order_relaxed) >= cfg.max_spans)
          break;
      }
      Clock::time_point intended;
      if (cfg.mode == LoadMode::open) {
        intended = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(cum_spans / per_thread_rate));
        if (cfg.max_spans == 0 && intended >= end) break;
        if (cfg.max_spans == 0 && Clock::now() >= end) {
          // The target fell behind and time is up: what was due but never sent is the
          // backlog; each such trace still records how late it already is (a lower
          // bound), so a stall is not hidden by stopping.
          const Clock::time_point now = Clock::now();
          for (std::size_t k = current;; k = (k + cfg.threads) % pool.size()) {
            const Clock::time_point due =
                start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(cum_spans / per_thread_rate));
            if (due >= end) break;
            if (due >= warm_end) totals.trace_latency.record(ns_between(due, now));
            cum_spans += static_cast<double>(pool[k].span_count());
            shared.backlog_spans.fetch_add(pool[k].span_count(), std::memory_order_relaxed);
          }
          break;
        }
        cum_spans += static_cast<double>(plan.span_count());
        // Sleep most of the way, then spin: sleep_until alone overshoots by ~50-100 us.
        for (auto now = Clock::now(); now < intended; now = Clock::now()) {
          if (intended - now > std::chrono::microseconds(200)) {
            std::this_thread::sleep_until(intended - std::chrono::microseconds(100));
          } else {
            std::this_thread::yield();
          }
        }
      } else {
        intended = Clock::now();
        if (cfg.max_spans == 0 && intended >= end) break;
      }
      const bool measured = intended >= warm_end;
      const bool time_calls = measured && traces_here++ % kTimeCallsOfOneTraceIn == 0;
      const std::uint64_t refused = producer->send(plan, time_calls ? &totals.call_latency : nullptr);
      const Clock::time_point done = Clock::now();
      // Open loop: from the intended start, so a stall also counts for the traces it delayed.
      if (measured) totals.trace_latency.record(ns_between(intended, done));
      totals.refused += refused;
      shared.rows_logged.fetch_add(plan.row_count(), std::memory_order_relaxed);
      shared.traces.fetch_add(1, std::memory_order_relaxed);
      if (measured) shared.spans_measured.fetch_add(plan.span_count(), std::memory_order_relaxed);
      shared.spans_sent.fetch_add(plan.span_count(), std::memory_order_release);
    }
    totals.refused += producer->finish(nullptr);  // a batching producer's last partial batch
  } catch (const std::exception& e) {
    totals.error = e.what();
  }
  totals.cpu_seconds = this_thread_cpu_seconds();
}

// The fewest rows any span of the pool is logged with (start, merges, end).
std::uint64_t fewest_rows_per_id(const std::vector<TracePlan>& pool) {
  std::uint64_t fewest = 0;
  std::vector<std::uint64_t> rows;
  for (const TracePlan& plan : pool) {
    rows.assign(plan.span_count(), 0);
    for (const TraceOp& op : plan.ops) ++rows[op.span];
    for (const std::uint64_t n : rows) {
      if (n > 0 && (fewest == 0 || n < fewest)) fewest = n;
    }
  }
  return std::max<std::uint64_t>(1, fewest);
}

// The sidecar's counters before any row of this run: a freshly spawned daemon may not
// serve its admin endpoint yet when its ingest listeners already accept.
std::optional<SidecarCounts> read_baseline(SidecarScraper& sidecar, bool just_started) {
  const auto deadline = Clock::now() + (just_started ? std::chrono::seconds(5) : std::chrono::seconds(0));
  for (;;) {
    if (auto counts = sidecar.read()) return counts;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

fakeapi::FaultConfig burst_faults(const LoadConfig& cfg, bool on) {
  fakeapi::FaultConfig f = cfg.faults;
  if (on) f.fail_5xx = cfg.burst_5xx_ratio;
  return f;
}

}  // namespace

std::string progress_line(const ProgressSample& s, double span_rate, bool delivery_known) {
  char buf[320];
  std::snprintf(
      buf, sizeof buf,
      "t=%5.1fs  %8s spans/s  sent %8s  delivered %8s%s  queue %7s  in-flight %3llu  retries %6s  "
      "429s %6s  dropped %llu",
      s.t, format_count(span_rate).c_str(), format_count(static_cast<double>(s.sent)).c_str(),
      format_count(static_cast<double>(s.delivered)).c_str(), delivery_known ? "" : " (rows acked)",
      format_count(static_cast<double>(s.queue_rows)).c_str(), static_cast<unsigned long long>(s.in_flight),
      format_count(static_cast<double>(s.retries)).c_str(),
      format_count(static_cast<double>(s.status_429)).c_str(), static_cast<unsigned long long>(s.dropped));
  return buf;
}

RunResult run_load(const LoadConfig& cfg, std::FILE* progress_out) {
  validate(cfg);
  const bool tty = progress_out != nullptr && ::isatty(::fileno(progress_out)) == 1;

  // --- the fake API and where its stats come from ---------------------------------
  std::unique_ptr<fakeapi::FakeApi> fake;
  std::unique_ptr<StatsProbe> probe;
  std::string api_url = cfg.api_url;
  if (cfg.spawn_fakeapi) {
    fakeapi::ServerConfig sc;
    sc.host = "127.0.0.1";
    sc.port = 0;
    sc.api_key = cfg.api_key;
    sc.max_payload_bytes = cfg.fake_max_payload_bytes;
    sc.store = cfg.fake_store;
    sc.faults = cfg.faults;
    fake = std::make_unique<fakeapi::FakeApi>(sc);
    api_url = fake->base_url();
    probe = make_inprocess_probe(*fake);
  } else if (api_url.rfind("http://", 0) == 0) {
    probe = make_http_probe(api_url);
    if (!probe->read()) probe.reset();  // not a fake API: delivery stays unknown
  }
  const FakeStats baseline = probe ? probe->read().value_or(FakeStats{}) : FakeStats{};

  // --- the sidecar, when this run starts one ----------------------------------------------
  std::unique_ptr<AgentProcess> agent;
  std::string address = cfg.address;
  int agent_pid = cfg.agent_pid;
  if (cfg.target != "inproc" && !cfg.spawn_agent.empty()) {
    if (api_url.empty()) throw std::invalid_argument("--spawn-agent needs --spawn-fakeapi or --api-url");
    agent = std::make_unique<AgentProcess>(AgentLaunch{.binary = cfg.spawn_agent,
                                                       .api_url = api_url,
                                                       .api_key = cfg.api_key,
                                                       .project_id = cfg.project_id,
                                                       .extra_args = cfg.agent_args});
    address = agent->address_for(cfg.target);
    agent_pid = agent->pid();
  }

  // --- what the sidecar counts itself: its drops are not silent loss ---------------------
  std::unique_ptr<SidecarScraper> sidecar;
  std::optional<SidecarCounts> sidecar_before;
  const std::string admin = agent ? agent->admin_address() : cfg.agent_admin;
  if (cfg.target != "inproc" && !admin.empty()) {
    sidecar = std::make_unique<SidecarScraper>(admin);
    sidecar_before = read_baseline(*sidecar, agent != nullptr);
    if (!sidecar_before) {
      sidecar.reset();
      if (progress_out != nullptr) {
        std::fprintf(progress_out,
                     "spanline-load: cannot read the sidecar's metrics at http://%s/metrics; rows it drops "
                     "will count as lost\n",
                     admin.c_str());
      }
    }
  }
  // The HTTP listener answers its refusals (insert and OTLP routes alike).
  const bool client_counts_refusals = cfg.target == "http" || cfg.target == "otlp" || cfg.target == "logs3";

  // --- the target ---------------------------------------------------------------------
  const std::set<pid_t> threads_before = current_threads();
  std::unique_ptr<Target> target;
  if (cfg.target == "inproc") {
    Options options;
    options.api_key = cfg.api_key;
    options.api_url = api_url;
    for (const auto& [name, value] : cfg.logger_options) set_option(options, name, value);
    target = make_inproc_target(std::move(options), cfg.project_id);
  } else {
    std::uint64_t nonce = cfg.id_nonce;
    if (nonce == 0) {
      std::random_device rd;
      nonce = (std::uint64_t{rd()} << 32) ^ rd() ^
              static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    }
    target = make_socket_target(*socket_kind(cfg.target), address, cfg.project_id, nonce, cfg.api_key);
  }

  // --- traces -----------------------------------------------------------------------------
  const SpanGenerator generator(cfg.generator);
  std::vector<TracePlan> pool;
  pool.reserve(cfg.distinct_traces);
  for (unsigned i = 0; i < cfg.distinct_traces; ++i) pool.push_back(generator.trace(i));
  const std::uint64_t min_rows_per_id = fewest_rows_per_id(pool);

  // --- run --------------------------------------------------------------------------------
  Shared shared;
  std::vector<ThreadTotals> totals(cfg.threads);
  std::vector<std::thread> producers;
  const Clock::time_point start = Clock::now();
  for (unsigned i = 0; i < cfg.threads; ++i) {
    producers.emplace_back(producer_loop, std::cref(cfg), std::ref(*target), std::cref(pool), i, start,
                           std::ref(shared), std::ref(totals[i]));
  }
  std::atomic<unsigned> producers_left{cfg.threads};
  std::thread joiner([&] {
    for (auto& t : producers) t.join();
    producers_left.store(0, std::memory_order_release);
  });
  // Whatever happens below, the producer threads are stopped and joined before the
  // objects they use go away.
  struct JoinGuard {
    Shared& shared;
    std::thread& joiner;
    ~JoinGuard() {
      shared.stop.store(true);
      if (joiner.joinable()) joiner.join();
    }
  } join_guard{shared, joiner};

  RunResult result;
  std::vector<CumulativeSample> sent_curve, delivered_curve;
  const double poll_s = probe ? probe->min_interval() : 0.05;
  double next_progress = cfg.progress_interval_s;
  std::uint64_t last_progress_sent = 0;
  double last_progress_t = 0;
  bool burst_on = false;
  std::optional<Clock::time_point> send_end;
  std::future<bool> flushing;
  bool flushed = false;
  FakeStats last_fake = baseline;
  Clock::time_point next_sidecar_read = start;
  const auto drain_limit =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.drain_timeout_s));

  for (;;) {
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));  // the sampling period
    const Clock::time_point now = Clock::now();
    const double t = seconds_between(start, now);
    const std::uint64_t sent = shared.spans_sent.load(std::memory_order_acquire);
    std::uint64_t delivered = 0;
    if (probe) {
      if (auto s = probe->read()) last_fake = *s;
      delivered = delta(last_fake, baseline).unique_rows;
    }
    sent_curve.push_back({t, sent});
    if (probe) delivered_curve.push_back({t, delivered});

    if (fake && cfg.burst_5xx_ratio > 0 && !send_end) {
      const bool on = std::fmod(t, cfg.burst_period_s) < cfg.burst_length_s;
      if (on != burst_on) {
        fake->set_faults(burst_faults(cfg, on));
        burst_on = on;
      }
    }

    const bool producers_done = producers_left.load(std::memory_order_acquire) == 0;
    if (producers_done && !send_end) {
      send_end = now;
      if (fake && burst_on) {
        fake->set_faults(burst_faults(cfg, false));
        burst_on = false;
      }
      flushing = std::async(std::launch::async, [&] {
        return target->flush(std::chrono::duration_cast<std::chrono::milliseconds>(drain_limit));
      });
    }

    const TargetGauges g = target->gauges();
    if (t >= next_progress || send_end) {
      ProgressSample p;
      p.t = t;
      p.sent = sent;
      p.delivered = probe ? delivered : g.delivered_rows;
      p.queue_rows = g.queue_rows;
      p.in_flight = g.in_flight;
      p.retries = g.retries;
      p.status_429 = g.known ? g.status_429 : delta(last_fake, baseline).status_429;
      p.dropped = g.dropped + g.rejected + shared.refused.load();
      if (t >= next_progress) {
        result.samples.push_back(p);
        const double rate = (t - last_progress_t) > 0
                                ? static_cast<double>(sent - last_progress_sent) / (t - last_progress_t)
                                : 0;
        last_progress_sent = sent;
        last_progress_t = t;
        next_progress += cfg.progress_interval_s;
        if (cfg.progress && progress_out != nullptr) {
          const std::string line = progress_line(p, rate, probe != nullptr);
          if (tty)
            std::fprintf(progress_out, "\r\033[K%s", line.c_str());
          else
            std::fprintf(progress_out, "%s\n", line.c_str());
          std::fflush(progress_out);
        }
      }
    }

    if (send_end) {
      if (!flushed && flushing.wait_for(std::chrono::seconds(0)) == std::future_status::ready) flushed = true;
      bool done = now - *send_end >= drain_limit;
      if (flushed) {
        if (probe && delivered >= sent) done = true;
        // In process: once nothing is pending in the pipeline, nothing more can arrive.
        if (g.known && g.pending_rows == 0) done = true;
        // A sidecar without a readable fake API: nothing to wait for.
        if (!probe && !g.known) done = true;
        // Rows the sidecar dropped never arrive. Once it holds nothing more and its counted
        // drops account for every id still missing, waiting cannot change the outcome.
        if (!done && probe && sidecar && now >= next_sidecar_read) {
          next_sidecar_read = now + std::chrono::milliseconds(250);
          if (auto c = sidecar->read(); c && c->pending_rows == 0) {
            std::uint64_t refused = 0;  // the producers are joined: their totals are final
            for (const auto& t : totals) refused += t.refused;
            const SidecarDrops run_drops = delta(c->drops, sidecar_before->drops);
            const LossSummary so_far =
                account({.sent = sent,
                         .delivered_unique = delivered,
                         .dropped_local = refused,
                         .dropped_sidecar = drops_unknown_to_client(run_drops, client_counts_refusals),
                         .min_rows_per_id = min_rows_per_id});
            if (so_far.lost == 0) done = true;
          }
        }
      }
      if (done) break;
    }
  }
  const Clock::time_point drain_end = Clock::now();
  if (flushing.valid()) flushing.wait();
  std::optional<SidecarDrops> sidecar_drops;
  if (sidecar) {
    if (auto after = sidecar->read()) sidecar_drops = delta(after->drops, sidecar_before->drops);
  }

  // --- cost ---------------------------------------------------------------------------------
  std::set<pid_t> producer_tids;
  double producer_cpu = 0;
  for (const auto& t : totals) {
    producer_tids.insert(t.tid);
    producer_cpu += t.cpu_seconds;
  }
  if (cfg.target == "inproc") {
    double library_cpu = 0;
    for (pid_t tid : current_threads()) {
      if (!threads_before.contains(tid) && !producer_tids.contains(tid))
        library_cpu += thread_cpu_seconds(tid);
    }
    result.cpu_of = "library threads + producer threads";
    result.cpu_seconds = library_cpu + producer_cpu;
    result.peak_rss_bytes = self_usage().peak_rss_bytes;
  } else if (agent_pid > 0) {
    if (auto u = process_usage(agent_pid)) {
      result.cpu_of = "agent pid " + std::to_string(agent_pid);
      result.cpu_seconds = u->cpu_seconds;
      result.peak_rss_bytes = u->peak_rss_bytes;
    }
  } else {
    result.cpu_of = "unknown (no --agent-pid)";
  }
  const TargetGauges final_gauges = target->gauges();
  target->stop(std::chrono::milliseconds(2000));

  // --- result -------------------------------------------------------------------------------
  for (const auto& t : totals) {
    if (!t.error.empty()) throw std::runtime_error("producer thread failed: " + t.error);
  }
  LatencyHistogram trace_latency, call_latency, delivery;
  std::uint64_t refused = 0;
  for (const auto& t : totals) {
    trace_latency.merge(t.trace_latency);
    call_latency.merge(t.call_latency);
    refused += t.refused;
  }
  if (probe) {
    if (auto s = probe->read()) last_fake = *s;
    sent_curve.push_back({seconds_between(start, drain_end), shared.spans_sent.load()});
    delivered_curve.push_back({seconds_between(start, drain_end), delta(last_fake, baseline).unique_rows});
    estimate_delivery_lag(sent_curve, delivered_curve, delivery);
  }

  result.name = cfg.name;
  result.target = cfg.target;
  result.mode = cfg.mode == LoadMode::open ? "open" : "closed";
  result.target_rate = cfg.mode == LoadMode::open ? cfg.rate : 0;
  result.threads = cfg.threads;
  result.faults = describe_faults(cfg);
  result.warmup_s = cfg.warmup_s;
  const Clock::time_point send_stop = send_end.value_or(drain_end);
  result.send_seconds = seconds_between(start, send_stop);
  result.drain_seconds = seconds_between(send_stop, drain_end);
  result.traces = shared.traces.load();
  result.backlog_spans = shared.backlog_spans.load();
  result.rows_logged = shared.rows_logged.load();
  const double measured_s = std::max(1e-9, result.send_seconds - cfg.warmup_s);
  result.achieved_rate = static_cast<double>(shared.spans_measured.load()) / measured_s;
  result.rows_per_second = static_cast<double>(result.rows_logged) / std::max(1e-9, result.send_seconds);
  result.caller_trace = summarize(trace_latency);
  result.caller_call = summarize(call_latency);
  result.delivery = summarize(delivery);

  DeliveryCounts counts;
  counts.sent = shared.spans_sent.load();
  counts.rejected = final_gauges.rejected;
  counts.dropped_local = final_gauges.dropped + refused;
  if (sidecar_drops) counts.dropped_sidecar = drops_unknown_to_client(*sidecar_drops, client_counts_refusals);
  counts.min_rows_per_id = min_rows_per_id;
  const FakeStats got = delta(last_fake, baseline);
  result.delivery_known = probe != nullptr;
  if (probe) {
    counts.delivered_unique = got.unique_rows;
    counts.duplicates = got.duplicate_rows;
  }
  const LossSummary loss = account(counts);
  result.sent = counts.sent;
  result.delivered_unique = counts.delivered_unique;
  result.duplicates = counts.duplicates;
  result.missing = loss.missing;
  result.lost = probe ? loss.lost : counts.rejected + counts.dropped_local;
  result.sidecar_counts_known = sidecar_drops.has_value();
  if (sidecar_drops) result.dropped_sidecar = sidecar_drops->by_reason;
  result.dropped_sidecar_unanswered = counts.dropped_sidecar;
  result.unexpected = loss.unexpected;
  result.rejected = counts.rejected;
  result.dropped_local = counts.dropped_local;

  // Bytes: the logger's count of acknowledged bodies when it is in process; otherwise
  // what the fake API received (every request, faulted ones included).
  if (final_gauges.known) {
    result.bytes_raw = final_gauges.bytes_raw;
    result.bytes_wire = final_gauges.bytes_wire;
    result.retries = final_gauges.retries;
    result.status_429 = final_gauges.status_429;
    result.requests = final_gauges.requests;
  }
  if (probe) {
    if (!final_gauges.known) {
      result.bytes_raw = got.bytes_decoded;
      result.bytes_wire = got.bytes_received;
    }
    result.requests = got.requests_total;
    result.status_429 = got.status_429;
    result.requests_ok = got.inserts;
  }
  // The spawned fake API's limit, which it also reports on GET /version; another server's
  // is not known here.
  if (cfg.spawn_fakeapi) result.payload_limit_bytes = cfg.fake_max_payload_bytes;
  result.compression_ratio =
      result.bytes_wire == 0 ? 0
                             : static_cast<double>(result.bytes_raw) / static_cast<double>(result.bytes_wire);

  if (cfg.progress && progress_out != nullptr && tty) std::fprintf(progress_out, "\n");
  return result;
}

}  // namespace spanline::load
