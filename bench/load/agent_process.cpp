#include "agent_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace spanline::load {

namespace {

bool can_connect_unix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return false;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

bool can_connect_tcp(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

std::string tail(const std::string& path, std::size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind: " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

AgentProcess::AgentProcess(AgentLaunch launch) {
  char tmpl[] = "/tmp/spanline-load-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  dir_ = tmpl;
  uds_path_ = dir_ + "/spanlined.sock";
  dgram_path_ = dir_ + "/spanlined.dgram";
  log_path_ = dir_ + "/spanlined.log";
  tcp_port_ = free_loopback_port();
  http_port_ = free_loopback_port();
  admin_port_ = free_loopback_port();

  std::vector<std::string> args{launch.binary,
                                "--api.url=" + launch.api_url,
                                "--destination.project_id=" + launch.project_id,
                                "--ingest.uds_path=" + uds_path_,
                                "--ingest.datagram_path=" + dgram_path_,
                                "--ingest.tcp_listen=127.0.0.1:" + std::to_string(tcp_port_),
                                "--ingest.http_listen=127.0.0.1:" + std::to_string(http_port_),
                                "--admin.listen=127.0.0.1:" + std::to_string(admin_port_)};
  // "{run_dir}" in an extra setting names this run's private directory (removed afterwards),
  // e.g. --agent-arg=--spool.dir={run_dir}/spool for a fresh spool per run.
  for (std::string a : launch.extra_args) {
    for (std::size_t at = a.find("{run_dir}"); at != std::string::npos; at = a.find("{run_dir}", at))
      a.replace(at, 9, dir_);
    args.push_back(std::move(a));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The key goes through the environment, never the command line (visible in ps).
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "BRAINTRUST_API_KEY=", 19) != 0) env_store.emplace_back(*e);
  }
  env_store.push_back("BRAINTRUST_API_KEY=" + launch.api_key);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc = ::posix_spawn(&pid_, launch.binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + launch.binary + ": " + std::strerror(rc));
  }

  // Ready when every listener accepts; poll with a deadline (the daemon prints no
  // machine-readable ready line we could wait on instead).
  const auto deadline = std::chrono::steady_clock::now() + launch.ready_timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("spanlined exited during start-up; its log:\n" + tail(log_path_, 4000));
    }
    if (can_connect_unix(uds_path_) && can_connect_tcp(tcp_port_) && can_connect_tcp(http_port_) &&
        std::filesystem::exists(dgram_path_)) {
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop(std::chrono::milliseconds(2000));
      throw std::runtime_error("spanlined did not listen in time; its log:\n" + tail(log_path_, 4000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

AgentProcess::~AgentProcess() {
  stop(std::chrono::milliseconds(10'000));
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string AgentProcess::address_for(const std::string& target) const {
  if (target == "uds") return uds_path_;
  if (target == "udp-unix") return dgram_path_;
  if (target == "tcp") return "127.0.0.1:" + std::to_string(tcp_port_);
  if (target == "http" || target == "otlp" || target == "logs3") return "http://127.0.0.1:" + std::to_string(http_port_);
  throw std::invalid_argument("no sidecar address for target '" + target + "'");
}

std::string AgentProcess::admin_address() const { return "127.0.0.1:" + std::to_string(admin_port_); }

int AgentProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_status_;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return exit_status_;
}

}  // namespace spanline::load
