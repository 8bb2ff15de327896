#pragma once
// The NDJSON listeners: a Unix stream socket, loopback TCP (both one JSON object per line)
// and a Unix datagram socket (one event, or several NDJSON lines, per datagram).
//
// start() binds and starts accepting; it throws std::system_error naming the address on
// failure. stop() closes the listening socket and every open connection; it may be called
// from any thread, and more than once. Each connection runs on its own strand.

#include "daemon_config.hpp"
#include "ingest_sink.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

namespace spanline::agent {

class NdjsonListener {
 public:
  virtual ~NdjsonListener() = default;
  virtual void start() = 0;
  // Stops accepting: closes the socket, removes its file and closes the connections, on
  // the listener's executor (posted; returns at once).
  virtual void stop() = 0;
  // What stop() does, on the calling thread, for a listener whose I/O threads have been
  // stopped and joined: stop()'s posted step never runs after io_context::stop(), and
  // the socket file must not outlive the process. Does nothing when stop() already ran.
  virtual void stop_after_io() = 0;
  // Where it listens, once started: a socket path, or "127.0.0.1:PORT".
  virtual std::string address() const = 0;
};

std::shared_ptr<NdjsonListener> make_uds_listener(boost::asio::io_context& io, const IngestConfig& config,
                                                  IngestSink& sink);
std::shared_ptr<NdjsonListener> make_tcp_listener(boost::asio::io_context& io, const IngestConfig& config,
                                                  IngestSink& sink);
std::shared_ptr<NdjsonListener> make_datagram_listener(boost::asio::io_context& io,
                                                       const IngestConfig& config, IngestSink& sink);

// Removes a stale socket file at `path` (one nobody accepts on) so it can be bound again.
// Throws std::system_error if another process is listening there, or if `path` exists and
// is not a socket: spanlined never deletes anything else.
void prepare_socket_path(const std::string& path, bool stream);

}  // namespace spanline::agent
