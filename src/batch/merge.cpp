#include "batch/merge.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <string_view>
#include <vector>

namespace spanline::detail {
namespace {

namespace json = boost::json;

using Path = std::vector<std::string_view>;

// Top-level fields that describe where a row sits in a trace. A later merge row
// must not move an existing row, so earlier's values win (as in the official SDKs).
constexpr std::string_view kKeepEarlier[] = {"created", "span_id", "root_span_id", "span_parents"};

bool keeps_earlier(std::string_view key) {
  return std::find(std::begin(kKeepEarlier), std::end(kKeepEarlier), key) != std::end(kKeepEarlier);
}

bool flag(const json::object& row, std::string_view key) {
  const auto* v = row.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

// `_merge_paths` is an array of arrays of keys; anything malformed in it is ignored
// rather than failing the whole row.
std::vector<Path> read_merge_paths(const json::object& row) {
  std::vector<Path> paths;
  const auto* v = row.if_contains("_merge_paths");
  if (v == nullptr || !v->is_array()) return paths;
  for (const auto& entry : v->get_array()) {
    if (!entry.is_array()) continue;
    Path path;
    bool valid = !entry.get_array().empty();
    for (const auto& key : entry.get_array()) {
      if (!key.is_string()) {
        valid = false;
        break;
      }
      path.emplace_back(key.get_string().data(), key.get_string().size());
    }
    if (valid) paths.push_back(std::move(path));
  }
  return paths;
}

bool listed(const std::vector<Path>& paths, const Path& path) {
  return std::find(paths.begin(), paths.end(), path) != paths.end();
}

// Deep merge where a path listed in `replace_paths` is replaced instead of merged.
// `path` holds the keys from the row's root down to `target`.
void merge_at(json::object& target, const json::object& patch, Path& path,
              const std::vector<Path>& replace_paths) {
  for (const auto& [key, patch_value] : patch) {
    path.emplace_back(key.data(), key.size());
    auto* existing = target.if_contains(key);
    if (existing != nullptr && existing->is_object() && patch_value.is_object() &&
        !(!replace_paths.empty() && listed(replace_paths, path))) {
      merge_at(existing->get_object(), patch_value.get_object(), path, replace_paths);
    } else {
      target[key] = patch_value;
    }
    path.pop_back();
  }
}

// Appends the strings of `later` that `earlier` does not hold yet, in later's order.
void union_tags(json::array& earlier, const json::array& later) {
  for (const auto& tag : later) {
    if (std::find(earlier.begin(), earlier.end(), tag) == earlier.end()) earlier.push_back(tag);
  }
}

// The combined row carries both rows' `_merge_paths` so the server, applying it to
// what it stores, replaces the same paths the two rows would have replaced in turn.
void union_merge_paths(json::object& earlier, const json::value& later_paths) {
  if (!later_paths.is_array()) return;
  auto& slot = earlier["_merge_paths"];
  if (!slot.is_array()) slot = json::array();
  union_tags(slot.get_array(), later_paths.get_array());
}

void merge_rows(json::object& earlier, const json::object& later) {
  const std::vector<Path> replace_paths = read_merge_paths(later);
  const bool earlier_is_merge = is_merge_row(earlier);
  Path path;
  path.reserve(8);
  for (const auto& [key, later_value] : later) {
    const std::string_view name(key.data(), key.size());
    if (name == "_is_merge") continue;  // a replace stays a replace
    if (name == "_merge_paths") {
      // Only meaningful on a merge row; on a replace row every path is replaced anyway.
      if (earlier_is_merge) union_merge_paths(earlier, later_value);
      continue;
    }
    auto* existing = earlier.if_contains(key);
    if (existing == nullptr) {
      earlier.emplace(key, later_value);
      continue;
    }
    if (keeps_earlier(name) && !existing->is_null()) continue;
    path.assign(1, name);
    if (!replace_paths.empty() && listed(replace_paths, path)) {
      *existing = later_value;
    } else if (name == "tags" && existing->is_array() && later_value.is_array()) {
      union_tags(existing->get_array(), later_value.get_array());
    } else if (existing->is_object() && later_value.is_object()) {
      merge_at(existing->get_object(), later_value.get_object(), path, replace_paths);
    } else {
      *existing = later_value;
    }
  }
}

}  // namespace

bool is_merge_row(const json::object& row) { return flag(row, "_is_merge"); }

bool is_delete_row(const json::object& row) { return flag(row, "_object_delete"); }

void deep_merge(json::object& target, const json::object& patch) {
  Path path;
  const std::vector<Path> none;
  merge_at(target, patch, path, none);
}

void combine_rows(json::object& earlier, const json::object& later) {
  if (!is_merge_row(later) || is_delete_row(later)) {
    earlier = later;
    return;
  }
  if (is_delete_row(earlier)) {
    // Delete, then merge: the server would merge into a row that no longer exists,
    // which creates it from the merge row alone. Sending the merge row as a replace
    // says exactly that, in one row.
    earlier = later;
    earlier["_is_merge"] = false;
    return;
  }
  merge_rows(earlier, later);
}

}  // namespace spanline::detail
