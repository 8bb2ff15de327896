#include "targets.hpp"

#include "http_client.hpp"
#include "proto/otlp_trace.pb.h"
#include "trace_template.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace spanline::load {

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Connects a stream or datagram socket to `address`; an invalid Fd on failure.
Fd connect_to(SocketKind kind, const std::string& address) {
  if (kind == SocketKind::uds || kind == SocketKind::udp_unix) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (address.size() >= sizeof sa.sun_path) return {};
    std::memcpy(sa.sun_path, address.c_str(), address.size() + 1);
    Fd fd(::socket(AF_UNIX, kind == SocketKind::uds ? SOCK_STREAM : SOCK_DGRAM, 0));
    if (!fd) return {};
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return {};
    return fd;
  }
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return {};
  const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return {};
  Fd out;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol));
    if (fd && ::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      out = std::move(fd);
      break;
    }
  }
  ::freeaddrinfo(res);
  return out;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Each send of a trace: fresh row ids, unique per (nonce, producer, sequence), the
// send time, and the trace's rows rendered once and reused (trace_template.hpp).
class TraceRenderer {
 public:
  TraceRenderer(std::uint64_t nonce, unsigned producer, std::string routing_project_id)
      : nonce_(nonce), producer_(producer), routing_project_id_(std::move(routing_project_id)) {}

  // Readies ids and time for a send of `plan`, and returns its rows' template. The
  // plans live as long as the run, so their address names them.
  const TraceTemplate& next(const TracePlan& plan) {
    const auto [entry, added] = templates_.try_emplace(&plan, plan, routing_project_id_);
    ids_.assign(plan.spans.size(), nonce_, (std::uint64_t{producer_} << 44) | counter_);
    counter_ += plan.spans.size();
    ids_.set_time(unix_now());
    return entry->second;
  }
  const TraceIds& ids() const { return ids_; }

 private:
  std::uint64_t nonce_;
  unsigned producer_;
  std::string routing_project_id_;
  std::uint64_t counter_ = 0;
  TraceIds ids_;
  std::unordered_map<const TracePlan*, TraceTemplate> templates_;
};

// NDJSON over a Unix or TCP stream: one write per trace (all its rows, one per line).
class StreamProducer final : public Producer {
 public:
  StreamProducer(SocketKind kind, std::string address, std::string project_id, std::uint64_t nonce,
                 unsigned index)
      : kind_(kind), address_(std::move(address)), rows_(nonce, index, std::move(project_id)) {}

  std::uint64_t send(const TracePlan& plan, LatencyHistogram* calls) override {
    const TraceTemplate& rows = rows_.next(plan);
    buffer_.clear();
    for (std::size_t row = 0; row < rows.row_count(); ++row) {
      rows.append_row(buffer_, row, rows_.ids());
      buffer_ += '\n';
    }
    const std::uint64_t t0 = now_ns();
    if (!fd_) fd_ = connect_to(kind_, address_);
    bool ok = fd_ && write_all(fd_.get(), buffer_.data(), buffer_.size());
    if (!ok && fd_) {
      // The connection broke (the daemon restarted?): one fresh attempt, rows may repeat.
      fd_ = connect_to(kind_, address_);
      ok = fd_ && write_all(fd_.get(), buffer_.data(), buffer_.size());
    }
    if (calls != nullptr) calls->record(now_ns() - t0);
    if (!ok) fd_.reset();
    return ok ? 0 : plan.row_count();
  }

 private:
  SocketKind kind_;
  std::string address_;
  TraceRenderer rows_;
  Fd fd_;
  std::string buffer_;
};

// One datagram per row on a Unix datagram socket.
class DatagramProducer final : public Producer {
 public:
  DatagramProducer(std::string address, std::string project_id, std::uint64_t nonce, unsigned index)
      : address_(std::move(address)), rows_(nonce, index, std::move(project_id)) {}

  std::uint64_t send(const TracePlan& plan, LatencyHistogram* calls) override {
    const TraceTemplate& rows = rows_.next(plan);
    std::uint64_t refused = 0;
    if (!fd_) fd_ = connect_to(SocketKind::udp_unix, address_);
    for (std::size_t row = 0; row < rows.row_count(); ++row) {
      row_.clear();
      rows.append_row(row_, row, rows_.ids());
      row_ += '\n';
      const std::uint64_t t0 = now_ns();
      ssize_t n = -1;
      if (fd_) {
        do {
          n = ::send(fd_.get(), row_.data(), row_.size(), MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
      }
      if (calls != nullptr) calls->record(now_ns() - t0);
      if (n != static_cast<ssize_t>(row_.size())) {
        ++refused;
        fd_ = connect_to(SocketKind::udp_unix, address_);
      }
    }
    return refused;
  }

 private:
  std::string address_;
  TraceRenderer rows_;
  Fd fd_;
  std::string row_;
};

// The sidecar's HTTP ingest: one insert request per trace, keep-alive.
class HttpProducer final : public Producer {
 public:
  HttpProducer(const std::string& base_url, const std::string& api_key, std::string project_id,
               std::uint64_t nonce, unsigned index)
      : client_(parse_http_url(base_url), api_key),
        path_("/v1/project_logs/" + project_id + "/insert"),
        rows_(nonce, index, {}) {}

  std::uint64_t send(const TracePlan& plan, LatencyHistogram* calls) override {
    const TraceTemplate& rows = rows_.next(plan);
    body_ = R"({"events":[)";
    for (std::size_t row = 0; row < rows.row_count(); ++row) {
      if (row > 0) body_ += ',';
      rows.append_row(body_, row, rows_.ids());
    }
    body_ += "]}";
    const std::uint64_t t0 = now_ns();
    const HttpResponse res = client_.request("POST", path_, body_, std::chrono::seconds(30));
    if (calls != nullptr) calls->record(now_ns() - t0);
    return res.status >= 200 && res.status < 300 ? 0 : plan.row_count();
  }

 private:
  HttpClient client_;
  std::string path_;
  TraceRenderer rows_;
  std::string body_;
};

// The sidecar's OTLP receiver: one ExportTraceServiceRequest (protobuf) per trace, one span
// per SpanPlan, as an OpenTelemetry SDK's exporter sends them. Trace ids come from the
// nonce, the producer and a sequence number, so runs and producers never share a row id.
// A span's start fields become braintrust.input_json and its end fields
// braintrust.output_json (the same bytes the other targets send); merge updates have no
// OTLP equivalent (a span is exported once, finished).
class OtlpProducer final : public Producer {
 public:
  OtlpProducer(const std::string& base_url, const std::string& api_key, std::uint64_t nonce, unsigned index)
      : client_(parse_http_url(base_url), api_key), nonce_(nonce), index_(index) {}

  std::uint64_t send(const TracePlan& plan, LatencyHistogram* calls) override {
    namespace pb = spanline::otlp::v1;
    pb::ExportTraceServiceRequest request;
    auto* scope = request.add_resource_spans()->add_scope_spans();
    scope->mutable_scope()->set_name("spanline-load");
    std::string trace_id(16, '\0');
    put_big_endian(trace_id.data(), nonce_);
    put_big_endian(trace_id.data() + 8, (std::uint64_t{index_} << 40) | ++sequence_);
    const auto now = static_cast<std::uint64_t>(unix_now() * 1e9);
    for (std::size_t i = 0; i < plan.spans.size(); ++i) {
      const SpanPlan& plan_span = plan.spans[i];
      auto* span = scope->add_spans();
      span->set_trace_id(trace_id);
      span->set_span_id(span_id(i));
      if (plan_span.parent >= 0)
        span->set_parent_span_id(span_id(static_cast<std::size_t>(plan_span.parent)));
      span->set_name(plan_span.name);
      span->set_start_time_unix_nano(now);
      span->set_end_time_unix_nano(now + 1000);
      add_attribute(*span, "gen_ai.operation.name",
                    plan_span.type == "llm"    ? "chat"
                    : plan_span.type == "tool" ? "execute_tool"
                                               : "invoke_agent");
      add_attribute(*span, "braintrust.input_json", "{" + plan_span.start.body() + "}");
      add_attribute(*span, "braintrust.output_json", "{" + plan_span.end.body() + "}");
    }
    body_.clear();
    request.SerializeToString(&body_);
    const std::uint64_t t0 = now_ns();
    const HttpResponse res =
        client_.request("POST", "/v1/traces", body_, std::chrono::seconds(30), "application/x-protobuf");
    if (calls != nullptr) calls->record(now_ns() - t0);
    return res.status >= 200 && res.status < 300 ? 0 : plan.row_count();
  }

 private:
  static void put_big_endian(char* out, std::uint64_t value) {
    for (int b = 7; b >= 0; --b, value >>= 8) out[b] = static_cast<char>(value & 0xFF);
  }
  static std::string span_id(std::size_t index) {
    std::string id(8, '\0');
    put_big_endian(id.data(), index + 1);  // never all zero
    return id;
  }
  template <class Span>
  static void add_attribute(Span& span, const std::string& key, const std::string& value) {
    auto* kv = span.add_attributes();
    kv->set_key(key);
    kv->mutable_value()->set_string_value(value);
  }

  HttpClient client_;
  std::uint64_t nonce_;
  unsigned index_;
  std::uint64_t sequence_ = 0;
  std::string body_;
};

// The official SDKs' logging request: rows are collected across traces, as the SDK's
// background logger collects them across calls, and sent kLogs3RowsPerRequest at a time.
// Each row names its project the way the SDK does (project_id and log_id "g"). The rows of a
// refused request count as refused, as a lost SDK batch would.
class Logs3Producer final : public Producer {
 public:
  Logs3Producer(const std::string& base_url, const std::string& api_key, std::string project_id,
                std::uint64_t nonce, unsigned index)
      : client_(parse_http_url(base_url), api_key), rows_(nonce, index, std::move(project_id)) {}

  std::uint64_t send(const TracePlan& plan, LatencyHistogram* calls) override {
    const TraceTemplate& rows = rows_.next(plan);
    for (std::size_t row = 0; row < rows.row_count(); ++row) {
      if (!pending_ends_.empty()) pending_ += ',';
      rows.append_row(pending_, row, rows_.ids());
      pending_.back() = ',';  // the row's closing brace, reopened for the SDK's routing key
      pending_ += R"("log_id":"g"})";
      pending_ends_.push_back(pending_.size());
    }
    std::uint64_t refused = 0;
    while (pending_ends_.size() >= kLogs3RowsPerRequest) refused += post(kLogs3RowsPerRequest, calls);
    return refused;
  }

  std::uint64_t finish(LatencyHistogram* calls) override {
    return pending_ends_.empty() ? 0 : post(pending_ends_.size(), calls);
  }

 private:
  // Sends the first `count` pending rows and forgets them.
  std::uint64_t post(std::size_t count, LatencyHistogram* calls) {
    const std::size_t end = pending_ends_[count - 1];
    body_ = R"({"rows":[)";
    body_.append(pending_, 0, end);
    body_ += R"(],"api_version":2})";
    // The next row starts after the comma that followed the last one sent.
    pending_.erase(0, std::min(pending_.size(), end + 1));
    pending_ends_.erase(pending_ends_.begin(), pending_ends_.begin() + static_cast<std::ptrdiff_t>(count));
    for (std::size_t& e : pending_ends_) e -= end + 1;
    const std::uint64_t t0 = now_ns();
    const HttpResponse res = client_.request("POST", "/logs3", body_, std::chrono::seconds(30));
    if (calls != nullptr) calls->record(now_ns() - t0);
    return res.status >= 200 && res.status < 300 ? 0 : count;
  }

  HttpClient client_;
  TraceRenderer rows_;
  std::string pending_;                   // rows not sent yet, comma-separated
  std::vector<std::size_t> pending_ends_;  // where each pending row ends in pending_
  std::string body_;
};

class SocketTarget final : public Target {
 public:
  SocketTarget(SocketKind kind, std::string address, std::string project_id, std::uint64_t nonce,
               std::string api_key)
      : kind_(kind),
        address_(std::move(address)),
        project_id_(std::move(project_id)),
        nonce_(nonce),
        api_key_(std::move(api_key)) {
    if (kind_ == SocketKind::http || kind_ == SocketKind::otlp || kind_ == SocketKind::logs3) {
      (void)parse_http_url(address_);  // throws early on a bad URL
    } else if (!connect_to(kind_, address_)) {
      throw std::runtime_error("cannot connect to the sidecar at '" + address_ +
                               "': " + std::strerror(errno));
    }
  }

  std::unique_ptr<Producer> make_producer(unsigned index) override {
    switch (kind_) {
      case SocketKind::uds:
      case SocketKind::tcp:
        return std::make_unique<StreamProducer>(kind_, address_, project_id_, nonce_, index);
      case SocketKind::udp_unix:
        return std::make_unique<DatagramProducer>(address_, project_id_, nonce_, index);
      case SocketKind::http:
        return std::make_unique<HttpProducer>(address_, api_key_, project_id_, nonce_, index);
      case SocketKind::otlp:
        return std::make_unique<OtlpProducer>(address_, api_key_, nonce_, index);
      case SocketKind::logs3:
        return std::make_unique<Logs3Producer>(address_, api_key_, project_id_, nonce_, index);
    }
    return nullptr;
  }

  bool flush(std::chrono::milliseconds) override { return true; }
  TargetGauges gauges() const override { return {}; }
  void stop(std::chrono::milliseconds) override {}

 private:
  SocketKind kind_;
  std::string address_;
  std::string project_id_;
  std::uint64_t nonce_;
  std::string api_key_;
};

}  // namespace

std::unique_ptr<Target> make_socket_target(SocketKind kind, std::string address, std::string project_id,
                                           std::uint64_t nonce, std::string api_key) {
  return std::make_unique<SocketTarget>(kind, std::move(address), std::move(project_id), nonce,
                                        std::move(api_key));
}

}  // namespace spanline::load
