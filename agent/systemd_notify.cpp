#include "systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace spanline::agent {

SystemdNotifier::SystemdNotifier() {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name != nullptr) socket_name_ = name;
}

SystemdNotifier::SystemdNotifier(std::string socket_name) : socket_name_(std::move(socket_name)) {}

std::string SystemdNotifier::notify(std::string_view state) const {
  if (socket_name_.empty()) return {};
  // NOTIFY_SOCKET may also be vsock:... on VMs; spanlined supports the Unix forms only.
  if (socket_name_[0] != '/' && socket_name_[0] != '@') {
    return "NOTIFY_SOCKET is neither a path nor an abstract socket name";
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_name_.size() >= sizeof(address.sun_path)) return "NOTIFY_SOCKET is too long";
  std::memcpy(address.sun_path, socket_name_.data(), socket_name_.size());
  // An abstract name starts with a NUL byte in place of the '@', and its length is exact.
  if (socket_name_[0] == '@') address.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_name_.size() +
                                             (socket_name_[0] == '@' ? 0 : 1));

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ssize_t sent;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address),
                    length);
  } while (sent < 0 && errno == EINTR);
  const int error = errno;
  ::close(fd);
  if (sent < 0) return "sendto " + socket_name_ + ": " + std::strerror(error);
  if (static_cast<std::size_t>(sent) != state.size()) return "short write to " + socket_name_;
  return {};
}

}  // namespace spanline::agent
