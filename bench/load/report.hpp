#pragma once
// Rendering of a RunResult: the human-readable final report, the --json object,
// and reading that JSON back (bench/run feeds the results of every scenario to
// --render-report).

#include "result.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace spanline::load {

std::string render_text(const RunResult& result);

boost::json::object to_json(const RunResult& result);
std::string to_json_text(const RunResult& result);
// Throws std::invalid_argument when `json` is not an object as written by to_json.
RunResult result_from_json(const boost::json::value& json);

// "1.23 ms", "850 ns", "2.1 s"
std::string format_ns(std::uint64_t ns);
// "12.3 MiB", "900 B"
std::string format_bytes(double bytes);
// "12.3k", "1.20M"
std::string format_count(double count);
// "queue_full: 120, invalid_not_json: 3" (in key order); "" when empty.
std::string describe_drops(const std::map<std::string, std::uint64_t>& by_reason);

}  // namespace spanline::load
