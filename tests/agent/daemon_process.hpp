#pragma once
// Test helpers for end-to-end daemon tests: run a binary as a child process with its
// stdout/stderr captured, wait on its output and exit with deadlines, and talk to it over
// Unix sockets, TCP and HTTP.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace spanline::testing {

using namespace std::chrono_literals;

// Polls `condition` until it holds or `timeout` passes. For conditions that live in another
// process (a server's counters), where there is nothing to block on.
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class ChildProcess {
 public:
  ChildProcess(const std::string& path, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env_overrides) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<std::string> argv_store{path};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_store;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const std::string name = entry.substr(0, entry.find('='));
      if (env_overrides.count(name) || name.rfind("SPANLINE_", 0) == 0 || name.rfind("BRAINTRUST_", 0) == 0 ||
          name == "JOURNAL_STREAM") {
        continue;
      }
      env_store.push_back(entry);
    }
    for (const auto& [k, v] : env_overrides) env_store.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      ::close(out[0]);
      ::close(err[0]);
      throw std::runtime_error("cannot start " + path);
    }
    readers_.emplace_back([this, fd = out[0]] { pump(fd, stdout_); });
    readers_.emplace_back([this, fd = err[0]] { pump(fd, stderr_); });
    waiter_ = std::async(std::launch::async, [pid = pid_] {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    });
  }
  ~ChildProcess() {
    if (!exit_code_) {
      ::kill(pid_, SIGKILL);
      waiter_.wait();
    }
    for (auto& t : readers_) t.join();
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void signal(int number) { ::kill(pid_, number); }

  // Exit code (128+signal when killed), or nullopt if it is still running after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 60s) {
    if (exit_code_) return exit_code_;
    if (waiter_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    exit_code_ = waiter_.get();
    for (auto& t : readers_) t.join();
    readers_.clear();
    return exit_code_;
  }

  // The first stdout line matching `pattern`, waiting up to `timeout`.
  std::optional<std::smatch> wait_stdout(const std::regex& pattern, std::chrono::milliseconds timeout = 30s) {
    return wait_for(stdout_, pattern, timeout);
  }
  std::optional<std::smatch> wait_stderr(const std::regex& pattern, std::chrono::milliseconds timeout = 30s) {
    return wait_for(stderr_, pattern, timeout);
  }
  std::string stdout_text() {
    std::lock_guard lock(mutex_);
    return stdout_;
  }
  std::string stderr_text() {
    std::lock_guard lock(mutex_);
    return stderr_;
  }

 private:
  void pump(int fd, std::string& target) {
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      {
        std::lock_guard lock(mutex_);
        target.append(buffer, static_cast<std::size_t>(n));
      }
      changed_.notify_all();
    }
    ::close(fd);
    {
      std::lock_guard lock(mutex_);
      ++closed_;
    }
    changed_.notify_all();
  }

  std::optional<std::smatch> wait_for(std::string& source, const std::regex& pattern,
                                      std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::smatch> found;
    static thread_local std::string copy;
    changed_.wait_for(lock, timeout, [&] {
      copy = source;
      std::smatch m;
      if (std::regex_search(copy, m, pattern)) {
        found = m;
        return true;
      }
      return closed_ == 2;
    });
    return found;
  }

  pid_t pid_ = -1;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string stdout_;
  std::string stderr_;
  int closed_ = 0;
  std::vector<std::thread> readers_;
  std::future<int> waiter_;
  std::optional<int> exit_code_;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// One request on a fresh connection; "host:port" from an http:// URL. `headers` are set
// last, so they can replace the defaults (Content-Type: application/json).
inline HttpAnswer http_request(const std::string& url, boost::beast::http::verb verb,
                               const std::string& target, const std::string& body = {},
                               const std::map<std::string, std::string>& headers = {}) {
  namespace http = boost::beast::http;
  const std::string rest = url.substr(url.find("//") + 2);
  const std::string host = rest.substr(0, rest.rfind(':'));
  const std::string port = rest.substr(rest.rfind(':') + 1);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::asio::ip::tcp::resolver resolver(io);
  boost::asio::connect(socket, resolver.resolve(host, port));
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, host);
  request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return {static_cast<int>(response.result_int()), response.body()};
}

inline HttpAnswer http_get(const std::string& url, const std::string& target) {
  return http_request(url, boost::beast::http::verb::get, target);
}
inline HttpAnswer http_post(const std::string& url, const std::string& target, const std::string& body) {
  return http_request(url, boost::beast::http::verb::post, target, body);
}

// A private temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "spanlined-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A spanlined child process and the addresses it printed on its ready line.
struct RunningDaemon {
  std::unique_ptr<ChildProcess> process;
  std::string uds, datagram, tcp, http, admin;
  std::string api_key;  // what it was started with: the HTTP ingest's bearer token

  // Requests to its HTTP ingest, authenticated as a client with the daemon's key would be.
  HttpAnswer post(const std::string& target, const std::string& body) const {
    return http_request(http, boost::beast::http::verb::post, target, body, bearer());
  }
  HttpAnswer get(const std::string& target) const {
    return http_request(http, boost::beast::http::verb::get, target, {}, bearer());
  }
  std::map<std::string, std::string> bearer() const { return {{"Authorization", "Bearer " + api_key}}; }
};

// Starts `binary` with `args` against `api_url`, waits for its "spanlined ready:" line
// and reads the listeners' addresses from it. Throws with the daemon's stderr otherwise.
inline RunningDaemon launch_daemon(const std::string& binary, const std::vector<std::string>& args,
                                   const std::string& api_url, const std::string& api_key) {
  RunningDaemon d;
  d.process = std::make_unique<ChildProcess>(
      binary, args,
      std::map<std::string, std::string>{{"BRAINTRUST_API_URL", api_url}, {"BRAINTRUST_API_KEY", api_key}});
  const auto ready = d.process->wait_stdout(
      std::regex(R"(spanlined ready: uds=(\S+) datagram=(\S+) tcp=(\S+) http=(\S+) admin=(\S+)\n)"));
  if (!ready) throw std::runtime_error("spanlined did not get ready; stderr:\n" + d.process->stderr_text());
  d.uds = (*ready)[1];
  d.datagram = (*ready)[2];
  d.tcp = (*ready)[3];
  d.http = (*ready)[4];
  d.admin = (*ready)[5];
  d.api_key = api_key;
  return d;
}

}  // namespace spanline::testing
