#pragma once
// What the fake API keeps: projects, and rows per (kind, object id) with
// Braintrust insert semantics. Every class here is thread-safe; none of them
// calls out while holding its lock.

#include "fake_api.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spanline::fakeapi::detail {

// A random UUIDv4 in canonical lowercase form. Uses its own generator, so it never
// perturbs the fault PRNG's sequence.
std::string make_uuid_v4();

// The current time as ISO-8601 UTC with milliseconds ("2024-05-01T12:00:00.123Z").
std::string iso8601_now();

// 64-bit hash of (kind, object id, row id): what ids mode keeps per row. At 20
// million rows the chance of any collision is about 1e-5.
std::uint64_t row_key_hash(std::string_view kind, std::string_view object_id, std::string_view row_id);

// row_key_hash for many rows of one object: the (kind, object id) part is
// hashed once, and each row costs only its own id's bytes. Same values.
class RowKeyHasher {
 public:
  RowKeyHasher(std::string_view kind, std::string_view object_id);
  std::uint64_t operator()(std::string_view row_id) const;

 private:
  std::uint64_t prefix_state_;
};

// Open-addressing set of nonzero 64-bit keys (about 16 bytes per key), so
// counting distinct rows in a long load run costs little memory.
class HashSet {
 public:
  bool insert(std::uint64_t key);  // true when the key was new
  // Inserts every key in order (repeats within `keys` count once); returns how
  // many were new. Faster than insert() one by one: it grows once up front and
  // fetches slots ahead, since each probe is usually a cache miss.
  std::size_t insert_all(std::span<const std::uint64_t> keys);
  std::size_t size() const { return size_; }
  void clear();

 private:
  void grow();
  void reserve(std::size_t keys);     // grows until `keys` keys fit under the load limit
  std::vector<std::uint64_t> slots_;  // 0 marks an empty slot
  std::size_t size_ = 0;
};

// Control fields of an insert event that are instructions, not data.
bool is_control_field(std::string_view key);
void strip_control_fields(boost::json::object& row);

struct InsertCounts {
  std::size_t rows = 0, unique = 0, duplicates = 0;
};

struct FetchPage {
  std::vector<boost::json::object> events;  // newest write first
  bool more = false;                        // rows remain after this page
};

class RowStore {
 public:
  explicit RowStore(StoreMode mode) : mode_(mode) {}

  StoreMode mode() const { return mode_; }

  // Full mode: applies `events` (objects, each with a string "id") in order: a
  // delete row removes its id, a merge row merges into the stored row (or creates
  // it), any other row replaces it. Control fields are not stored. May modify
  // `events` (which may live in any memory resource, e.g. a per-request arena).
  InsertCounts apply(std::string_view kind, std::string_view object_id, boost::json::array& events);
  // Ids mode (also valid in full mode, then nothing is stored): counts the ids.
  InsertCounts count_ids(std::string_view kind, std::string_view object_id,
                         const std::vector<std::string_view>& ids);

  // Feedback items ({id, scores?, expected?, metadata?, tags?, ...}) merged into
  // stored rows: scores and metadata deep-merge, expected and tags replace.
  // Returns how many items named a stored row.
  std::size_t apply_feedback(std::string_view kind, std::string_view object_id,
                             const boost::json::array& items);

  // Rows by last write, newest first, skipping `offset`. Empty in ids mode.
  FetchPage fetch(std::string_view kind, std::string_view object_id, std::size_t offset,
                  std::size_t limit) const;

  std::optional<boost::json::object> row(std::string_view kind, std::string_view object_id,
                                         std::string_view row_id) const;
  std::size_t row_count(std::string_view kind, std::string_view object_id) const;

  void clear();

 private:
  // Rows are kept as compact JSON text: one allocation per row instead of one per
  // JSON node, which keeps full mode fast and small under load.
  struct StoredRow {
    std::string text;
    std::uint64_t seq = 0;  // order of the last write, for fetch
  };
  struct ObjectRows {
    std::unordered_map<std::string, StoredRow> rows;  // full mode only
    std::size_t distinct_ids = 0;
  };

  static std::string object_key(std::string_view kind, std::string_view object_id);
  // Records one received id; returns true when it is new. Caller holds mutex_.
  bool note_id(ObjectRows& object, std::string_view kind, std::string_view object_id,
               std::string_view row_id);

  const StoreMode mode_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, ObjectRows> objects_;
  HashSet seen_;
  std::uint64_t next_seq_ = 0;
};

// Projects by name, get-or-create. Survives reset() so clients' cached ids stay valid.
class ProjectRegistry {
 public:
  ProjectRegistry();

  // The project called `name`, created when absent; `created` tells which.
  boost::json::object get_or_create(std::string_view name, bool& created);
  std::optional<boost::json::object> by_name(std::string_view name) const;
  std::optional<boost::json::object> by_id(std::string_view id) const;
  std::vector<boost::json::object> all() const;

 private:
  const std::string org_id_;
  mutable std::mutex mutex_;
  std::vector<boost::json::object> projects_;  // creation order
  std::unordered_map<std::string, std::size_t> by_name_, by_id_;
};

}  // namespace spanline::fakeapi::detail
