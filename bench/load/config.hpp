#pragma once
// Everything one spanline-load run needs, as a plain struct (the CLI fills it;
// tests build it directly).

#include "generator.hpp"

#include <fake_api.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace spanline::load {

enum class LoadMode { open, closed };

struct LoadConfig {
  std::string name;               // scenario name for reports
  std::string target = "inproc";  // inproc | uds | udp-unix | tcp | http

  // --- where rows end up ---------------------------------------------------
  bool spawn_fakeapi = false;  // start the fake API in this process
  std::string api_url;         // otherwise: this base URL (a fake API is asked for /_fake/stats)
  std::string api_key = "spanline-load-key";
  std::string project_id = "7f6d3c2a-0b1e-4c5d-9e8f-10ad10ad10ad";
  fakeapi::FaultConfig faults;  // passed to the spawned fake API
  fakeapi::StoreMode fake_store = fakeapi::StoreMode::ids;
  std::size_t fake_max_payload_bytes = 6u << 20;
  // 5xx bursts on the spawned fake API: `burst_5xx_ratio` of requests fail during
  // the first `burst_length_s` of every `burst_period_s` (0 ratio: off).
  double burst_5xx_ratio = 0;
  double burst_period_s = 6;
  double burst_length_s = 2;

  // --- the sidecar (socket targets) ------------------------------------------
  std::string address;                  // socket path, host:port, or http base URL of spanlined
  int agent_pid = 0;                    // for the agent's CPU and RSS; 0 = unknown
  std::string spawn_agent;              // path to spanlined: start it for this run (sets address and pid)
  std::vector<std::string> agent_args;  // extra --name=value settings for the spawned spanlined
  // host:port of a running sidecar's admin.listen: its /metrics tells which rows it dropped
  // itself. A spawned sidecar's is known without it.
  std::string agent_admin;

  // --- the library (inproc) --------------------------------------------------
  std::vector<std::pair<std::string, std::string>> logger_options;  // set_option(name, value)

  // --- load shape ------------------------------------------------------------
  LoadMode mode = LoadMode::closed;
  double rate = 10'000;  // spans per second, open loop
  unsigned threads = 1;
  double duration_s = 10;       // ignored when max_spans > 0
  std::uint64_t max_spans = 0;  // stop after about this many spans (row ids)
  double warmup_s = 0;          // latencies of this first part are not recorded
  double drain_timeout_s = 60;  // after sending: how long to wait for delivery
  GeneratorConfig generator;
  unsigned distinct_traces = 512;  // pre-generated traces, replayed round-robin
  std::uint64_t id_nonce = 0;      // 0: random per run

  // --- output ----------------------------------------------------------------
  double progress_interval_s = 1;
  bool progress = true;  // print progress to stderr
};

}  // namespace spanline::load
