#include "probe.hpp"

#include "http_client.hpp"

#include <fake_api.hpp>

#include <boost/json.hpp>

#include <cstdlib>

namespace spanline::load {

namespace json = boost::json;

namespace {

std::uint64_t number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return v->as_int64() > 0 ? static_cast<std::uint64_t>(v->as_int64()) : 0;
  if (v->is_double()) return v->as_double() > 0 ? static_cast<std::uint64_t>(v->as_double()) : 0;
  return 0;
}

class InprocessProbe final : public StatsProbe {
 public:
  explicit InprocessProbe(const fakeapi::FakeApi& api) : api_(api) {}
  std::optional<FakeStats> read() override {
    const fakeapi::StatsSnapshot s = api_.stats();
    FakeStats f;
    for (const auto& [status, count] : s.requests) {
      if (status >= 200 && status < 300) f.requests += count;
      if (status == 429) f.status_429 += count;
      if (status >= 500 && status < 600) f.status_5xx += count;
    }
    f.requests_total = s.requests_total;
    f.rows_received = s.rows_received;
    f.unique_rows = s.unique_rows;
    f.duplicate_rows = s.duplicate_rows;
    f.bytes_received = s.bytes_received;
    f.bytes_decoded = s.bytes_decoded;
    f.inserts = s.inserts;
    return f;
  }
  double min_interval() const override { return 0.02; }

 private:
  const fakeapi::FakeApi& api_;
};

class HttpProbe final : public StatsProbe {
 public:
  explicit HttpProbe(std::string base_url) : client_(parse_http_url(base_url)) {}
  std::optional<FakeStats> read() override {
    const HttpResponse res = client_.request("GET", "/_fake/stats", {}, std::chrono::seconds(5));
    if (res.status != 200) return std::nullopt;
    return parse_fake_stats(res.body);
  }
  double min_interval() const override { return 0.1; }

 private:
  HttpClient client_;
};

}  // namespace

std::optional<FakeStats> parse_fake_stats(std::string_view json_text) {
  boost::system::error_code ec;
  json::value v = json::parse(json_text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  if (!o.contains("unique_rows")) return std::nullopt;
  FakeStats f;
  if (const auto* r = o.if_contains("requests"); r != nullptr && r->is_object()) {
    for (const auto& [key, count] : r->as_object()) {
      const int status = std::atoi(std::string(key).c_str());
      const std::uint64_t n = count.is_uint64() ? count.as_uint64()
                              : count.is_int64() && count.as_int64() > 0
                                  ? static_cast<std::uint64_t>(count.as_int64())
                                  : 0;
      if (status >= 200 && status < 300) f.requests += n;
      if (status == 429) f.status_429 += n;
      if (status >= 500 && status < 600) f.status_5xx += n;
    }
  } else {
    f.requests = number(o, "requests");
  }
  f.requests_total = number(o, "requests_total");
  f.rows_received = number(o, "rows_received");
  f.unique_rows = number(o, "unique_rows");
  f.duplicate_rows = number(o, "duplicate_rows");
  f.bytes_received = number(o, "bytes_received");
  f.bytes_decoded = number(o, "bytes_decoded");
  f.inserts = number(o, "inserts");
  return f;
}

std::unique_ptr<StatsProbe> make_inprocess_probe(const fakeapi::FakeApi& api) {
  return std::make_unique<InprocessProbe>(api);
}

std::unique_ptr<StatsProbe> make_http_probe(std::string base_url) {
  return std::make_unique<HttpProbe>(std::move(base_url));
}

}  // namespace spanline::load
