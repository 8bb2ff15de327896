#include "api_proxy.hpp"

#include "log.hpp"
#include "transport/http_connection.hpp"
#include "transport/url.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <utility>
#include <vector>

namespace spanline::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using boost::system::error_code;
using tcp = asio::ip::tcp;

std::string_view proxy_route_class(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  auto under = [&](std::string_view prefix) {
    return path.rfind(prefix, 0) == 0 && (path.size() == prefix.size() || path[prefix.size()] == '/');
  };
  if (under("/v1/prompt")) return "prompt";
  if (under("/v1/function") || under("/function")) return "function";
  if (under("/btql")) return "btql";
  if (under("/xact-id")) return "xact_id";
  if (under("/attachment") || under("/attachment/status")) return "attachment";
  if (path.size() > 6 && path.substr(path.size() - 6) == "/fetch") return "fetch";
  return "other";
}

namespace {

std::size_t route_index(std::string_view route) {
  for (std::size_t i = 0; i < kProxyRouteNames.size(); ++i) {
    if (kProxyRouteNames[i] == route) return i;
  }
  return kProxyRouteNames.size() - 1;
}

// RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
bool hop_by_hop(std::string_view name, const std::vector<std::string>& named_by_connection) {
  static constexpr std::array<std::string_view, 9> fixed = {
      "connection",        "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
      "transfer-encoding", "upgrade",    "proxy-connection"};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(fixed.begin(), fixed.end(), lower) != fixed.end()) return true;
  return std::find(named_by_connection.begin(), named_by_connection.end(), lower) !=
         named_by_connection.end();
}

// The header names a Connection header lists (lower case).
template <class Fields>
std::vector<std::string> connection_tokens(const Fields& fields) {
  std::vector<std::string> out;
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    std::string_view value = field.value();
    while (!value.empty()) {
      const std::size_t comma = value.find(',');
      std::string token(value.substr(0, comma));
      token.erase(0, token.find_first_not_of(" \t"));
      token.erase(token.find_last_not_of(" \t") + 1);
      std::transform(token.begin(), token.end(), token.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (!token.empty()) out.push_back(std::move(token));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return out;
}

std::string error_json(std::string_view message, std::string_view reason) {
  return std::string(R"({"error":{"message":")") + std::string(message) + R"(","reason":")" +
         std::string(reason) + "\"}}";
}

}  // namespace

struct ApiProxy::Impl : std::enable_shared_from_this<ApiProxy::Impl> {
  ProxySettings settings;
  detail::BaseUrl upstream;
  std::shared_ptr<ssl::context> tls;
  IngestCounters& counters;

  Impl(ProxySettings s, IngestCounters& c) : settings(std::move(s)), counters(c) {
    upstream = detail::parse_base_url(settings.upstream_url);
    if (upstream.tls) tls = detail::make_tls_context(settings.ca_file, settings.tls_verify);
  }
};

namespace {

// The body relay's bounds: one piece in flight to the client at a time, and the raw bytes read
// from the upstream but not yet parsed (the head must fit too, within its 64 KiB limit).
constexpr std::size_t kPieceBytes = 64 * 1024;
constexpr std::size_t kReadBufferBytes = 128 * 1024;
constexpr std::size_t kHeaderLimit = 64 * 1024;

// One forwarded exchange on its own upstream connection. Until the upstream's head arrives,
// one deadline (proxy.timeout_ms) covers it all and a failure still has an answer of its own
// (502/504). From the head on, the answer is the upstream's: its body is relayed piece by piece
// as the client's connection asks for it (StreamedBody), each read of the upstream under a new
// proxy.timeout_ms, and a failure can only cut the client's connection.
// Everything runs on the client connection's strand (the upstream stream uses its executor).
template <class Stream>
class ProxyCall : public StreamedBody, public std::enable_shared_from_this<ProxyCall<Stream>> {
 public:
  ProxyCall(std::shared_ptr<ApiProxy::Impl> proxy, Stream stream, HttpRequest request,
            HttpResponder responder)
      : proxy_(std::move(proxy)),
        stream_(std::move(stream)),
        resolver_(responder.executor),
        route_(route_index(proxy_route_class(request.target()))),
        responder_(std::move(responder)),
        buffer_(kReadBufferBytes),
        piece_(kPieceBytes) {
    head_.version(request.version());
    head_.keep_alive(request.keep_alive());
    head_request_ = request.method() == http::verb::head;
    build_upstream_request(request);
  }

  void start() {
    beast::get_lowest_layer(stream_).expires_after(proxy_->settings.timeout);
    const auto& up = proxy_->upstream;
    resolver_.async_resolve(up.host, std::to_string(up.port),
                            [self = this->shared_from_this()](error_code ec, tcp::resolver::results_type r) {
                              if (ec) return self->fail(ec, "resolve");
                              self->connect(r);
                            });
  }

  void next(OnPiece on_piece) override {
    on_piece_ = std::move(on_piece);
    read_piece();
  }

  void cancel() noexcept override {
    cancelled_ = true;
    finish_exchange(ProxyOutcome::cut_off, [] {});
  }

 private:
  void build_upstream_request(HttpRequest& request) {
    const auto tokens = connection_tokens(request);
    upstream_request_.method(request.method());
    upstream_request_.version(11);
    upstream_request_.target(proxy_->upstream.target(request.target()));
    for (const auto& field : request) {
      // Expect: the body is already read whole, and an interim 100 from the upstream must not
      // pass for its answer.
      if (field.name() == http::field::host || field.name() == http::field::content_length ||
          field.name() == http::field::expect) {
        continue;
      }
      if (hop_by_hop(field.name_string(), tokens)) continue;
      upstream_request_.insert(field.name_string(), field.value());
    }
    upstream_request_.set(http::field::host, proxy_->upstream.host_header());
    upstream_request_.keep_alive(false);
    upstream_request_.body() = std::move(request.body());
    if (!upstream_request_.body().empty() || request.method() == http::verb::post ||
        request.method() == http::verb::put || request.method() == http::verb::patch) {
      upstream_request_.prepare_payload();
    }
  }

  void connect(const tcp::resolver::results_type& results) {
    beast::get_lowest_layer(stream_).async_connect(
        results, [self = this->shared_from_this()](error_code ec, const tcp::endpoint&) {
          if (ec) return self->fail(ec, "connect");
          self->handshake();
        });
  }

  void handshake() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      write();
    } else {
      const auto& up = proxy_->upstream;
      if (!up.host_is_ip()) SSL_set_tlsext_host_name(stream_.native_handle(), up.host.c_str());
      error_code ec;
      if (proxy_->settings.tls_verify) stream_.set_verify_callback(ssl::host_name_verification(up.host), ec);
      stream_.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](error_code e) {
        if (e) return self->fail(e, "handshake");
        self->write();
      });
    }
  }

  void write() {
    http::async_write(stream_, upstream_request_,
                      [self = this->shared_from_this()](error_code ec, std::size_t) {
                        if (ec) return self->fail(ec, "write");
                        self->upstream_request_ = {};  // its body may be large; no longer needed
                        self->read_head();
                      });
  }

  void read_head() {
    parser_.emplace();
    // Beyond the limit the parser fails: at the head when Content-Length says so (a 502 then),
    // mid-body otherwise (the connection is cut).
    parser_->body_limit(proxy_->settings.max_response_bytes);
    parser_->header_limit(kHeaderLimit);
    if (head_request_) parser_->skip(true);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](error_code ec, std::size_t) {
                              if (ec) return self->fail(ec, "read");
                              self->pass_head();
                            });
  }

  void pass_head() {
    const auto& upstream = parser_->get();
    const auto tokens = connection_tokens(upstream);
    http::response_header<> head;
    head.result(upstream.result_int());
    head.version(head_.version());
    // Content-Length stays (the body passes unchanged); Transfer-Encoding is hop-by-hop, and
    // the client's connection frames the body its own way.
    for (const auto& field : upstream) {
      if (hop_by_hop(field.name_string(), tokens)) continue;
      head.insert(field.name_string(), field.value());
    }
    proxy_->counters.count_http_response(head.result_int());
    if (parser_->is_done()) {
      // No body (HEAD, 204, 304, Content-Length: 0): an ordinary answer, headers as they are.
      HttpResponse response{std::move(head)};
      response.keep_alive(head_.keep_alive());
      return finish_exchange(ProxyOutcome::answered, [&] { responder_.respond(std::move(response)); });
    }
    // A responder answers once. Not keeping it breaks the cycle connection -> this body ->
    // responder -> connection, which would outlive an io_context stopped mid-write.
    const HttpResponder responder = std::exchange(responder_, HttpResponder{});
    responder.respond_streamed(StreamedResponse{std::move(head), this->shared_from_this()});
  }

  // Reads until some body bytes are in piece_ or the body ends: a read may bring only chunk
  // framing, and an empty piece would make the client's connection ask again for nothing.
  void read_piece() {
    if (cancelled_) return deliver(asio::error::operation_aborted, 0);
    auto& body = parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    beast::get_lowest_layer(stream_).expires_after(proxy_->settings.timeout);
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = this->shared_from_this()](error_code ec, std::size_t) {
                            if (ec == http::error::need_buffer) ec = {};  // piece_ is full
                            const std::size_t got = self->piece_.size() - self->parser_->get().body().size;
                            if (!ec && got == 0 && !self->parser_->is_done()) return self->read_piece();
                            self->deliver(ec, got);
                          });
  }

  void deliver(error_code ec, std::size_t got) {
    OnPiece on_piece = std::move(on_piece_);
    on_piece_ = nullptr;
    if (ec) {
      if (!cancelled_ && ec != asio::error::operation_aborted) {
        log_debug("proxy", std::string("relaying the upstream's answer failed: ") + ec.message());
      }
      finish_exchange(ProxyOutcome::cut_off, [] {});
    } else if (parser_->is_done()) {
      finish_exchange(ProxyOutcome::answered, [] {});
    }
    if (on_piece) on_piece(ec, asio::const_buffer(piece_.data(), ec ? 0 : got), !ec && parser_->is_done());
  }

  void fail(error_code ec, std::string_view step) {
    if (ec == beast::error::timeout) {
      return answer_failure(
          504, error_json("the upstream API did not answer within proxy.timeout_ms", "gateway_timeout"),
          ProxyOutcome::gateway_timeout);
    }
    if (ec == http::error::body_limit) {
      return answer_failure(
          502,
          error_json("the upstream answer is larger than proxy.max_response_bytes", "response_too_large"),
          ProxyOutcome::bad_gateway);
    }
    // Only the step and the error: never the request, whose headers carry the caller's key.
    log_debug("proxy", std::string(step) + " failed: " + ec.message());
    answer_failure(
        502,
        error_json("the upstream API could not be reached (" + std::string(step) + " failed)", "bad_gateway"),
        ProxyOutcome::bad_gateway);
  }

  void answer_failure(unsigned status, std::string body, ProxyOutcome outcome) {
    HttpResponse response = make_response(head_, status, std::move(body));
    proxy_->counters.count_http_response(response.result_int());
    finish_exchange(outcome, [&] { responder_.respond(std::move(response)); });
  }

  // Counts the exchange once, releases the upstream connection, then lets `answer` run.
  template <class Answer>
  void finish_exchange(ProxyOutcome outcome, Answer&& answer) {
    if (!finished_) {
      finished_ = true;
      proxy_->counters.count_proxy(route_, outcome);
      close_upstream();
    }
    answer();
  }

  void close_upstream() noexcept {
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  std::shared_ptr<ApiProxy::Impl> proxy_;
  Stream stream_;
  tcp::resolver resolver_;
  std::size_t route_;
  HttpResponder responder_;
  HttpRequest head_;  // the caller's version and keep-alive
  bool head_request_ = false;
  http::request<http::string_body> upstream_request_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::vector<char> piece_;  // the body bytes handed to the client's connection
  OnPiece on_piece_;
  bool cancelled_ = false;
  bool finished_ = false;
};

}  // namespace

ApiProxy::ApiProxy(ProxySettings settings, IngestCounters& counters)
    : impl_(std::make_shared<Impl>(std::move(settings), counters)) {}

ApiProxy::~ApiProxy() = default;

void ApiProxy::forward(HttpRequest request, const HttpResponder& responder) {
  if (impl_->tls) {
    using Stream = beast::ssl_stream<beast::tcp_stream>;
    auto call = std::make_shared<ProxyCall<Stream>>(
        impl_, Stream(beast::tcp_stream(responder.executor), *impl_->tls), std::move(request), responder);
    call->start();
  } else {
    auto call = std::make_shared<ProxyCall<beast::tcp_stream>>(impl_, beast::tcp_stream(responder.executor),
                                                               std::move(request), responder);
    call->start();
  }
}

}  // namespace spanline::agent
