#pragma once
// Where the harness reads what the fake API received: the in-process FakeApi
// (--spawn-fakeapi), or GET {base}/_fake/stats over HTTP for one started elsewhere.
// A base URL that is not a fake API gives no stats: delivery is then unknown.

#include "accounting.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace spanline::fakeapi {
class FakeApi;
}

namespace spanline::load {

class StatsProbe {
 public:
  virtual ~StatsProbe() = default;
  // nullopt when the stats cannot be read right now. Thread-compatible: one caller.
  virtual std::optional<FakeStats> read() = 0;
  // How often reading is cheap enough to do (seconds).
  virtual double min_interval() const = 0;
};

std::unique_ptr<StatsProbe> make_inprocess_probe(const fakeapi::FakeApi& api);
std::unique_ptr<StatsProbe> make_http_probe(std::string base_url);

// Parses the body of GET /_fake/stats. "requests" may be a total or a map of status -> count.
std::optional<FakeStats> parse_fake_stats(std::string_view json_text);

}  // namespace spanline::load
