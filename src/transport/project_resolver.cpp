#include "transport/project_resolver.hpp"

#include "accounting/accounting.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "metrics/counters.hpp"
#include "transport/answer_text.hpp"
#include "transport/retry_policy.hpp"
#include "transport/sender_context.hpp"
#include "transport/upstream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <optional>

namespace spanline::detail {

namespace {

constexpr std::string_view kProjectPath = "/v1/project";

// The id from a POST /v1/project answer, if it is safe to put into a URL path.
std::optional<std::string> project_id(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  const auto* id = value.as_object().if_contains("id");
  if (id == nullptr || !id->is_string()) return std::nullopt;
  std::string text(id->as_string());
  // It goes into a URL path: refuse what would change the path's meaning.
  if (text.empty() || text.size() > 512) return std::nullopt;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x21 || std::string_view("/?#%").find(c) != std::string_view::npos)
      return std::nullopt;
  }
  return text;
}

}  // namespace

ProjectResolver::ProjectResolver(const SenderContext& context, Upstream& upstream,
                                 std::function<void(Jobs)> on_resolved, std::function<void()> on_settled)
    : context_(context),
      upstream_(upstream),
      on_resolved_(std::move(on_resolved)),
      on_settled_(std::move(on_settled)) {}

ProjectResolver::~ProjectResolver() = default;

void ProjectResolver::park(Job job) {
  const std::uint32_t destination = job.batch.destination;
  resolutions_[destination].parked.push_back(std::move(job));
  resolve_soon(destination);
}

void ProjectResolver::resolve_soon(std::uint32_t destination) {
  Resolution& resolution = resolutions_[destination];
  if (resolution.running) return;
  resolution.running = true;
  resolve(destination);
}

bool ProjectResolver::has_parked() const noexcept {
  for (const auto& [destination, resolution] : resolutions_) {
    if (!resolution.parked.empty()) return true;
  }
  return false;
}

void ProjectResolver::stop(const std::function<void(Batch&)>& drop) noexcept {
  stopped_ = true;
  for (auto& [destination, resolution] : resolutions_) {
    if (resolution.timer) resolution.timer->cancel();
    for (auto& job : resolution.parked) drop(job.batch);
    resolution.parked.clear();
  }
}

void ProjectResolver::settle_parked(Resolution& resolution, const std::function<void(Batch&)>& settle) {
  for (auto& job : resolution.parked) settle(job.batch);
  resolution.parked.clear();
  resolution.running = false;
}

void ProjectResolver::resolve(std::uint32_t destination) {
  if (stopped_) return;
  Resolution& resolution = resolutions_[destination];
  const auto now = std::chrono::steady_clock::now();
  if (const auto paused_until = upstream_.paused_until(); now < paused_until) {
    return resolve_later(destination, std::chrono::ceil<std::chrono::milliseconds>(paused_until - now));
  }
  Destination target;
  try {
    target = context_.destinations.get(destination);
  } catch (const std::exception&) {
  }
  if (target.project_name.empty()) {
    // Nothing to resolve it by: the table gave neither an id nor a name.
    settle_parked(resolution, [&](Batch& batch) { context_.accounting.rejected(batch); });
    context_.errors.report("sender", "unknown-destination",
                           "destination " + std::to_string(destination) + " has no id and no project name");
    return;
  }
  boost::json::object body;
  body["name"] = target.project_name;
  if (!context_.options.org_name.empty()) body["org_name"] = context_.options.org_name;
  upstream_.request(HttpRequest::Method::post, kProjectPath, boost::json::serialize(body),
                    [self = self(), destination](HttpResult result) {
                      self->on_project_answer(destination, std::move(result));
                    });
}

void ProjectResolver::resolve_later(std::uint32_t destination, std::chrono::milliseconds delay) {
  Resolution& resolution = resolutions_[destination];
  if (!resolution.timer) resolution.timer = std::make_unique<boost::asio::steady_timer>(context_.io);
  resolution.timer->expires_after(delay);
  resolution.timer->async_wait([self = self(), destination](boost::system::error_code ec) {
    if (!ec) self->resolve(destination);
  });
}

void ProjectResolver::on_project_answer(std::uint32_t destination, HttpResult result) {
  if (stopped_) return;
  Resolution& resolution = resolutions_[destination];
  const int status = result.ec ? 0 : result.status;
  context_.counters.count_request(status);
  std::string name;
  try {
    name = context_.destinations.get(destination).project_name;
  } catch (const std::exception&) {
  }
  const std::string what = "POST " + context_.url.target(kProjectPath) + " for project \"" + name + "\"";
  const std::string& key = context_.options.api_key;

  // One lookup is one request about one thing: a 413 or 400 cannot be split away.
  RetryDecision decision = result.ec ? RetryDecision::retry_backoff : decide(status, 1, result.body);
  if (decision == RetryDecision::success) {
    if (auto id = project_id(result.body)) {
      context_.destinations.set_resolved_id(destination, std::move(*id));
      resolution.running = false;
      resolution.retries = 0;
      Jobs parked = std::move(resolution.parked);
      resolution.parked.clear();
      on_resolved_(std::move(parked));
      return;
    }
    context_.errors.report("sender", "project-answer",
                           what + " answered without a project id: " + snippet(result.body, key));
    decision = RetryDecision::retry_backoff;
  }

  if (decision == RetryDecision::retry_after_pause || decision == RetryDecision::retry_backoff) {
    const auto max_attempts = context_.options.max_retry_attempts;
    if (max_attempts != 0 && resolution.retries >= max_attempts) {
      context_.errors.report(
          "sender", "retries-exhausted",
          "gave up resolving project \"" + name + "\" (last: " + describe_failure(status, result) + ")",
          status);
      settle_parked(resolution,
                    [&](Batch& batch) { context_.accounting.dropped(batch, DropReason::retries_exhausted); });
      on_settled_();
      return;
    }
    std::chrono::milliseconds delay = upstream_.backoff(resolution.retries);
    if (decision == RetryDecision::retry_after_pause) {
      delay = parse_retry_after(result.retry_after, std::chrono::system_clock::now()).value_or(delay);
      upstream_.pause_host(delay);
    } else if (result.ec) {
      context_.errors.report(
          "sender", "transport-" + std::string(result.step),
          what + ": " + std::string(result.step) + " failed: " + result.ec.message() + " (will retry)");
    } else {
      context_.errors.report(
          "sender", "http-" + std::to_string(status),
          what + " answered HTTP " + std::to_string(status) + " (will retry): " + snippet(result.body, key),
          status);
    }
    ++resolution.retries;
    context_.counters.retries.fetch_add(1, std::memory_order_relaxed);
    resolve_later(destination, delay);
    return;
  }

  // Refused for good (401, 403, 404, 422...): the parked rows cannot go anywhere.
  context_.errors.report("sender", "http-" + std::to_string(status),
                         what + " answered HTTP " + std::to_string(status) + "; " +
                             std::to_string(resolution.parked.size()) +
                             " batches rejected: " + snippet(result.body, key),
                         status);
  settle_parked(resolution, [&](Batch& batch) { context_.accounting.rejected(batch); });
  resolution.retries = 0;
  on_settled_();
}

}  // namespace spanline::detail
