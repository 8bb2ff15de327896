#include "sidecar_metrics.hpp"

#include "http_client.hpp"

#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>

namespace spanline::load {

namespace {

constexpr std::string_view kDropped = "spanline_rows_dropped_total";
constexpr std::string_view kRejected = "spanline_rows_rejected_total";
constexpr std::string_view kInvalid = "spanline_ingest_invalid_total";
constexpr std::string_view kPending = "spanline_pending_rows";

bool name_char(char c, bool first) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  return alpha || (!first && c >= '0' && c <= '9');
}

// `{key="value",...}` starting at text[i] == '{'; leaves i after the '}'.
bool parse_labels(std::string_view text, std::size_t& i, std::map<std::string, std::string>& out) {
  ++i;
  while (i < text.size() && text[i] != '}') {
    const std::size_t eq = text.find('=', i);
    if (eq == std::string_view::npos || eq == i || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    std::string key(text.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] != '\\') {
        value += text[j];
        continue;
      }
      if (++j >= text.size()) return false;
      if (text[j] == 'n')
        value += '\n';
      else if (text[j] == '\\' || text[j] == '"')
        value += text[j];
      else
        return false;
    }
    if (j >= text.size()) return false;  // unterminated value
    out[std::move(key)] = std::move(value);
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  if (i >= text.size()) return false;
  ++i;
  return true;
}

std::optional<double> parse_value(std::string_view text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<MetricSample> parse_sample(std::string_view line) {
  MetricSample s;
  std::size_t i = 0;
  while (i < line.size() && name_char(line[i], i == 0)) ++i;
  if (i == 0) return std::nullopt;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{' && !parse_labels(line, i, s.labels)) return std::nullopt;
  if (i >= line.size() || line[i] != ' ') return std::nullopt;
  std::string_view rest = line.substr(i + 1);
  rest = rest.substr(0, rest.find(' '));  // an optional timestamp follows
  const auto value = parse_value(rest);
  if (!value) return std::nullopt;
  s.value = *value;
  return s;
}

// Counters are whole numbers of rows; anything else (negative, NaN) counts as none.
std::uint64_t as_count(double value) {
  return value >= 0 && std::isfinite(value) ? static_cast<std::uint64_t>(std::llround(value)) : 0;
}

std::string label(const MetricSample& s, const std::string& key) {
  const auto it = s.labels.find(key);
  return it == s.labels.end() ? std::string() : it->second;
}

}  // namespace

std::optional<std::vector<MetricSample>> parse_metrics_text(std::string_view text) {
  std::vector<MetricSample> out;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto sample = parse_sample(line);
    if (!sample) return std::nullopt;
    out.push_back(std::move(*sample));
  }
  return out;
}

std::uint64_t SidecarDrops::total() const {
  std::uint64_t sum = 0;
  for (const auto& [reason, rows] : by_reason) sum += rows;
  return sum;
}

std::optional<SidecarCounts> sidecar_counts(const std::vector<MetricSample>& samples) {
  SidecarCounts out;
  bool seen = false;
  for (const MetricSample& s : samples) {
    std::string reason;
    if (s.name == kPending) {
      out.pending_rows = as_count(s.value);
      continue;
    }
    if (s.name == kDropped) {
      reason = label(s, "reason");
      if (reason.empty()) reason = "unknown";
    } else if (s.name == kRejected) {
      reason = "rejected";
    } else if (s.name == kInvalid) {
      reason = "invalid_" + label(s, "reason");
    } else {
      continue;
    }
    seen = true;
    if (const std::uint64_t rows = as_count(s.value); rows > 0) out.drops.by_reason[reason] += rows;
  }
  if (!seen) return std::nullopt;
  return out;
}

SidecarDrops delta(const SidecarDrops& after, const SidecarDrops& before) {
  SidecarDrops d;
  for (const auto& [reason, rows] : after.by_reason) {
    const auto it = before.by_reason.find(reason);
    const std::uint64_t earlier = it == before.by_reason.end() ? 0 : it->second;
    if (rows > earlier) d.by_reason[reason] = rows - earlier;
  }
  return d;
}

std::uint64_t drops_unknown_to_client(const SidecarDrops& drops, bool client_counts_refusals) {
  if (!client_counts_refusals) return drops.total();
  // What the HTTP listener refuses while reading a request, and so answers with an error.
  static const std::set<std::string, std::less<>> answered{"queue_full", "too_large", "shutdown", "invalid"};
  std::uint64_t news = 0;
  for (const auto& [reason, rows] : drops.by_reason) {
    if (answered.contains(reason) || reason.starts_with("invalid_")) continue;
    news += rows;
  }
  return news;
}

struct SidecarScraper::Impl {
  explicit Impl(HttpEndpoint endpoint) : client(std::move(endpoint)) {}
  HttpClient client;
};

SidecarScraper::SidecarScraper(const std::string& admin_address) {
  const std::size_t colon = admin_address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == admin_address.size())
    throw std::invalid_argument("the sidecar's admin address must be host:port, got '" + admin_address + "'");
  impl_ = std::make_unique<Impl>(HttpEndpoint{
      .host = admin_address.substr(0, colon), .port = admin_address.substr(colon + 1), .path_prefix = {}});
}

SidecarScraper::~SidecarScraper() = default;

std::optional<SidecarCounts> SidecarScraper::read() {
  const HttpResponse res = impl_->client.request("GET", "/metrics", {}, std::chrono::seconds(5));
  if (res.status != 200) return std::nullopt;
  const auto samples = parse_metrics_text(res.body);
  if (!samples) return std::nullopt;
  return sidecar_counts(*samples);
}

}  // namespace spanline::load
