#pragma once
// Starts a spanlined sidecar for a socket-target run (--spawn-agent PATH): every
// listener on a private socket path or a free loopback port, sending to the given
// API, and stops it (SIGTERM, then SIGKILL after a deadline) when destroyed.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace spanline::load {

struct AgentLaunch {
  std::string binary;  // path to spanlined
  std::string api_url;
  std::string api_key;
  std::string project_id;               // the sidecar's default destination
  std::vector<std::string> extra_args;  // more --name=value settings; "{run_dir}" = the run's private dir
  std::chrono::milliseconds ready_timeout{15'000};
};

class AgentProcess {
 public:
  // Throws std::runtime_error when it cannot start or does not listen in time
  // (with the tail of its log).
  explicit AgentProcess(AgentLaunch launch);
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The address spanline-load's --address wants for `target` (uds, udp-unix, tcp, http).
  std::string address_for(const std::string& target) const;
  // "127.0.0.1:port" of its admin endpoint (GET /metrics).
  std::string admin_address() const;
  const std::string& log_path() const { return log_path_; }
  // SIGTERM and wait up to `timeout`, then SIGKILL. Returns the exit status (or -1). Idempotent.
  int stop(std::chrono::milliseconds timeout);

 private:
  std::string dir_, uds_path_, dgram_path_, log_path_;
  std::uint16_t tcp_port_ = 0, http_port_ = 0, admin_port_ = 0;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// A loopback TCP port that was free a moment ago.
std::uint16_t free_loopback_port();

}  // namespace spanline::load
