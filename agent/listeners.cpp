#include "listeners.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace spanline::agent {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadBufferBytes = 64 * 1024;
// Read buffers keep this much room after the bytes a read can fill, so that every line
// inside them is parsed where it lies (EventParser::parse_row), never copied first.
constexpr std::size_t kReadPadding = detail::EventParser::kPadding;

// How many bytes from `line` may be read while `buffer` holds it; 0 when it lies elsewhere
// (a line the framer put together from two reads).
std::size_t readable_in(const std::vector<char>& buffer, std::string_view line) {
  const char* begin = buffer.data();
  const char* end = begin + buffer.size();
  if (line.data() < begin || line.data() >= end) return 0;
  return static_cast<std::size_t>(end - line.data());
}

std::system_error socket_error(int code, const std::string& what) {
  return std::system_error(code, std::generic_category(), what);
}

// The file we bound, remembered by inode so stop() never unlinks a socket that a newer
// process created at the same path.
struct BoundPath {
  std::string path;
  ino_t inode = 0;

  void remember() {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) inode = st.st_ino;
  }
  void remove() const {
    struct stat st {};
    if (!path.empty() && ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode) {
      ::unlink(path.c_str());
    }
  }
};

void set_mode(const std::string& path, std::uint32_t mode) {
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) throw socket_error(errno, "chmod " + path);
}

std::string unix_peer_name(int fd, std::uint64_t number) {
  std::string name = "conn#" + std::to_string(number);
  struct ucred credentials {};
  socklen_t size = sizeof(credentials);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) == 0) {
    name += " pid=" + std::to_string(credentials.pid);
  }
  return name;
}

struct StreamContext {
  IngestSink& sink;
  Listener kind;
  std::size_t max_line;
  std::chrono::milliseconds idle;
};

// One client connection: reads NDJSON, hands complete lines to the sink, closes when idle or
// when a line is not completed within the idle timeout of its first byte.
//
// Rows are offered without waiting (IngestSink::try_queue). One that finds no room is held,
// with the rest of its read, and the session parks: it reads nothing more until the sink
// resumes it, so the client is held back by its socket buffers while this I/O thread serves
// everyone else.
//
// With ingest.ack = "durable" each read's complete lines become one durable commit, and the
// session answers "ack <durable> <lines>\n" (cumulative counts for this connection) before it
// reads again, or "nack <durable> <lines> <reason>\n" and closes when the commit failed (see
// README.md, "Durable ingest"). Reading only after the answer is written is the backpressure.
// The commit is asynchronous: the I/O thread serves other connections while this one waits
// for its fsync, and the result comes back on this session's strand.
template <class Protocol>
class StreamSession : public std::enable_shared_from_this<StreamSession<Protocol>> {
 public:
  using Socket = typename Protocol::socket;

  StreamSession(Socket socket, const StreamContext& context, std::string peer)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        context_(context),
        peer_(std::move(peer)),
        framer_(context.max_line),
        buffer_(kReadBufferBytes + kReadPadding),
        last_read_started_(std::chrono::steady_clock::now()) {
    counters().connections_active.fetch_add(1, std::memory_order_relaxed);
    counters().connections_total.fetch_add(1, std::memory_order_relaxed);
  }
  ~StreamSession() { counters().connections_active.fetch_sub(1, std::memory_order_relaxed); }
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  void start() {
    asio::dispatch(socket_.get_executor(), [self = this->shared_from_this()] {
      self->arm_idle_timer(self->last_read_started_ + self->context_.idle);
      self->read();
    });
  }

  void close() {
    asio::post(socket_.get_executor(), [self = this->shared_from_this()] {
      self->closing_ = true;
      // Waiting for a commit: its answer is written first, then the connection closes.
      if (self->committing_) return;
      // Parked: no read is pending to end the session, so end it here (counting its rows).
      if (self->parked_) return self->finish(asio::error::operation_aborted);
      error_code ignored;
      self->socket_.close(ignored);
      self->timer_.cancel();
    });
  }

 private:
  IngestCounters::PerListener& counters() { return context_.sink.counters().at(context_.kind); }

  void read() {
    if (closing_) return;
    // The idle deadline runs from here; the timer is not re-armed for every read (that
    // cancels, posts and re-queues a wait per read): on_idle checks this time instead.
    last_read_started_ = std::chrono::steady_clock::now();
    socket_.async_read_some(
        asio::buffer(buffer_.data(), kReadBufferBytes),
        [self = this->shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void arm_idle_timer(std::chrono::steady_clock::time_point deadline) {
    timer_.expires_at(deadline);
    timer_.async_wait([self = this->shared_from_this()](error_code ec) { self->on_idle(ec); });
  }

  void on_idle(error_code ec) {
    if (ec || closing_ || done_) return;  // cancelled: the session is ending
    const auto now = std::chrono::steady_clock::now();
    // A durable commit is being waited for, or rows wait for room (the client is owed an
    // answer, or is held back by us): not idle, and not slow either.
    if (committing_ || parked_) return arm_idle_timer(now + context_.idle);
    // The idle deadline moves with every read; a line's deadline does not: a client that
    // trickles a byte at a time must still finish its line within ingest.idle_timeout_ms.
    const auto idle_deadline = last_read_started_ + context_.idle;
    const auto line_deadline = line_started_ ? *line_started_ + context_.idle : idle_deadline;
    const auto deadline = std::min(idle_deadline, line_deadline);
    if (deadline > now) return arm_idle_timer(deadline);
    counters().connections_idle_closed.fetch_add(1, std::memory_order_relaxed);
    // Info, not debug: a client that finds its connection gone should find out why here.
    const std::string limit = std::to_string(context_.idle.count()) + " ms, ingest.idle_timeout_ms)";
    log_info(to_string(context_.kind),
             line_deadline <= now && line_deadline < idle_deadline
                 ? "closing connection " + peer_ + " (a line not completed within " + limit
                 : "closing idle connection " + peer_ + " (no input for " + limit);
    error_code ignored;
    socket_.close(ignored);
  }

  void on_read(error_code ec, std::size_t n) {
    if (n > 0) counters().bytes.fetch_add(n, std::memory_order_relaxed);
    if (!context_.sink.durable()) {
      unread_ = std::string_view(buffer_.data(), n);
      read_ec_ = ec;
      return offer_input();
    }
    if (n > 0) process_durable(std::string_view(buffer_.data(), n));
    note_partial_line();
    if (lines_pending_ > 0) return commit_and_answer(ec);
    if (ec) return finish(ec);
    read();
  }

  // Starts a line's deadline when a read leaves one unfinished (its first byte came in that
  // read); a finished line clears it.
  void note_partial_line() {
    if (!framer_.has_partial()) {
      line_started_.reset();
    } else if (!line_started_) {
      line_started_ = std::chrono::steady_clock::now();
    }
  }

  // Hands the lines in unread_ to the sink one at a time. A row that finds no room is held
  // and the session parks: nothing more is read (the client's writes then fill the socket
  // buffers and block it) until the sink resumes it, while the I/O thread serves others.
  void offer_input() {
    if (done_) return;
    // Closing: rows that fit now are still queued; finish() counts the rest.
    if (held_ && !offer_held()) return closing_ ? finish(asio::error::operation_aborted) : void();
    IngestSink& sink = context_.sink;
    const Listener kind = context_.kind;
    while (!unread_.empty()) {
      // One line at a time, so that the rest stays unread when its row has to wait.
      const std::size_t taken = framer_.feed_one(
          unread_,
          [&](std::string_view line, std::uint64_t offset) {
            HeldRow row;
            if (sink.parse_line(kind, line, offset, peer_, readable_in(buffer_, line), row.row, row.to))
              held_ = std::move(row);
          },
          [&](std::uint64_t offset) {
            sink.report_invalid(kind, detail::IngestError::too_long, offset, peer_);
          });
      unread_.remove_prefix(taken);
      if (held_ && !offer_held()) return closing_ ? finish(asio::error::operation_aborted) : void();
    }
    note_partial_line();
    if (read_ec_) return finish(read_ec_);
    if (closing_) return finish(asio::error::operation_aborted);
    read();
  }

  // Offers the held row; false when it still has to wait (the session is parked then).
  bool offer_held() {
    bool registered = false;
    for (;;) {
      if (context_.sink.try_queue(context_.kind, held_->to, held_->row)) {
        held_.reset();
        wait_counted_ = false;
        return true;
      }
      if (closing_) return false;
      if (registered || parked_) {
        // A notice is due (registered just now, or by an earlier park whose notice has
        // not come yet): wait for it.
        // Once per held row, however many notices it takes to find room.
        if (!std::exchange(wait_counted_, true))
          counters().waits_for_room.fetch_add(1, std::memory_order_relaxed);
        parked_ = true;
        return false;
      }
      // Register, then offer once more: room freed in between would wake nobody.
      context_.sink.wait_for_room(socket_.get_executor(),
                                  [weak = std::weak_ptr<StreamSession>(this->shared_from_this())] {
                                    if (auto self = weak.lock()) self->on_room();
                                  });
      registered = true;
    }
  }

  void on_room() {
    if (!parked_) return;  // a notice this session no longer waits for
    parked_ = false;
    // The time we held the client back does not count against its line's deadline.
    if (line_started_) line_started_ = std::chrono::steady_clock::now();
    offer_input();
  }

  // A closing session's rows that were read but never queued: counted, never lost quietly.
  void count_unoffered() {
    std::size_t rows = held_ ? 1 : 0;
    held_.reset();
    parked_ = false;
    IngestSink& sink = context_.sink;
    if (!unread_.empty()) {
      framer_.feed(
          unread_,
          [&](std::string_view line, std::uint64_t offset) {
            HeldRow row;
            if (sink.parse_line(context_.kind, line, offset, peer_, readable_in(buffer_, line), row.row,
                                row.to))
              ++rows;
          },
          [&](std::uint64_t offset) {
            sink.report_invalid(context_.kind, detail::IngestError::too_long, offset, peer_);
          });
      unread_ = {};
    }
    sink.count_not_queued(context_.kind, rows, "connection closed while waiting for room");
  }

  void process_durable(std::string_view data) {
    IngestSink& sink = context_.sink;
    const Listener kind = context_.kind;
    {
      // Every line ending in this read counts toward the answer, valid or not, so the
      // client can match the count against the lines it wrote.
      framer_.feed(
          data,
          [&](std::string_view line, std::uint64_t offset) {
            ++lines_pending_;
            (void)sink.prepare_line(kind, line, offset, peer_, batch_, readable_in(buffer_, line));
          },
          [&](std::uint64_t offset) {
            ++lines_pending_;
            sink.report_invalid(kind, detail::IngestError::too_long, offset, peer_);
          });
    }
  }

  // Durable mode: one commit for the lines of this read, then the answer; `read_ec` (e.g. the
  // client's half-close) is acted on once the answer is written.
  void commit_and_answer(error_code read_ec) {
    const std::size_t rows = batch_.rows();
    const std::size_t lines = lines_pending_;
    lines_pending_ = 0;
    committing_ = true;
    context_.sink.commit_async(
        context_.kind, std::exchange(batch_, DurableBatch{}), socket_.get_executor(),
        [self = this->shared_from_this(), read_ec, rows, lines](DurableResult result) {
          self->on_committed(result, rows, lines, read_ec);
        });
  }

  void on_committed(DurableResult result, std::size_t rows, std::size_t lines, error_code read_ec) {
    committing_ = false;
    const bool ok = result == DurableResult::durable;
    if (ok) {
      durable_total_ += rows;
      lines_total_ += lines;
    }
    answer_ = ok ? "ack " : "nack ";
    answer_ += std::to_string(durable_total_);
    answer_ += ' ';
    answer_ += std::to_string(lines_total_);
    if (!ok) {
      answer_ += ' ';
      answer_ += durable_result_name(result);
    }
    answer_ += '\n';
    asio::async_write(socket_, asio::buffer(answer_),
                      [self = this->shared_from_this(), read_ec, ok](error_code ec, std::size_t) {
                        self->on_answered(ec, read_ec, ok);
                      });
  }

  void on_answered(error_code ec, error_code read_ec, bool ok) {
    if (ec) return finish(ec);
    if (!ok || closing_) {
      // Lines after the failed chunk may already be in flight; the counts would no longer
      // say which are safe, so end the connection: the client resends from <lines>. (Or the
      // listener is stopping and only let this answer out first.)
      done_ = true;
      error_code ignored;
      socket_.shutdown(Socket::shutdown_both, ignored);
      socket_.close(ignored);
      timer_.cancel();
      return;
    }
    if (read_ec) return finish(read_ec);
    if (line_started_) line_started_ = std::chrono::steady_clock::now();  // our wait is not the client's
    read();
  }

  void finish(error_code ec) {
    if (held_ || !unread_.empty()) count_unoffered();
    if (framer_.has_partial()) {
      context_.sink.report_invalid(context_.kind, detail::IngestError::partial_line, framer_.partial_offset(),
                                   peer_);
    }
    if (ec != asio::error::eof && ec != asio::error::operation_aborted &&
        ec != asio::error::connection_reset) {
      log_debug(to_string(context_.kind), "connection " + peer_ + " failed: " + ec.message());
    }
    done_ = true;
    error_code ignored;
    socket_.close(ignored);
    timer_.cancel();  // its wait holds this session alive
  }

  Socket socket_;
  asio::steady_timer timer_;
  StreamContext context_;
  std::string peer_;
  detail::LineFramer framer_;
  std::vector<char> buffer_;  // kReadBufferBytes for reads, then kReadPadding
  std::chrono::steady_clock::time_point last_read_started_;
  bool closing_ = false;
  bool done_ = false;  // the connection is closed; nothing more is read
  // When the unfinished line in the framer began (the read that brought its first byte).
  std::optional<std::chrono::steady_clock::time_point> line_started_;
  // Queued mode only: a read's bytes not handed to the sink yet, and how the read ended.
  std::string_view unread_;
  error_code read_ec_;
  struct HeldRow {
    PreparedRow row;
    DestinationHandle to;
  };
  std::optional<HeldRow> held_;  // the row that found no room, offered again on resume
  bool parked_ = false;          // waiting for room; nothing is read meanwhile
  bool wait_counted_ = false;    // held_'s wait is in waits_for_room already
  // Durable mode only.
  bool committing_ = false;  // a commit of this session's lines has not settled yet
  DurableBatch batch_;
  std::size_t lines_pending_ = 0;    // lines ended in the current read
  std::uint64_t lines_total_ = 0;    // lines acknowledged so far (valid or not)
  std::uint64_t durable_total_ = 0;  // rows made durable so far
  std::string answer_;
};

template <class Protocol>
class StreamListener : public NdjsonListener, public std::enable_shared_from_this<StreamListener<Protocol>> {
 public:
  using Session = StreamSession<Protocol>;
  using Socket = typename Protocol::socket;
  using Endpoint = typename Protocol::endpoint;

  StreamListener(asio::io_context& io, Endpoint endpoint, const IngestConfig& config, IngestSink& sink,
                 Listener kind, std::string path)
      : io_(io),
        acceptor_(asio::make_strand(io)),
        endpoint_(std::move(endpoint)),
        context_{sink, kind, config.max_line_bytes, config.idle_timeout},
        max_connections_(config.max_connections),
        mode_(config.uds_mode),
        path_{std::move(path), 0} {}

  void start() override {
    if (!path_.path.empty()) prepare_socket_path(path_.path, true);
    error_code ec;
    acceptor_.open(endpoint_.protocol(), ec);
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) acceptor_.bind(endpoint_, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw socket_error(ec.value(), std::string(to_string(context_.kind)) + " listener on " + address());
    if (!path_.path.empty()) {
      path_.remember();
      set_mode(path_.path, mode_);
    }
    endpoint_ = acceptor_.local_endpoint();
    asio::dispatch(acceptor_.get_executor(), [self = this->shared_from_this()] { self->accept(); });
  }

  void stop() override {
    asio::post(acceptor_.get_executor(), [self = this->shared_from_this()] { self->shut(); });
  }
  void stop_after_io() override { shut(); }

  std::string address() const override {
    if (!path_.path.empty()) return path_.path;
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      const auto host = endpoint_.address().to_string();
      return (endpoint_.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(endpoint_.port());
    } else {
      return endpoint_.path();
    }
  }

 private:
  // Closes the acceptor, removes the socket file and closes every session, once.
  void shut() {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    path_.remove();
    std::vector<std::weak_ptr<Session>> sessions;
    {
      std::lock_guard lock(sessions_mutex_);
      sessions.swap(sessions_);
    }
    for (auto& weak : sessions) {
      if (auto session = weak.lock()) session->close();
    }
  }

  void accept() {
    if (stopped_) return;
    pending_.emplace(asio::make_strand(io_));
    acceptor_.async_accept(*pending_,
                           [self = this->shared_from_this()](error_code ec) { self->on_accept(ec); });
  }

  void on_accept(error_code ec) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      log_warn(to_string(context_.kind), "accept failed: " + ec.message());
      return accept();
    }
    Socket socket = std::move(*pending_);
    pending_.reset();
    auto& counters = context_.sink.counters().at(context_.kind);
    if (counters.connections_active.load(std::memory_order_relaxed) >= max_connections_) {
      counters.connections_refused.fetch_add(1, std::memory_order_relaxed);
      // Rate-limited: a client retrying in a loop must not flood the log.
      std::uint64_t suppressed = 0;
      if (refused_log_.allow("refused", suppressed)) {
        std::string message = "refusing a connection: ingest.max_connections (" +
                              std::to_string(max_connections_) + ") reached";
        if (suppressed > 0) message += " (" + std::to_string(suppressed) + " similar not logged)";
        log_warn(to_string(context_.kind), message);
      }
      error_code ignored;
      socket.close(ignored);
      return accept();
    }
    std::string peer;
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      error_code peer_ec;
      const auto remote = socket.remote_endpoint(peer_ec);
      peer = peer_ec ? "conn#" + std::to_string(++accepted_)
                     : remote.address().to_string() + ":" + std::to_string(remote.port());
    } else {
      peer = unix_peer_name(socket.native_handle(), ++accepted_);
    }
    auto session = std::make_shared<Session>(std::move(socket), context_, std::move(peer));
    {
      std::lock_guard lock(sessions_mutex_);
      std::erase_if(sessions_, [](const std::weak_ptr<Session>& weak) { return weak.expired(); });
      sessions_.push_back(session);
    }
    session->start();
    accept();
  }

  asio::io_context& io_;
  typename Protocol::acceptor acceptor_;
  Endpoint endpoint_;
  StreamContext context_;
  std::size_t max_connections_;
  std::uint32_t mode_;
  BoundPath path_;
  std::optional<Socket> pending_;
  bool stopped_ = false;  // touched on the acceptor's strand only
  std::uint64_t accepted_ = 0;
  LogRateLimiter refused_log_;
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

class DatagramListener : public NdjsonListener, public std::enable_shared_from_this<DatagramListener> {
 public:
  DatagramListener(asio::io_context& io, const IngestConfig& config, IngestSink& sink)
      : socket_(asio::make_strand(io)),
        sink_(sink),
        max_line_(config.max_line_bytes),
        mode_(config.uds_mode),
        path_{config.datagram_path, 0},
        // One byte more than the limit, so a datagram over it shows as too long, not truncated.
        receive_bytes_(std::max(config.max_line_bytes + 1, kReadBufferBytes)),
        buffer_(receive_bytes_ + kReadPadding) {}

  void start() override {
    prepare_socket_path(path_.path, false);
    error_code ec;
    socket_.open(asio::local::datagram_protocol(), ec);
    if (!ec) socket_.bind(asio::local::datagram_protocol::endpoint(path_.path), ec);
    if (ec) throw socket_error(ec.value(), "datagram listener on " + path_.path);
    path_.remember();
    set_mode(path_.path, mode_);
    // A larger receive queue absorbs bursts; senders block (or get EAGAIN) when it is full.
    error_code ignored;
    socket_.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->receive(); });
  }

  void stop() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->shut(); });
  }
  void stop_after_io() override { shut(); }

  std::string address() const override { return path_.path; }

 private:
  // Closes the socket and removes its file, once.
  void shut() {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    socket_.close(ignored);
    path_.remove();
  }

  void receive() {
    if (stopped_) return;
    socket_.async_receive(
        asio::buffer(buffer_.data(), receive_bytes_),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->on_receive(ec, n); });
  }

  void on_receive(error_code ec, std::size_t n) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      log_warn("datagram", "receive failed: " + ec.message());
      return receive();
    }
    auto& counters = sink_.counters().at(Listener::datagram);
    counters.bytes.fetch_add(n, std::memory_order_relaxed);
    const std::string peer = "datagram#" + std::to_string(++received_);
    if (n > max_line_) {
      sink_.report_invalid(Listener::datagram, detail::IngestError::too_long, 0, peer);
      return receive();
    }
    const std::string_view data(buffer_.data(), n);
    std::size_t start = 0;
    while (start < data.size()) {
      std::size_t end = data.find('\n', start);
      if (end == std::string_view::npos) end = data.size();
      const std::string_view line = data.substr(start, end - start);
      offer(line, start, peer);
      start = end + 1;
    }
    receive();
  }

  // A datagram cannot be held back like a stream: a row that finds no room (block and spill
  // policies) is dropped and counted, and the I/O thread never waits. Senders that must not
  // lose rows use a stream socket.
  void offer(std::string_view line, std::uint64_t offset, const std::string& peer) {
    PreparedRow row;
    DestinationHandle to;
    if (!sink_.parse_line(Listener::datagram, line, offset, peer, readable_in(buffer_, line), row, to))
      return;
    if (!sink_.try_queue(Listener::datagram, to, row))
      sink_.count_not_queued(Listener::datagram, 1, "dropped_queue_full (datagram, memory budget full)");
  }

  asio::local::datagram_protocol::socket socket_;
  IngestSink& sink_;
  std::size_t max_line_;
  std::uint32_t mode_;
  BoundPath path_;
  std::size_t receive_bytes_;
  std::vector<char> buffer_;  // receive_bytes_ for a datagram, then kReadPadding
  bool stopped_ = false;
  std::uint64_t received_ = 0;
};

}  // namespace

void prepare_socket_path(const std::string& path, bool stream) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) throw socket_error(errno, "cannot inspect " + path);
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) throw socket_error(ec.value(), "cannot create directory " + parent.string());
    return;
  }
  if (!S_ISSOCK(st.st_mode))
    throw socket_error(EEXIST, path + " exists and is not a socket; not replacing it");
  // A socket file: live if something accepts on it, stale (left by a crash) otherwise.
  asio::io_context probe_io;
  error_code ec;
  if (stream) {
    asio::local::stream_protocol::socket probe(probe_io);
    probe.connect(asio::local::stream_protocol::endpoint(path), ec);
  } else {
    asio::local::datagram_protocol::socket probe(probe_io);
    probe.open(asio::local::datagram_protocol(), ec);
    if (!ec) probe.connect(asio::local::datagram_protocol::endpoint(path), ec);
  }
  if (!ec) throw socket_error(EADDRINUSE, "another process is listening on " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw socket_error(errno, "cannot remove stale socket " + path);
}

std::shared_ptr<NdjsonListener> make_uds_listener(asio::io_context& io, const IngestConfig& config,
                                                  IngestSink& sink) {
  return std::make_shared<StreamListener<asio::local::stream_protocol>>(
      io, asio::local::stream_protocol::endpoint(config.uds_path), config, sink, Listener::uds,
      config.uds_path);
}

std::shared_ptr<NdjsonListener> make_tcp_listener(asio::io_context& io, const IngestConfig& config,
                                                  IngestSink& sink) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config.tcp.host), config.tcp.port);
  return std::make_shared<StreamListener<asio::ip::tcp>>(io, endpoint, config, sink, Listener::tcp,
                                                         std::string());
}

std::shared_ptr<NdjsonListener> make_datagram_listener(asio::io_context& io, const IngestConfig& config,
                                                       IngestSink& sink) {
  return std::make_shared<DatagramListener>(io, config, sink);
}

}  // namespace spanline::agent
