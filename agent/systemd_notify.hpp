#pragma once
// The service manager's readiness protocol (sd_notify(3)), implemented directly so the
// daemon needs no libsystemd: one datagram of "KEY=VALUE" lines to the Unix socket named
// by $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@').
//
// spanlined sends READY=1 once every listener is bound and STOPPING=1 when it begins
// to drain, so systemd's Type=notify orders dependants after a daemon that really
// accepts input. Without NOTIFY_SOCKET (not started by systemd) nothing is sent.

#include <string>
#include <string_view>

namespace spanline::agent {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET from the environment.
  SystemdNotifier();
  // For tests: notify `socket_name` instead ("" disables).
  explicit SystemdNotifier(std::string socket_name);

  bool enabled() const { return !socket_name_.empty(); }

  // Sends `state` (e.g. "READY=1\nSTATUS=listening") as one datagram. Returns "" on
  // success or when disabled, else why it failed (the caller logs it: a service manager
  // that cannot be told is worth a warning, never a reason to stop).
  std::string notify(std::string_view state) const;

 private:
  std::string socket_name_;
};

}  // namespace spanline::agent
