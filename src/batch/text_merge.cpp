#include "batch/text_merge.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <forward_list>
#include <string>

namespace spanline::detail {
namespace {

// One member of an object: the key's raw text (between its quotes) and the value's
// text, whitespace trimmed.
struct Member {
  std::string_view key;
  std::string_view value;
};

// Members of one object, on the stack: a merge touches a handful of small objects,
// and one with more members than this simply takes the tree path.
constexpr std::size_t kMaxMembers = 64;
// Nesting the text path follows before it hands over to the tree path.
constexpr int kMaxDepth = 16;

struct Members {
  std::array<Member, kMaxMembers> items;
  std::size_t size = 0;

  const Member* find(std::string_view key) const {
    for (std::size_t i = 0; i < size; ++i)
      if (items[i].key == key) return &items[i];
    return nullptr;
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

// `i` at an opening quote; on success `i` is just past the closing quote. Long
// strings (prompts, completions) are most of a row: jump from quote to quote.
bool skip_string(std::string_view s, std::size_t& i) {
  const std::size_t open = i;
  std::size_t from = i + 1;
  while (from < s.size()) {
    const void* hit = std::memchr(s.data() + from, '"', s.size() - from);
    if (hit == nullptr) return false;
    const std::size_t quote = static_cast<std::size_t>(static_cast<const char*>(hit) - s.data());
    std::size_t run = quote;
    while (run > open + 1 && s[run - 1] == '\\') --run;
    if ((quote - run) % 2 == 0) {  // an even run of backslashes escapes only itself
      i = quote + 1;
      return true;
    }
    from = quote + 1;
  }
  return false;
}

// `i` at the first character of a value; on success `i` is just past it.
bool skip_value(std::string_view s, std::size_t& i) {
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

// Splits the object `text` (trimmed, braces included) into its members. False when
// it is not an object this path can handle: malformed, escaped or duplicate keys
// (their equality needs decoding), or too many members.
bool split_object(std::string_view text, Members& out) {
  out.size = 0;
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  std::size_t i = 1;
  skip_space(text, i);
  if (i == text.size() - 1) return true;  // {}
  while (true) {
    if (i >= text.size() || text[i] != '"') return false;
    const std::size_t key_start = i + 1;
    if (!skip_string(text, i)) return false;
    const std::string_view key = text.substr(key_start, i - 1 - key_start);
    if (key.find('\\') != std::string_view::npos) return false;
    skip_space(text, i);
    if (i >= text.size() || text[i] != ':') return false;
    ++i;
    skip_space(text, i);
    const std::size_t value_start = i;
    if (!skip_value(text, i)) return false;
    if (out.size == kMaxMembers || out.find(key) != nullptr) return false;
    out.items[out.size++] = Member{key, text.substr(value_start, i - value_start)};
    skip_space(text, i);
    if (i >= text.size()) return false;
    if (text[i] == '}') return i == text.size() - 1;
    if (text[i] != ',') return false;
    ++i;
    skip_space(text, i);
  }
}

// Elements of the array `text` (trimmed, brackets included) when every one is a
// string without escapes, so raw text equality is JSON equality. False otherwise.
template <std::size_t N>
bool split_plain_strings(std::string_view text, std::array<std::string_view, N>& out, std::size_t& count) {
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
    out[count++] = element;
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

void append_member(std::string& out, bool& first, std::string_view key, std::string_view value) {
  if (!first) out += ',';
  first = false;
  out += '"';
  out += key;
  out += "\":";
  out += value;
}

void open_member(std::string& out, bool& first, std::string_view key) {
  if (!first) out += ',';
  first = false;
  out += '"';
  out += key;
  out += "\":";
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
      append_member(out, first, m.key, m.value);
    } else if (is_object(m.value) && is_object(update->value)) {
      open_member(out, first, m.key);
      if (!merge_objects(m.value, update->value, out, depth + 1)) return false;
    } else {
      append_member(out, first, m.key, update->value);
    }
  }
  for (std::size_t k = 0; k < p.size; ++k) {
    const Member& m = p.items[k];
    if (t.find(m.key) == nullptr) append_member(out, first, m.key, m.value);
  }
  out += '}';
  return true;
}

// tags: earlier's, then later's that earlier does not hold yet, in later's order.
bool union_tags(std::string_view earlier, std::string_view later, std::string& out) {
  constexpr std::size_t kMaxTags = 256;
  std::array<std::string_view, kMaxTags> have;
  std::array<std::string_view, kMaxTags> add;
  std::size_t have_count = 0;
  std::size_t add_count = 0;
  if (!split_plain_strings(earlier, have, have_count) || !split_plain_strings(later, add, add_count)) return false;
  out += '[';
  for (std::size_t i = 0; i < have_count; ++i) {
    if (i != 0) out += ',';
    out += have[i];
  }
  for (std::size_t i = 0; i < add_count; ++i) {
    const auto end = have.begin() + static_cast<std::ptrdiff_t>(have_count);
    if (std::find(have.begin(), end, add[i]) != end) continue;
    if (have_count == kMaxTags) return false;
    if (have_count != 0) out += ',';
    out += add[i];
    have[have_count++] = add[i];
  }
  out += ']';
  return true;
}

// Trace-position keys keep the earlier row's value (see merge.hpp).
bool keeps_earlier(std::string_view key) {
  return key == "created" || key == "span_id" || key == "root_span_id" || key == "span_parents";
}

// The row being folded: its members, whose values point into the rows folded so far
// or into `made` (nested objects and tag lists that a merge rewrote).
struct Folded {
  Members members;
  // A list: views into earlier elements stay valid, and an empty one allocates nothing
  // (most folds rewrite no nested object).
  std::forward_list<std::string> made;

  std::string& make() { return made.emplace_front(); }
};

// Folds one later row (already split) into `row`. False when the tree path is needed.
bool fold_into(Folded& row, std::string_view later_text, const Members& later) {
  const Member* later_merge = later.find("_is_merge");
  const Member* later_delete = later.find("_object_delete");
  if (later_merge == nullptr || !is_true(later_merge->value) ||
      (later_delete != nullptr && is_true(later_delete->value))) {
    row.members = later;  // a replace or a delete: the later row is the result
    (void)later_text;
    return true;
  }
  if (later.find("_merge_paths") != nullptr) return false;
  const Member* earlier_delete = row.members.find("_object_delete");
  if (earlier_delete != nullptr && is_true(earlier_delete->value)) return false;

  Members& earlier = row.members;
  const std::size_t earlier_size = earlier.size;
  for (std::size_t k = 0; k < earlier_size; ++k) {
    Member& m = earlier.items[k];
    const Member* update = later.find(m.key);
    if (update == nullptr || m.key == "_is_merge" || (keeps_earlier(m.key) && m.value != "null")) continue;
    if (m.key == "tags" && is_array(m.value) && is_array(update->value)) {
      std::string& tags = row.make();
      if (!union_tags(m.value, update->value, tags)) return false;
      m.value = tags;
    } else if (is_object(m.value) && is_object(update->value)) {
      std::string& merged = row.make();
      if (!merge_objects(m.value, update->value, merged, 1)) return false;
      m.value = merged;
    } else {
      m.value = update->value;
    }
  }
  for (std::size_t k = 0; k < later.size; ++k) {
    const Member& m = later.items[k];
    if (m.key == "_is_merge") continue;
    bool known = false;
    for (std::size_t e = 0; e < earlier_size && !known; ++e) known = earlier.items[e].key == m.key;
    if (known) continue;
    if (earlier.size == kMaxMembers) return false;
    earlier.items[earlier.size++] = m;
  }
  return true;
}

}  // namespace

bool combine_rows_text(std::string_view earlier_text, std::string_view later_text, std::string& out) {
  const std::string_view later[] = {later_text};
  return fold_rows_text(earlier_text, later, out);
}

bool fold_rows_text(std::string_view earlier_text, std::span<const std::string_view> later_texts, std::string& out) {
  Folded row;
  if (!split_object(trimmed(earlier_text), row.members)) return false;
  std::size_t total = earlier_text.size();
  Members later;
  for (const std::string_view later_text : later_texts) {
    if (!split_object(trimmed(later_text), later)) return false;
    if (!fold_into(row, later_text, later)) return false;
    total += later_text.size();
  }
  out.clear();
  out.reserve(total);
  out += '{';
  bool first = true;
  for (std::size_t k = 0; k < row.members.size; ++k) append_member(out, first, row.members.items[k].key, row.members.items[k].value);
  out += '}';
  return true;
}

}  // namespace spanline::detail
