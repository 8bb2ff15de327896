#include "store.hpp"

#include "row_merge.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

namespace spanline::fakeapi::detail {
namespace json = boost::json;

// ---- ids, times, hashes -----------------------------------------------------

std::string make_uuid_v4() {
  // One generator per thread: no lock on the hot path, and seeded from the OS so
  // two servers never hand out the same ids.
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }()};
  std::uint64_t hi = generator(), lo = generator();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xffff), static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return std::string(text, 36);
}

std::string iso8601_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

namespace {

// FNV-1a over the bytes, then a splitmix64 finalizer to spread FNV's weak low bits.
std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) {
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

RowKeyHasher::RowKeyHasher(std::string_view kind, std::string_view object_id) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  hash = fnv1a(hash, kind);
  hash = fnv1a(hash, std::string_view("\0", 1));
  hash = fnv1a(hash, object_id);
  prefix_state_ = fnv1a(hash, std::string_view("\0", 1));
}

std::uint64_t RowKeyHasher::operator()(std::string_view row_id) const {
  const std::uint64_t key = mix(fnv1a(prefix_state_, row_id));
  return key == 0 ? 1 : key;  // 0 marks an empty slot
}

std::uint64_t row_key_hash(std::string_view kind, std::string_view object_id, std::string_view row_id) {
  return RowKeyHasher(kind, object_id)(row_id);
}

// ---- HashSet -----------------------------------------------------------------

bool HashSet::insert(std::uint64_t key) {
  if (key == 0) key = 1;
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = static_cast<std::size_t>(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i] == key) return false;
    if (slots_[i] == 0) {
      slots_[i] = key;
      ++size_;
      return true;
    }
  }
}

std::size_t HashSet::insert_all(std::span<const std::uint64_t> keys) {
  reserve(size_ + keys.size());  // no growth below, so the fetched-ahead slots stay valid
  // Far enough ahead to cover a memory access, near enough to stay in cache.
  constexpr std::size_t kAhead = 8;
  const std::size_t mask = slots_.size() - 1;
  auto slot_of = [mask](std::uint64_t key) { return static_cast<std::size_t>(key == 0 ? 1 : key) & mask; };
  for (std::size_t i = 0; i < keys.size() && i < kAhead; ++i) __builtin_prefetch(&slots_[slot_of(keys[i])]);
  const std::size_t before = size_;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i + kAhead < keys.size()) __builtin_prefetch(&slots_[slot_of(keys[i + kAhead])]);
    insert(keys[i]);
  }
  return size_ - before;
}

void HashSet::reserve(std::size_t keys) {
  while (keys * 2 > slots_.size()) grow();
}

void HashSet::grow() {
  std::vector<std::uint64_t> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, 0);
  const std::size_t mask = slots_.size() - 1;
  for (const std::uint64_t key : old) {
    if (key == 0) continue;
    std::size_t i = static_cast<std::size_t>(key) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = key;
  }
}

void HashSet::clear() {
  slots_.clear();
  slots_.shrink_to_fit();
  size_ = 0;
}

// ---- control fields -----------------------------------------------------------

namespace {
constexpr std::array<std::string_view, 5> kControlFields = {
    "_is_merge", "_merge_paths", "_array_delete", "_object_delete", "_parent_id"};
}  // namespace

bool is_control_field(std::string_view key) {
  return std::find(kControlFields.begin(), kControlFields.end(), key) != kControlFields.end();
}

void strip_control_fields(json::object& row) {
  for (const auto key : kControlFields) row.erase(key);
}

// ---- RowStore -------------------------------------------------------------------

std::string RowStore::object_key(std::string_view kind, std::string_view object_id) {
  std::string key;
  key.reserve(kind.size() + 1 + object_id.size());
  key.append(kind).push_back('/');
  key.append(object_id);
  return key;
}

bool RowStore::note_id(ObjectRows& object, std::string_view kind, std::string_view object_id,
                       std::string_view row_id) {
  if (!seen_.insert(row_key_hash(kind, object_id, row_id))) return false;
  ++object.distinct_ids;
  return true;
}

namespace {

enum class RowOp { replace, merge, erase };

struct PreparedRow {
  std::string id;
  RowOp op = RowOp::replace;
  std::string text;                  // replace: the stored text, ready outside the lock
  json::object* event = nullptr;     // merge: combined under the lock
};

json::object parse_row(const std::string& text) {
  return json::parse(text).as_object();
}

}  // namespace

InsertCounts RowStore::apply(std::string_view kind, std::string_view object_id,
                             json::array& events) {
  // Everything that does not depend on what is stored happens before the lock.
  std::vector<PreparedRow> prepared(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    json::object& event = events[i].as_object();
    PreparedRow& row = prepared[i];
    const json::string& id = event.at("id").as_string();
    row.id.assign(id.data(), id.size());
    if (mode_ != StoreMode::full) continue;
    if (asks_delete(event)) {
      row.op = RowOp::erase;
    } else if (asks_merge(event)) {
      row.op = RowOp::merge;
      row.event = &event;
    } else {
      strip_control_fields(event);
      row.text = json::serialize(event);
    }
  }

  InsertCounts counts;
  std::lock_guard lock(mutex_);
  ObjectRows& object = objects_[object_key(kind, object_id)];
  for (PreparedRow& row : prepared) {
    ++counts.rows;
    if (note_id(object, kind, object_id, row.id)) {
      ++counts.unique;
    } else {
      ++counts.duplicates;
    }
    if (mode_ != StoreMode::full) continue;
    switch (row.op) {
      case RowOp::erase:
        object.rows.erase(row.id);
        break;
      case RowOp::merge: {
        auto found = object.rows.find(row.id);
        if (found != object.rows.end()) {
          json::object combined = parse_row(found->second.text);
          apply_merge(combined, *row.event);
          strip_control_fields(combined);
          found->second.text = json::serialize(combined);
          found->second.seq = ++next_seq_;
        } else {
          // A merge into nothing creates the row from the merge row alone.
          strip_control_fields(*row.event);
          object.rows.emplace(std::move(row.id), StoredRow{json::serialize(*row.event), ++next_seq_});
        }
        break;
      }
      case RowOp::replace:
        object.rows.insert_or_assign(std::move(row.id), StoredRow{std::move(row.text), ++next_seq_});
        break;
    }
  }
  return counts;
}

InsertCounts RowStore::count_ids(std::string_view kind, std::string_view object_id,
                                 const std::vector<std::string_view>& ids) {
  // Hashing needs nothing stored, so it happens before the lock.
  const RowKeyHasher hasher(kind, object_id);
  std::vector<std::uint64_t> keys;
  keys.reserve(ids.size());
  for (const auto id : ids) keys.push_back(hasher(id));

  InsertCounts counts;
  counts.rows = ids.size();
  std::lock_guard lock(mutex_);
  ObjectRows& object = objects_[object_key(kind, object_id)];
  counts.unique = seen_.insert_all(keys);
  counts.duplicates = counts.rows - counts.unique;
  object.distinct_ids += counts.unique;
  return counts;
}

std::size_t RowStore::apply_feedback(std::string_view kind, std::string_view object_id,
                                     const json::array& items) {
  std::size_t applied = 0;
  std::lock_guard lock(mutex_);
  auto object = objects_.find(object_key(kind, object_id));
  if (object == objects_.end()) return 0;
  for (const auto& value : items) {
    const auto* item = value.if_object();
    if (item == nullptr) continue;
    const auto* id = item->if_contains("id");
    if (id == nullptr || !id->is_string()) continue;
    auto found = object->second.rows.find(std::string(id->get_string()));
    if (found == object->second.rows.end()) continue;
    json::object row = parse_row(found->second.text);
    for (const std::string_view key : {"scores", "metadata"}) {
      const auto* patch = item->if_contains(key);
      if (patch == nullptr || !patch->is_object()) continue;
      auto& target = row[key];
      if (!target.is_object()) target = json::object();
      merge_objects(target.get_object(), patch->get_object());
    }
    for (const std::string_view key : {"expected", "tags"}) {
      if (const auto* replacement = item->if_contains(key)) row[key] = *replacement;
    }
    found->second.text = json::serialize(row);
    found->second.seq = ++next_seq_;
    ++applied;
  }
  return applied;
}

FetchPage RowStore::fetch(std::string_view kind, std::string_view object_id, std::size_t offset,
                          std::size_t limit) const {
  FetchPage page;
  std::lock_guard lock(mutex_);
  auto object = objects_.find(object_key(kind, object_id));
  if (object == objects_.end()) return page;
  std::vector<const StoredRow*> order;
  order.reserve(object->second.rows.size());
  for (const auto& [id, stored] : object->second.rows) order.push_back(&stored);
  if (offset >= order.size()) return page;
  const std::size_t end = std::min(order.size(), offset + limit);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(end), order.end(),
                    [](const StoredRow* a, const StoredRow* b) { return a->seq > b->seq; });
  page.events.reserve(end - offset);
  for (std::size_t i = offset; i < end; ++i) page.events.push_back(parse_row(order[i]->text));
  page.more = end < order.size();
  return page;
}

std::optional<json::object> RowStore::row(std::string_view kind, std::string_view object_id,
                                          std::string_view row_id) const {
  std::lock_guard lock(mutex_);
  auto object = objects_.find(object_key(kind, object_id));
  if (object == objects_.end()) return std::nullopt;
  auto found = object->second.rows.find(std::string(row_id));
  if (found == object->second.rows.end()) return std::nullopt;
  return parse_row(found->second.text);
}

std::size_t RowStore::row_count(std::string_view kind, std::string_view object_id) const {
  std::lock_guard lock(mutex_);
  auto object = objects_.find(object_key(kind, object_id));
  if (object == objects_.end()) return 0;
  return mode_ == StoreMode::full ? object->second.rows.size() : object->second.distinct_ids;
}

void RowStore::clear() {
  // Freed outside the lock: destroying millions of rows can take a while.
  std::unordered_map<std::string, ObjectRows> old;
  {
    std::lock_guard lock(mutex_);
    old.swap(objects_);
    seen_.clear();
    next_seq_ = 0;
  }
}

// ---- ProjectRegistry ---------------------------------------------------------------

ProjectRegistry::ProjectRegistry() : org_id_(make_uuid_v4()) {}

json::object ProjectRegistry::get_or_create(std::string_view name, bool& created) {
  std::lock_guard lock(mutex_);
  auto found = by_name_.find(std::string(name));
  if (found != by_name_.end()) {
    created = false;
    return projects_[found->second];
  }
  json::object project;
  project["id"] = make_uuid_v4();
  project["org_id"] = org_id_;
  project["name"] = name;
  project["description"] = nullptr;
  project["created"] = iso8601_now();
  project["deleted_at"] = nullptr;
  project["user_id"] = nullptr;
  project["settings"] = nullptr;
  const std::size_t index = projects_.size();
  by_name_.emplace(std::string(name), index);
  by_id_.emplace(std::string(project["id"].as_string()), index);
  projects_.push_back(project);
  created = true;
  return project;
}

std::optional<json::object> ProjectRegistry::by_name(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto found = by_name_.find(std::string(name));
  if (found == by_name_.end()) return std::nullopt;
  return projects_[found->second];
}

std::optional<json::object> ProjectRegistry::by_id(std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto found = by_id_.find(std::string(id));
  if (found == by_id_.end()) return std::nullopt;
  return projects_[found->second];
}

std::vector<json::object> ProjectRegistry::all() const {
  std::lock_guard lock(mutex_);
  return projects_;
}

}  // namespace spanline::fakeapi::detail
