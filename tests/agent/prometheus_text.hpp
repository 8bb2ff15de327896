#pragma once
// A strict little reader of the Prometheus text exposition format, for tests: it checks
// metric and label names, label value escapes, HELP/TYPE before samples, one TYPE per
// family, and that histogram buckets are cumulative and end with +Inf == _count.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromText {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
  std::vector<std::string> errors;

  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
  // Sum over every sample of `name` whose labels include `subset`.
  double sum(const std::string& name, const std::map<std::string, std::string>& subset = {}) const {
    double total = 0;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool match = std::all_of(subset.begin(), subset.end(), [&](const auto& kv) {
        auto it = s.labels.find(kv.first);
        return it != s.labels.end() && it->second == kv.second;
      });
      if (match) total += s.value;
    }
    return total;
  }
};

inline std::optional<double> parse_prom_value(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

inline PromText parse_prometheus(std::string_view text) {
  static const std::regex metric_name("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");
  static const std::set<std::string> known_types{"counter", "gauge", "histogram", "summary", "untyped"};
  PromText out;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  auto error = [&](const std::string& what) {
    out.errors.push_back("line " + std::to_string(number) + ": " + what + ": " + line);
  };
  if (!text.empty() && text.back() != '\n') out.errors.push_back("exposition must end with a newline");
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (keyword != "HELP" && keyword != "TYPE") continue;  // other comments are allowed
      if (!std::regex_match(name, metric_name)) error("bad metric name in " + keyword);
      std::string rest;
      std::getline(words, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (keyword == "TYPE") {
        if (!known_types.count(rest)) error("unknown type");
        if (out.types.count(name)) error("second TYPE for " + name);
        if (std::any_of(out.samples.begin(), out.samples.end(), [&](const PromSample& s) {
              return s.name.rfind(name, 0) == 0 && (s.name == name || s.name == name + "_bucket" ||
                                                    s.name == name + "_sum" || s.name == name + "_count");
            })) {
          error("TYPE after samples of " + name);
        }
        out.types[name] = rest;
      } else {
        if (out.helps.count(name)) error("second HELP for " + name);
        if (rest.empty()) error("empty HELP");
        out.helps[name] = rest;
      }
      continue;
    }
    PromSample sample;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    sample.name = line.substr(0, i);
    if (!std::regex_match(sample.name, metric_name)) {
      error("bad metric name");
      continue;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool ok = true;
      while (ok && i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          ok = false;
          break;
        }
        const std::string key = line.substr(i, eq - i);
        if (!std::regex_match(key, label_name)) {
          error("bad label name '" + key + "'");
          ok = false;
          break;
        }
        if (eq + 1 >= line.size() || line[eq + 1] != '"') {
          ok = false;
          break;
        }
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) {
              ok = false;
              break;
            }
            const char e = line[++j];
            if (e == 'n')
              value += '\n';
            else if (e == '\\' || e == '"')
              value += e;
            else {
              error("bad escape in label value");
              ok = false;
              break;
            }
          } else {
            value += line[j];
          }
        }
        if (!ok || j >= line.size()) {
          ok = false;
          break;
        }
        if (sample.labels.count(key)) error("duplicate label " + key);
        sample.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size() || line[i] != '}') {
        error("bad label set");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      error("missing value");
      continue;
    }
    std::string rest = line.substr(i + 1);
    const std::size_t space = rest.find(' ');  // optional timestamp
    const auto value = parse_prom_value(rest.substr(0, space));
    if (!value) {
      error("bad value");
      continue;
    }
    sample.value = *value;
    // Family: the histogram base name for _bucket/_sum/_count samples.
    std::string family = sample.name;
    for (std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (family.size() > suffix.size() && family.ends_with(suffix)) {
        const std::string base = family.substr(0, family.size() - suffix.size());
        if (out.types.count(base) && out.types[base] == "histogram") family = base;
      }
    }
    if (!out.types.count(family)) error("sample without TYPE");
    if (!out.helps.count(family)) error("sample without HELP");
    if (out.types.count(family) && out.types[family] == "counter" && sample.value < 0)
      error("negative counter");
    out.samples.push_back(std::move(sample));
  }
  // Histograms: per label set (minus le), buckets sorted by le, cumulative, +Inf == _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> series;
    for (const auto& s : out.samples) {
      if (s.name != family + "_bucket") continue;
      auto labels = s.labels;
      auto le = labels.find("le");
      if (le == labels.end()) {
        out.errors.push_back(family + ": bucket without le");
        continue;
      }
      const auto bound = parse_prom_value(le->second);
      if (!bound) {
        out.errors.push_back(family + ": bad le");
        continue;
      }
      labels.erase(le);
      series[labels].emplace_back(*bound, s.value);
    }
    if (series.empty()) out.errors.push_back(family + ": histogram without buckets");
    for (const auto& [labels, buckets] : series) {
      for (std::size_t k = 1; k < buckets.size(); ++k) {
        if (!(buckets[k].first > buckets[k - 1].first)) out.errors.push_back(family + ": le not increasing");
        if (buckets[k].second < buckets[k - 1].second)
          out.errors.push_back(family + ": buckets not cumulative");
      }
      if (buckets.empty() || !std::isinf(buckets.back().first)) {
        out.errors.push_back(family + ": no +Inf bucket");
        continue;
      }
      const auto count = out.value(family + "_count", labels);
      if (!count || *count != buckets.back().second) out.errors.push_back(family + ": +Inf bucket != _count");
      if (!out.value(family + "_sum", labels)) out.errors.push_back(family + ": no _sum");
    }
  }
  return out;
}

}  // namespace spanline::testing
