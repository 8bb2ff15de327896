#include "caller_cost.hpp"

#include "report.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <map>

namespace spanline::load {

namespace json = boost::json;

namespace {

// What one benchmark instance's name says: "BM_LogCallLatency/20000/iterations:1/real_time/threads:2".
struct BenchName {
  std::string family;
  long arg = -1;
  int threads = 1;
};

BenchName parse_name(std::string_view name) {
  BenchName out;
  std::size_t start = 0;
  for (bool first = true; start <= name.size(); first = false) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, end - start);
    start = end + 1;
    if (first) {
      out.family = std::string(part);
      continue;
    }
    long number = 0;
    const auto digits = std::from_chars(part.data(), part.data() + part.size(), number);
    if (digits.ec == std::errc() && digits.ptr == part.data() + part.size()) {
      if (out.arg < 0) out.arg = number;
    } else if (part.starts_with("threads:")) {
      int threads = 1;
      const std::string_view n = part.substr(8);
      if (std::from_chars(n.data(), n.data() + n.size(), threads).ec == std::errc()) out.threads = threads;
    }
  }
  return out;
}

std::optional<double> counter(const json::object& b, std::string_view key) {
  const auto* v = b.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

// The per-instance results of one output, aggregates other than the median left out.
std::vector<const json::object*> instances(const json::value* output) {
  std::vector<const json::object*> out;
  if (output == nullptr || !output->is_object()) return out;
  const auto* list = output->as_object().if_contains("benchmarks");
  if (list == nullptr || !list->is_array()) return out;
  for (const auto& bv : list->as_array()) {
    if (!bv.is_object()) continue;
    const auto& b = bv.as_object();
    if (const auto* rt = b.if_contains("run_type"); rt && rt->is_string() && rt->as_string() == "aggregate") {
      const auto* an = b.if_contains("aggregate_name");
      if (!(an && an->is_string() && an->as_string() == "median")) continue;
    }
    if (const auto* name = b.if_contains("name"); name != nullptr && name->is_string()) out.push_back(&b);
  }
  return out;
}

struct Floor {
  std::optional<double> p50_net_ns, p99_ns, first_p50_ns;
};

std::map<long, Floor> floors(const json::value* output) {
  std::map<long, Floor> out;
  for (const json::object* b : instances(output)) {
    const BenchName n = parse_name(b->at("name").as_string());
    if (n.family != "BM_LogCallFloor" || n.arg < 0 || out.contains(n.arg)) continue;
    Floor f;
    // The floor reports its median without the timer subtracted: net it like the logger's.
    if (const auto p50 = counter(*b, "rest_p50_ns"))
      f.p50_net_ns = *p50 - counter(*b, "timer_ns").value_or(0);
    f.p99_ns = counter(*b, "rest_p99_ns");
    f.first_p50_ns = counter(*b, "first_p50_ns");
    out.emplace(n.arg, f);
  }
  return out;
}

void add_rows(std::vector<CallerCost>& out, const json::value* output, const char* source,
              const std::map<long, Floor>& same, const std::map<long, Floor>& other) {
  for (const json::object* b : instances(output)) {
    const BenchName n = parse_name(b->at("name").as_string());
    if (n.family != "BM_LogCallLatency") continue;
    CallerCost c;
    c.source = source;
    c.benchmark =
        n.family + (n.arg >= 0 ? "/" + std::to_string(n.arg) : "") + "/threads:" + std::to_string(n.threads);
    c.rate = n.arg;
    c.threads = n.threads;
    c.p50_net_ns = counter(*b, "p50_net_ns");
    c.p99_ns = counter(*b, "p99_ns");
    c.first_p50_ns = counter(*b, "first_p50_ns");
    const Floor* floor = nullptr;
    if (const auto it = same.find(n.arg); it != same.end())
      floor = &it->second;
    else if (const auto again = other.find(n.arg); again != other.end())
      floor = &again->second;
    if (floor != nullptr) {
      c.floor_p50_net_ns = floor->p50_net_ns;
      c.floor_p99_ns = floor->p99_ns;
      c.floor_first_p50_ns = floor->first_p50_ns;
    }
    out.push_back(std::move(c));
  }
}

std::string ns(const std::optional<double>& v) {
  if (!v) return "–";
  return format_ns(*v <= 0 ? 0 : static_cast<std::uint64_t>(*v + 0.5));
}

}  // namespace

std::vector<CallerCost> caller_costs(const json::value* fresh, const json::value* full) {
  const auto fresh_floors = floors(fresh);
  const auto full_floors = floors(full);
  std::vector<CallerCost> out;
  add_rows(out, fresh, "fresh process", fresh_floors, full_floors);
  add_rows(out, full, "after the other benchmarks", full_floors, fresh_floors);
  return out;
}

void caller_cost_section(std::string& md, const std::vector<CallerCost>& costs) {
  md += "## Caller cost of one log() call\n\n";
  if (costs.empty()) {
    md += "_not measured in this run (no BM_LogCallLatency in micro-fresh.json or micro.json)_\n\n";
    return;
  }
  md +=
      "`BM_LogCallLatency` times each `log()` of a ~500 B row while producers offer the rate in bursts "
      "of 50 and sleep between them; `BM_LogCallFloor` times the least any row costs (one heap string "
      "of the row's size) in the same bursts. p50 is net of the timer's own cost; the first call after "
      "each idle gap (median) is the one whose caches the pipeline's threads evicted. The floor's p99 "
      "leaves out those first calls.\n\n";
  md +=
      "| benchmark | measured | p50 net | p99 | first call after idle | floor p50 net | floor p99 | "
      "floor first call |\n|---|---|---|---|---|---|---|---|\n";
  for (const CallerCost& c : costs) {
    md += "| `" + c.benchmark + "` | " + c.source + " | " + ns(c.p50_net_ns) + " | " + ns(c.p99_ns) + " | " +
          ns(c.first_p50_ns) + " | " + ns(c.floor_p50_net_ns) + " | " + ns(c.floor_p99_ns) + " | " +
          ns(c.floor_first_p50_ns) + " |\n";
  }
  md += "\n";
}

}  // namespace spanline::load
