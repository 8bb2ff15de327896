#include "cli.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

namespace spanline::load {

int parse_command_line(int argc, char** argv, Command& out) {
  LoadConfig& c = out.config;
  if (const char* key = std::getenv("BRAINTRUST_API_KEY"); key != nullptr && *key != '\0') c.api_key = key;
  if (const char* url = std::getenv("BRAINTRUST_API_URL"); url != nullptr && *url != '\0') c.api_url = url;

  CLI::App app{
      "spanline-load: drive spanline (in process or the spanlined sidecar) with LLM-like traces, "
      "optionally against the bundled fake Braintrust API with injected faults, and prove nothing was lost."};
  app.set_help_all_flag("--help-all");

  std::string target = c.target, mode = "closed", size_dist = "lognormal", store = "ids";
  app.add_option("--target", target, "inproc | uds | udp-unix | tcp | http | otlp | logs3")
      ->check(CLI::IsMember({"inproc", "uds", "udp-unix", "tcp", "http", "otlp", "logs3"}))
      ->capture_default_str();
  app.add_option("--address", c.address,
                 "sidecar socket path (uds, udp-unix), host:port (tcp) or base URL (http, otlp, logs3)");
  app.add_option("--agent-pid", c.agent_pid, "pid of the sidecar, for its CPU time and peak RSS");
  app.add_option("--spawn-agent", c.spawn_agent,
                 "path to spanlined: start it for this run on private sockets, sending to the API");
  app.add_option("--agent-arg", c.agent_args,
                 "extra --name=value setting for the spawned spanlined (repeatable); {run_dir} stands "
                 "for the run's private directory, e.g. --agent-arg=--spool.dir={run_dir}/spool");
  app.add_option("--agent-admin", c.agent_admin,
                 "host:port of the sidecar's admin endpoint (admin.listen): rows it counts as dropped, "
                 "invalid or rejected in its /metrics are reported as such, not as lost (known "
                 "without this flag with --spawn-agent)");
  app.add_option("--name", c.name, "scenario name shown in reports");

  auto* fake = app.add_option_group("fake API");
  fake->add_flag("--spawn-fakeapi", c.spawn_fakeapi, "start the fake Braintrust API in this process");
  fake->add_option("--api-url", c.api_url, "base URL to send to when not spawning (env BRAINTRUST_API_URL)");
  fake->add_option("--api-key", c.api_key, "API key (env BRAINTRUST_API_KEY)");
  fake->add_option("--project-id", c.project_id, "project id every row goes to")->capture_default_str();
  fake->add_option("--fake-429", c.faults.fail_429, "ratio of requests answered 429")
      ->check(CLI::Range(0.0, 1.0));
  fake->add_option("--fake-retry-after", c.faults.retry_after_s, "Retry-After seconds of those 429s")
      ->capture_default_str();
  fake->add_option("--fake-5xx", c.faults.fail_5xx, "ratio of requests answered 503")
      ->check(CLI::Range(0.0, 1.0));
  fake->add_option("--fake-latency-ms", c.faults.latency_ms, "delay every answer");
  fake->add_option("--fake-reset", c.faults.reset, "ratio of connections reset without an answer")
      ->check(CLI::Range(0.0, 1.0));
  fake->add_option("--fake-outage-start", c.faults.outage_start_s,
                   "seconds after start of an all-503 outage");
  fake->add_option("--fake-outage-duration", c.faults.outage_duration_s, "length of the outage in seconds");
  fake->add_option("--fake-seed", c.faults.seed, "fault PRNG seed")->capture_default_str();
  fake->add_option("--fake-store", store, "ids (counts only) | full (keep rows)")
      ->check(CLI::IsMember({"ids", "full"}))
      ->capture_default_str();
  fake->add_option("--fake-max-payload", c.fake_max_payload_bytes, "largest body the fake API accepts")
      ->capture_default_str();
  fake->add_option("--burst-5xx", c.burst_5xx_ratio, "5xx bursts: ratio of requests failing during a burst")
      ->check(CLI::Range(0.0, 1.0));
  fake->add_option("--burst-period", c.burst_period_s, "seconds between burst starts")->capture_default_str();
  fake->add_option("--burst-length", c.burst_length_s, "seconds each burst lasts")->capture_default_str();

  auto* lib = app.add_option_group("library (inproc)");
  std::vector<std::string> logger_opts;
  lib->add_option("--logger-opt", logger_opts,
                  "a spanline option as name=value, e.g. batch.max_bytes=1048576 (repeatable)");

  auto* load = app.add_option_group("load");
  load->add_option("--mode", mode,
                   "open (fixed rate, latency from intended send time) | closed (as fast as accepted)")
      ->check(CLI::IsMember({"open", "closed"}))
      ->capture_default_str();
  load->add_option("--rate", c.rate, "spans per second in open loop, all threads together")
      ->capture_default_str();
  load->add_option("--threads", c.threads, "producer threads (connections for socket targets)")
      ->capture_default_str();
  load->add_option("--duration", c.duration_s, "seconds of sending")->capture_default_str();
  load->add_option("--spans", c.max_spans, "stop after about this many spans instead of a duration");
  load->add_option("--warmup", c.warmup_s, "seconds at the start whose latencies are not recorded")
      ->capture_default_str();
  load->add_option("--drain-timeout", c.drain_timeout_s, "seconds to wait for delivery after sending")
      ->capture_default_str();

  auto* gen = app.add_option_group("traffic shape");
  gen->add_option("--seed", c.generator.seed, "generator seed")->capture_default_str();
  gen->add_option("--prompt-bytes", c.generator.prompt_bytes, "prompt text size (median for lognormal)")
      ->capture_default_str();
  gen->add_option("--completion-bytes", c.generator.completion_bytes, "completion text size")
      ->capture_default_str();
  gen->add_option("--size-dist", size_dist, "fixed | uniform | lognormal")
      ->check(CLI::IsMember({"fixed", "uniform", "lognormal"}))
      ->capture_default_str();
  gen->add_option("--sigma", c.generator.sigma, "lognormal shape")->capture_default_str();
  gen->add_option("--min-text-bytes", c.generator.min_text_bytes)->capture_default_str();
  gen->add_option("--max-text-bytes", c.generator.max_text_bytes)->capture_default_str();
  gen->add_option("--children", c.generator.max_children, "most child spans under a root")
      ->capture_default_str();
  gen->add_option("--depth", c.generator.max_depth, "deepest nesting below the root")->capture_default_str();
  gen->add_option("--merges", c.generator.merges, "merge updates per span besides end()")
      ->capture_default_str();
  gen->add_option("--distinct-traces", c.distinct_traces, "pre-generated traces replayed round-robin")
      ->capture_default_str();

  auto* output = app.add_option_group("output");
  output->add_flag("--json", out.json, "print the result as one JSON object on stdout");
  output->add_flag("--expect-no-loss", out.expect_no_loss,
                   "exit 3 when anything was lost (or delivery is unknown)");
  output->add_option("--progress-interval", c.progress_interval_s, "seconds between progress samples")
      ->capture_default_str();
  bool no_progress = false;
  output->add_flag("--no-progress", no_progress, "no progress lines on stderr");

  auto* other = app.add_option_group("other actions");
  bool reference = false;
  other->add_flag("--reference", reference,
                  "measure the physical reference (zstd-1 speed, memcpy) and print JSON");
  other->add_option("--reference-seconds", out.reference_seconds)->capture_default_str();
  other->add_option("--render-report", out.report_dir,
                    "write DIR/REPORT.md and SVGs from DIR/*.load.json, reference.json, micro.json");
  other->add_option("--report-preamble", out.report_preamble,
                    "markdown file placed under the report's title");

  auto* history = app.add_option_group("history (bench/run)");
  auto* append = history->add_option(
      "--append-history", out.history_dir,
      "append the headline figures of DIR's results (as --render-report reads them) to DIR/history.jsonl");
  history->add_option("--commit", out.history_commit, "the commit measured, for --append-history")
      ->needs(append);
  history
      ->add_flag("--local-changes", out.history_local_changes,
                 "the work tree measured differed from --commit")
      ->needs(append);
  history->add_flag("--quick", out.history_quick, "a quick-mode run (shortened scenarios)")->needs(append);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  c.target = target;
  c.mode = mode == "open" ? LoadMode::open : LoadMode::closed;
  c.generator.size_dist = parse_size_dist(size_dist);
  c.fake_store = store == "full" ? fakeapi::StoreMode::full : fakeapi::StoreMode::ids;
  c.progress = !no_progress;
  for (const auto& opt : logger_opts) {
    const auto eq = opt.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "--logger-opt wants name=value, got '%s'\n", opt.c_str());
      return kExitError;
    }
    c.logger_options.emplace_back(opt.substr(0, eq), opt.substr(eq + 1));
  }
  if (!out.history_dir.empty() && out.history_commit.empty()) {
    std::fprintf(stderr, "--append-history needs --commit\n");
    return kExitError;
  }
  if (reference)
    out.action = Command::Action::reference;
  else if (!out.history_dir.empty())
    out.action = Command::Action::append_history;
  else if (!out.report_dir.empty())
    out.action = Command::Action::render_report;
  return -1;
}

}  // namespace spanline::load
