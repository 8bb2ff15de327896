// The sd_notify protocol: SystemdNotifier against a test-owned datagram socket, and the
// daemon telling a fake service manager READY=1 when listening and STOPPING=1 on SIGTERM.

#include "systemd_notify.hpp"

#include "agent/daemon_process.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <random>

namespace spanline::testing {
namespace {

using agent::SystemdNotifier;

// A Unix datagram socket standing in for the service manager's notification socket.
class FakeServiceManager {
 public:
  // `name` is a path, or an abstract name starting with '@'.
  explicit FakeServiceManager(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name_.data(), name_.size());
    if (name_[0] == '@') address.sun_path[0] = '\0';
    const auto length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (name_[0] == '@' ? 0 : 1));
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
      throw std::runtime_error("bind " + name_ + ": " + std::strerror(errno));
    }
  }
  ~FakeServiceManager() { ::close(fd_); }
  FakeServiceManager(const FakeServiceManager&) = delete;
  FakeServiceManager& operator=(const FakeServiceManager&) = delete;

  const std::string& name() const { return name_; }

  // The next datagram, or nullopt when none arrives within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 30s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
};

TEST(SystemdNotify, SendsOneDatagramToAPathSocket) {
  TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  const SystemdNotifier notifier(manager.name());
  ASSERT_TRUE(notifier.enabled());
  EXPECT_EQ(notifier.notify("READY=1\nSTATUS=up"), "");
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=up");
}

TEST(SystemdNotify, SendsToAnAbstractSocket) {
  const std::string name =
      "@spanline-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  FakeServiceManager manager(name);
  EXPECT_EQ(SystemdNotifier(name).notify("STOPPING=1"), "");
  EXPECT_EQ(manager.receive(), "STOPPING=1");
}

TEST(SystemdNotify, DisabledOrUnreachableNeverThrows) {
  EXPECT_FALSE(SystemdNotifier("").enabled());
  EXPECT_EQ(SystemdNotifier("").notify("READY=1"), "");
  TempDir dir;
  const std::string missing = SystemdNotifier(dir.file("nobody-listens")).notify("READY=1");
  EXPECT_NE(missing.find("nobody-listens"), std::string::npos) << missing;
  EXPECT_NE(SystemdNotifier("vsock:2:1234").notify("READY=1"), "");
}

TEST(SystemdNotify, DaemonSendsReadyWhenListeningAndStoppingOnSigterm) {
  fakeapi::ServerConfig config;
  config.api_key = "sk-notify-test-0123456789";
  fakeapi::FakeApi api(config);
  TempDir dir;
  FakeServiceManager manager(dir.file("notify"));
  ChildProcess daemon(
      SPANLINE_BINARY_DIR "/spanlined",
      {"--ingest.uds_path=" + dir.file("s.sock"), "--ingest.datagram_path=off", "--ingest.http_listen=off",
       "--admin.listen=127.0.0.1:0", "--destination.project_id=notify-proj"},
      {{"BRAINTRUST_API_URL", api.base_url()},
       {"BRAINTRUST_API_KEY", config.api_key},
       {"NOTIFY_SOCKET", manager.name()}});

  const auto ready = manager.receive();
  ASSERT_TRUE(ready) << "no READY=1; stderr:\n" << daemon.stderr_text();
  EXPECT_EQ(ready->rfind("READY=1\n", 0), 0u) << *ready;
  // READY=1 comes after the listeners are bound: the ready line is already out.
  EXPECT_TRUE(daemon.wait_stdout(std::regex("spanlined ready: "))) << daemon.stdout_text();

  daemon.signal(SIGTERM);
  const auto stopping = manager.receive();
  ASSERT_TRUE(stopping) << "no STOPPING=1; stderr:\n" << daemon.stderr_text();
  EXPECT_EQ(stopping->rfind("STOPPING=1\n", 0), 0u) << *stopping;
  EXPECT_EQ(daemon.wait_exit(120s), 0) << daemon.stderr_text();
  EXPECT_EQ(daemon.stderr_text().find("cannot notify"), std::string::npos) << daemon.stderr_text();
}

}  // namespace
}  // namespace spanline::testing
