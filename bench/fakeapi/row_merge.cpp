#include "row_merge.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace spanline::fakeapi {
namespace {

namespace json = boost::json;

// A path from the row's root, keys joined by a byte that JSON text cannot hold raw.
using JoinedPath = std::string;
constexpr char kSeparator = '\x1f';

bool true_flag(const json::object& row, std::string_view key) {
  const auto* value = row.if_contains(key);
  return value != nullptr && value->is_bool() && value->get_bool();
}

// `_merge_paths`: arrays of keys; entries that are not arrays of strings are ignored.
std::set<JoinedPath> replaced_paths(const json::object& patch) {
  std::set<JoinedPath> out;
  const auto* listed = patch.if_contains("_merge_paths");
  if (listed == nullptr || !listed->is_array()) return out;
  for (const auto& entry : listed->get_array()) {
    const auto* keys = entry.if_array();
    if (keys == nullptr || keys->empty()) continue;
    JoinedPath joined;
    bool strings_only = true;
    for (const auto& key : *keys) {
      if (!key.is_string()) {
        strings_only = false;
        break;
      }
      if (!joined.empty()) joined += kSeparator;
      joined.append(key.get_string().data(), key.get_string().size());
    }
    if (strings_only) out.insert(std::move(joined));
  }
  return out;
}

bool is_control(std::string_view key) {
  return key == "_is_merge" || key == "_merge_paths" || key == "_object_delete" || key == "_array_delete" ||
         key == "_parent_id";
}

bool stays_as_first_stored(std::string_view key) {
  return key == "created" || key == "span_id" || key == "root_span_id" || key == "span_parents";
}

void merge_value(json::value& slot, const json::value& incoming, const JoinedPath& path,
                 const std::set<JoinedPath>& replaced) {
  if (!slot.is_object() || !incoming.is_object() || replaced.count(path) != 0) {
    slot = incoming;
    return;
  }
  json::object& into = slot.get_object();
  for (const auto& member : incoming.get_object()) {
    JoinedPath child = path;
    child += kSeparator;
    child.append(member.key().data(), member.key().size());
    auto found = into.find(member.key());
    if (found == into.end()) {
      into.emplace(member.key(), member.value());
    } else {
      merge_value(found->value(), member.value(), child, replaced);
    }
  }
}

}  // namespace

bool asks_merge(const json::object& event) { return true_flag(event, "_is_merge"); }
bool asks_delete(const json::object& event) { return true_flag(event, "_object_delete"); }

void apply_merge(json::object& stored, const json::object& patch) {
  const std::set<JoinedPath> replaced = replaced_paths(patch);
  for (const auto& member : patch) {
    const std::string_view key(member.key().data(), member.key().size());
    if (is_control(key)) continue;
    auto found = stored.find(member.key());
    if (found == stored.end()) {
      stored.emplace(member.key(), member.value());
      continue;
    }
    json::value& slot = found->value();
    if (stays_as_first_stored(key) && !slot.is_null()) continue;
    const JoinedPath path(key);
    if (key == "tags" && slot.is_array() && member.value().is_array() && replaced.count(path) == 0) {
      json::array& tags = slot.get_array();
      for (const auto& tag : member.value().get_array()) {
        if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
      }
      continue;
    }
    merge_value(slot, member.value(), path, replaced);
  }
}

void merge_objects(json::object& target, const json::object& patch) {
  json::value slot(std::move(target));
  merge_value(slot, json::value(patch), JoinedPath(), {});
  target = std::move(slot.get_object());
}

}  // namespace spanline::fakeapi
