#include "admin.hpp"

#include "process_metrics.hpp"
#include "prometheus.hpp"

#include <boost/beast/http/verb.hpp>

namespace spanline::agent {

namespace http = boost::beast::http;

HttpHandler make_admin_handler(Logger& logger, IngestCounters& counters,
                               const DurableIngestCounters* durable) {
  return [&logger, &counters, durable](HttpRequest& request) -> HttpResponse {
    const std::string_view target = request.target().substr(0, request.target().find('?'));
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      HttpResponse response = make_response(request, 405, "method not allowed\n", "text/plain");
      response.set(http::field::allow, "GET, HEAD");
      return response;
    }
    if (target == "/metrics") {
      std::string text;
      render_prometheus(logger.stats(), counters.snapshot(),
                        durable != nullptr ? durable->snapshot() : DurableIngestSnapshot{}, text);
      render_process_metrics(read_process_snapshot(), build_info(), text);
      return make_response(request, 200, std::move(text), kPrometheusContentType);
    }
    if (target == "/healthz") return make_response(request, 200, "ok\n", "text/plain");
    if (target == "/readyz") {
      return counters.ready() ? make_response(request, 200, "ready\n", "text/plain")
                              : make_response(request, 503, "not ready\n", "text/plain");
    }
    return make_response(request, 404, "not found: /metrics, /healthz, /readyz\n", "text/plain");
  };
}

}  // namespace spanline::agent
