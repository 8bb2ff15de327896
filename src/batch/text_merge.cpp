#include "batch/text_merge.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace spanline::detail {
namespace {

// A member's key: its raw text (between the quotes, no escapes) and its first 8 bytes as
// a number, so that comparing two keys is usually one integer compare, not a memcmp.
// No default member initialisers: arrays of members live on the stack and are filled
// as an object is scanned, so they must cost nothing to create.
struct Key {
  const char* data;
  std::size_t size;
  std::uint64_t prefix;  // the first min(size, 8) bytes, little-endian, zero-padded

  std::string_view text() const { return {data, size}; }
};

constexpr std::uint64_t prefix_of(const char* data, std::size_t size) {
  std::uint64_t prefix = 0;
  for (std::size_t i = 0; i < size && i < 8; ++i)
    prefix |= std::uint64_t{static_cast<unsigned char>(data[i])} << (8 * i);
  return prefix;
}

// The key at `data`, `size` bytes long, with at least `readable` bytes readable from there.
Key key_at(const char* data, std::size_t size, std::size_t readable) {
  if constexpr (std::endian::native == std::endian::little) {
    if (readable >= 8) {
      std::uint64_t prefix = 0;
      std::memcpy(&prefix, data, 8);
      if (size < 8) prefix &= size == 0 ? 0 : ~std::uint64_t{0} >> (64 - 8 * size);
      return Key{data, size, prefix};
    }
  }
  return Key{data, size, prefix_of(data, size)};
}

constexpr Key key_named(std::string_view name) {
  return Key{name.data(), name.size(), prefix_of(name.data(), name.size())};
}

bool operator==(const Key& a, const Key& b) {
  return a.prefix == b.prefix && a.size == b.size &&
         (a.size <= 8 || std::memcmp(a.data + 8, b.data + 8, a.size - 8) == 0);
}

constexpr Key kIsMerge = key_named("_is_merge");
constexpr Key kObjectDelete = key_named("_object_delete");
constexpr Key kMergePaths = key_named("_merge_paths");
constexpr Key kTags = key_named("tags");
// Trace-position keys keep the earlier row's value (see merge.hpp).
constexpr std::array<Key, 4> kKeepEarlier = {key_named("created"), key_named("span_id"),
                                             key_named("root_span_id"), key_named("span_parents")};

// One member of an object: its key and the value's text, whitespace trimmed.
struct Member {
  Key key;
  const char* value_data;
  std::size_t value_size;

  std::string_view value() const { return {value_data, value_size}; }
  void set_value(std::string_view value) {
    value_data = value.data();
    value_size = value.size();
  }
};

// Members of one object, on the stack: a merge touches a handful of small objects,
// and one with more members than this simply takes the tree path.
constexpr std::size_t kMaxMembers = 64;
// Nesting the text path follows before it hands over to the tree path.
constexpr int kMaxDepth = 16;

struct Members {
  std::array<Member, kMaxMembers> items;  // only the first `size` are set
  std::size_t size = 0;
  // One bit per key held, picked from a hash of the key: find() answers "not here"
  // from this word for most keys, instead of comparing against every member. A fold
  // asks each row for every key of the others (and for _is_merge, _object_delete,
  // _merge_paths), and most are absent. Two keys may share a bit; find() then compares.
  std::uint64_t key_bits = 0;

  static std::uint64_t bit_of(const Key& key) {
    constexpr std::uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
    return std::uint64_t{1} << (((key.prefix ^ key.size) * kMultiplier) >> 58);
  }
  const Member* find(const Key& key) const {
    if ((key_bits & bit_of(key)) == 0) return nullptr;
    for (std::size_t i = 0; i < size; ++i)
      if (items[i].key == key) return &items[i];
    return nullptr;
  }
  void clear() {
    size = 0;
    key_bits = 0;
  }
  void add(const Member& member) {
    items[size++] = member;
    key_bits |= bit_of(member.key);
  }
  void assign(const Members& other) {
    std::copy_n(other.items.begin(), other.size, items.begin());
    size = other.size;
    key_bits = other.key_bits;
  }
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void skip_space(std::string_view s, std::size_t& i) {
  while (i < s.size() && is_space(s[i])) ++i;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Index of the first '"' in `s` at or after `from`, or npos.
std::size_t find_quote(std::string_view s, std::size_t from) {
#if defined(__SSE2__)
  // Keys and most values are short: look at the next 32 bytes here before paying for
  // a memchr call, which wins only on long text (prompts, completions).
  const __m128i quote = _mm_set1_epi8('"');
  for (int block = 0; block < 2 && from + 16 <= s.size(); ++block, from += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + from));
    const auto hits = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote)));
    if (hits != 0) return from + static_cast<std::size_t>(std::countr_zero(hits));
  }
#endif
  if (from >= s.size()) return std::string_view::npos;
  const void* hit = std::memchr(s.data() + from, '"', s.size() - from);
  if (hit == nullptr) return std::string_view::npos;
  return static_cast<std::size_t>(static_cast<const char*>(hit) - s.data());
}

// `i` at an opening quote; on success `i` is just past the closing quote.
// Always inlined, like skip_value(): a row is a few dozen strings, and as a call each one
// would pass the position through memory (it is an out-parameter) and spill the caller's
// registers; inlined, the position stays in a register throughout split_object().
[[gnu::always_inline]] inline bool skip_string(std::string_view s, std::size_t& i) {
  const std::size_t open = i;
  std::size_t from = i + 1;
  while (true) {
    const std::size_t quote = find_quote(s, from);
    if (quote == std::string_view::npos) return false;
    std::size_t run = quote;
    while (run > open + 1 && s[run - 1] == '\\') --run;
    if ((quote - run) % 2 == 0) {  // an even run of backslashes escapes only itself
      i = quote + 1;
      return true;
    }
    from = quote + 1;
  }
}

// `i` at the first character of a value; on success `i` is just past it.
[[gnu::always_inline]] inline bool skip_value(std::string_view s, std::size_t& i) {
  if (i >= s.size()) return false;
  const char first = s[i];
  if (first == '"') return skip_string(s, i);
  if (first == '{' || first == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        if (!skip_string(s, i)) return false;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          ++i;
          return true;
        }
      }
      ++i;
    }
    return false;
  }
  const std::size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
  return i > start;
}

// Keys are a few bytes long: a loop here costs less than the call into memchr that
// would otherwise run for every member of every row a fold reads.
bool has_backslash(const char* data, std::size_t size) {
  constexpr std::size_t kShort = 24;
  if (size > kShort) return std::memchr(data, '\\', size) != nullptr;
  for (std::size_t i = 0; i < size; ++i)
    if (data[i] == '\\') return true;
  return false;
}

// Splits the object `text` (trimmed, braces included) into its members. False when
// it is not an object this path can handle: malformed, escaped or duplicate keys
// (their equality needs decoding), or too many members.
bool split_object(std::string_view text, Members& out) {
  out.clear();
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  std::size_t i = 1;
  skip_space(text, i);
  if (i == text.size() - 1) return true;  // {}
  while (true) {
    if (i >= text.size() || text[i] != '"') return false;
    const std::size_t key_start = i + 1;
    if (!skip_string(text, i)) return false;
    const std::size_t key_size = i - 1 - key_start;
    if (has_backslash(text.data() + key_start, key_size)) return false;
    const Key key = key_at(text.data() + key_start, key_size, text.size() - key_start);
    skip_space(text, i);
    if (i >= text.size() || text[i] != ':') return false;
    ++i;
    skip_space(text, i);
    const std::size_t value_start = i;
    if (!skip_value(text, i)) return false;
    if (out.size == kMaxMembers || out.find(key) != nullptr) return false;
    out.add(Member{key, text.data() + value_start, i - value_start});
    skip_space(text, i);
    if (i >= text.size()) return false;
    if (text[i] == '}') return i == text.size() - 1;
    if (text[i] != ',') return false;
    ++i;
    skip_space(text, i);
  }
}

// A piece of text; no default member initialisers, like Key, so large arrays of them
// cost nothing to create.
struct Text {
  const char* data;
  std::size_t size;

  std::string_view view() const { return {data, size}; }
};

// Elements of the array `text` (trimmed, brackets included) when every one is a
// string without escapes, so raw text equality is JSON equality. False otherwise.
template <std::size_t N>
bool split_plain_strings(std::string_view text, std::array<Text, N>& out, std::size_t& count) {
  count = 0;
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return false;
  std::size_t i = 1;
  skip_space(text, i);
  if (i == text.size() - 1) return true;  // []
  while (true) {
    if (i >= text.size() || text[i] != '"') return false;
    const std::size_t start = i;
    if (!skip_string(text, i)) return false;
    const std::string_view element = text.substr(start, i - start);
    if (element.find('\\') != std::string_view::npos || count == N) return false;
    out[count++] = Text{element.data(), element.size()};
    skip_space(text, i);
    if (i >= text.size()) return false;
    if (text[i] == ']') return i == text.size() - 1;
    if (text[i] != ',') return false;
    ++i;
    skip_space(text, i);
  }
}

bool is_object(std::string_view value) { return !value.empty() && value.front() == '{'; }
bool is_array(std::string_view value) { return !value.empty() && value.front() == '['; }
bool is_true(std::string_view value) { return value == "true"; }
bool is_true(const Member* member) { return member != nullptr && is_true(member->value()); }

void open_member(std::string& out, bool& first, const Key& key) {
  if (!first) out += ',';
  first = false;
  out += '"';
  out.append(key.data, key.size);
  out += "\":";
}

void append_member(std::string& out, bool& first, const Key& key, std::string_view value) {
  open_member(out, first, key);
  out += value;
}

// Deep merge of two objects: objects merge recursively, anything else in `patch`
// replaces what `target` holds (deep_merge() without a _merge_paths list).
bool merge_objects(std::string_view target, std::string_view patch, std::string& out, int depth) {
  if (depth > kMaxDepth) return false;
  Members t;
  Members p;
  if (!split_object(target, t) || !split_object(patch, p)) return false;
  out += '{';
  bool first = true;
  for (std::size_t k = 0; k < t.size; ++k) {
    const Member& m = t.items[k];
    const Member* update = p.find(m.key);
    if (update == nullptr) {
      append_member(out, first, m.key, m.value());
    } else if (is_object(m.value()) && is_object(update->value())) {
      open_member(out, first, m.key);
      if (!merge_objects(m.value(), update->value(), out, depth + 1)) return false;
    } else {
      append_member(out, first, m.key, update->value());
    }
  }
  for (std::size_t k = 0; k < p.size; ++k) {
    const Member& m = p.items[k];
    if (t.find(m.key) == nullptr) append_member(out, first, m.key, m.value());
  }
  out += '}';
  return true;
}

// tags: earlier's, then later's that earlier does not hold yet, in later's order.
bool union_tags(std::string_view earlier, std::string_view later, std::string& out) {
  constexpr std::size_t kMaxTags = 256;
  std::array<Text, kMaxTags> have;
  std::array<Text, kMaxTags> add;
  std::size_t have_count = 0;
  std::size_t add_count = 0;
  if (!split_plain_strings(earlier, have, have_count) || !split_plain_strings(later, add, add_count))
    return false;
  out += '[';
  for (std::size_t i = 0; i < have_count; ++i) {
    if (i != 0) out += ',';
    out += have[i].view();
  }
  for (std::size_t i = 0; i < add_count; ++i) {
    const auto end = have.begin() + static_cast<std::ptrdiff_t>(have_count);
    if (std::find_if(have.begin(), end, [&](const Text& tag) { return tag.view() == add[i].view(); }) != end)
      continue;
    if (have_count == kMaxTags) return false;
    if (have_count != 0) out += ',';
    out += add[i].view();
    have[have_count++] = add[i];
  }
  out += ']';
  return true;
}

bool keeps_earlier(const Key& key) {
  return std::find(kKeepEarlier.begin(), kKeepEarlier.end(), key) != kKeepEarlier.end();
}

// Strings that hold the nested objects and tag lists a fold rewrote, for the members
// that point at them until the result is written. Kept per thread and reused, so a
// fold allocates nothing for them once its thread has warmed up; a deque, so that
// adding one never moves the others.
class MadeStrings {
 public:
  // Starts a fold. A string that once held an unusually large value gives its memory
  // back rather than keeping it for the life of the thread.
  void reset() noexcept {
    constexpr std::size_t kKeepBytes = 64 * 1024;
    for (std::size_t i = 0; i < used_; ++i) {
      if (strings_[i].capacity() > kKeepBytes) std::string().swap(strings_[i]);
    }
    used_ = 0;
  }
  std::string& make() {
    if (used_ == strings_.size()) strings_.emplace_back();
    std::string& made = strings_[used_++];
    made.clear();
    return made;
  }

 private:
  std::deque<std::string> strings_;
  std::size_t used_ = 0;
};

// The row being folded: its members, whose values point into the rows folded so far
// or into `made` (nested objects and tag lists that a merge rewrote).
struct Folded {
  // `members` is left for split_object() to fill, not zeroed.
  explicit Folded(MadeStrings& strings) : made(strings) {}

  Members members;
  MadeStrings& made;
};

// Folds one later row (already split) into `row`. False when the tree path is needed.
bool fold_into(Folded& row, const Members& later) {
  if (!is_true(later.find(kIsMerge)) || is_true(later.find(kObjectDelete))) {
    row.members.assign(later);  // a replace or a delete: the later row is the result
    return true;
  }
  if (later.find(kMergePaths) != nullptr) return false;
  if (is_true(row.members.find(kObjectDelete))) return false;

  Members& earlier = row.members;
  const std::size_t earlier_size = earlier.size;
  for (std::size_t k = 0; k < earlier_size; ++k) {
    Member& m = earlier.items[k];
    const Member* update = later.find(m.key);
    if (update == nullptr || m.key == kIsMerge || (keeps_earlier(m.key) && m.value() != "null")) continue;
    if (m.key == kTags && is_array(m.value()) && is_array(update->value())) {
      std::string& tags = row.made.make();
      if (!union_tags(m.value(), update->value(), tags)) return false;
      m.set_value(tags);
    } else if (is_object(m.value()) && is_object(update->value())) {
      std::string& merged = row.made.make();
      if (!merge_objects(m.value(), update->value(), merged, 1)) return false;
      m.set_value(merged);
    } else {
      m.set_value(update->value());
    }
  }
  for (std::size_t k = 0; k < later.size; ++k) {
    const Member& m = later.items[k];
    if (m.key == kIsMerge) continue;
    // Members added by this loop come from `later`, whose keys are all different, so
    // looking through them too finds nothing more than earlier's own members would.
    if (earlier.find(m.key) != nullptr) continue;
    if (earlier.size == kMaxMembers) return false;
    earlier.add(m);
  }
  return true;
}

// Writes {"key":value,...}: sized first, then copied in, rather than appended piece by
// piece (each append checks capacity).
void write_object(const Members& members, std::string& out) {
  std::size_t size = 2 + (members.size > 0 ? members.size - 1 : 0);
  for (std::size_t k = 0; k < members.size; ++k)
    size += members.items[k].key.size + members.items[k].value_size + 3;
  out.clear();
  out.resize(size);
  char* at = out.data();
  *at++ = '{';
  for (std::size_t k = 0; k < members.size; ++k) {
    const Member& m = members.items[k];
    if (k != 0) *at++ = ',';
    *at++ = '"';
    std::memcpy(at, m.key.data, m.key.size);
    at += m.key.size;
    *at++ = '"';
    *at++ = ':';
    std::memcpy(at, m.value_data, m.value_size);
    at += m.value_size;
  }
  *at = '}';
}

}  // namespace

bool combine_rows_text(std::string_view earlier_text, std::string_view later_text, std::string& out) {
  const std::string_view later[] = {later_text};
  return fold_rows_text(earlier_text, later, out);
}

bool fold_rows_text(std::string_view earlier_text, std::span<const std::string_view> later_texts,
                    std::string& out) {
  thread_local MadeStrings made;
  made.reset();
  Folded row(made);
  if (!split_object(trimmed(earlier_text), row.members)) return false;
  Members later;
  for (const std::string_view later_text : later_texts) {
    if (!split_object(trimmed(later_text), later)) return false;
    if (!fold_into(row, later)) return false;
  }
  write_object(row.members, out);
  return true;
}

}  // namespace spanline::detail
