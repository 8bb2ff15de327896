#pragma once
// The Braintrust row-merge cases, shared by every test that combines rows with the
// same id: the merge unit test, the batcher (coalescing inside a batch) and the fake
// API (applying inserts to what it stores). Each case is two rows with the same id,
// logged in order, and the single row they must become.

#include <ostream>
#include <string>
#include <vector>

namespace spanline::test {

struct MergeCase {
  std::string name;      // a valid gtest-style identifier
  std::string earlier;   // JSON object, first row
  std::string later;     // JSON object, second row, same id
  std::string expected;  // JSON object the two rows combine into
};

// Keeps gtest's listing readable: a case prints as its name, not as raw bytes.
inline void PrintTo(const MergeCase& c, std::ostream* os) { *os << c.name; }

// clang-format off
inline const std::vector<MergeCase>& merge_cases() {
  static const std::vector<MergeCase> cases = {
      // ---- merge rows deep-merge into what came before ------------------------
      {"merge_adds_new_fields",
       R"({"id":"r1","_is_merge":false,"input":"question"})",
       R"({"id":"r1","_is_merge":true,"output":"answer"})",
       R"({"id":"r1","_is_merge":false,"input":"question","output":"answer"})"},
      {"merge_replaces_scalars",
       R"({"id":"r1","_is_merge":false,"output":"draft","scores":{"acc":0.1}})",
       R"({"id":"r1","_is_merge":true,"output":"final","scores":{"acc":0.9}})",
       R"({"id":"r1","_is_merge":false,"output":"final","scores":{"acc":0.9}})"},
      {"objects_merge_recursively",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":1,"nested":{"x":1,"y":2}}})",
       R"({"id":"r1","_is_merge":true,"metadata":{"b":2,"nested":{"y":3,"z":{"deep":true}}}})",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":1,"b":2,"nested":{"x":1,"y":3,"z":{"deep":true}}}})"},
      {"metrics_end_joins_start",
       R"({"id":"r1","_is_merge":false,"metrics":{"start":1700000000.5}})",
       R"({"id":"r1","_is_merge":true,"metrics":{"end":1700000001.25,"tokens":42}})",
       R"({"id":"r1","_is_merge":false,"metrics":{"start":1700000000.5,"end":1700000001.25,"tokens":42}})"},
      {"object_replaces_scalar",
       R"({"id":"r1","_is_merge":false,"output":"text"})",
       R"({"id":"r1","_is_merge":true,"output":{"text":"t","role":"assistant"}})",
       R"({"id":"r1","_is_merge":false,"output":{"text":"t","role":"assistant"}})"},
      {"scalar_replaces_object",
       R"({"id":"r1","_is_merge":false,"output":{"text":"t"}})",
       R"({"id":"r1","_is_merge":true,"output":"plain"})",
       R"({"id":"r1","_is_merge":false,"output":"plain"})"},
      {"null_replaces_value",
       R"({"id":"r1","_is_merge":false,"metadata":{"x":1,"y":2},"error":"boom"})",
       R"({"id":"r1","_is_merge":true,"metadata":{"x":null},"error":null})",
       R"({"id":"r1","_is_merge":false,"metadata":{"x":null,"y":2},"error":null})"},
      {"arrays_replace_not_concatenate",
       R"({"id":"r1","_is_merge":false,"input":[{"role":"user","content":"a"}],"metadata":{"l":[1,2,3]}})",
       R"({"id":"r1","_is_merge":true,"input":[{"role":"system","content":"b"}],"metadata":{"l":[4]}})",
       R"({"id":"r1","_is_merge":false,"input":[{"role":"system","content":"b"}],"metadata":{"l":[4]}})"},
      {"empty_object_merges_to_nothing",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":1}})",
       R"({"id":"r1","_is_merge":true,"metadata":{}})",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":1}})"},
      {"strings_with_escapes_survive",
       R"({"id":"r1","_is_merge":false,"input":"line1\nline2 \"quoted\" \u00e9"})",
       R"({"id":"r1","_is_merge":true,"output":"tab\there \\ back \ud83d\ude00"})",
       R"({"id":"r1","_is_merge":false,"input":"line1\nline2 \"quoted\" \u00e9","output":"tab\there \\ back \ud83d\ude00"})"},

      // ---- tags are a set union ---------------------------------------------
      {"tags_set_union_keeps_earlier_order",
       R"({"id":"r1","_is_merge":false,"tags":["b","a"]})",
       R"({"id":"r1","_is_merge":true,"tags":["c","a","d","c"]})",
       R"({"id":"r1","_is_merge":false,"tags":["b","a","c","d"]})"},
      {"tags_added_when_earlier_has_none",
       R"({"id":"r1","_is_merge":false,"input":1})",
       R"({"id":"r1","_is_merge":true,"tags":["x"]})",
       R"({"id":"r1","_is_merge":false,"input":1,"tags":["x"]})"},
      {"nested_tags_are_not_special",
       R"({"id":"r1","_is_merge":false,"metadata":{"tags":["a"]}})",
       R"({"id":"r1","_is_merge":true,"metadata":{"tags":["b"]}})",
       R"({"id":"r1","_is_merge":false,"metadata":{"tags":["b"]}})"},

      // ---- trace position keeps the earlier row's values -----------------------
      {"trace_fields_keep_earlier",
       R"({"id":"r1","_is_merge":false,"span_id":"s1","root_span_id":"root","span_parents":["p1"],"created":"2024-01-01T00:00:00Z"})",
       R"({"id":"r1","_is_merge":true,"span_id":"s2","root_span_id":"other","span_parents":["p2"],"created":"2025-06-01T00:00:00Z","output":"o"})",
       R"({"id":"r1","_is_merge":false,"span_id":"s1","root_span_id":"root","span_parents":["p1"],"created":"2024-01-01T00:00:00Z","output":"o"})"},
      {"trace_fields_taken_when_earlier_lacks_them",
       R"({"id":"r1","_is_merge":false,"input":"i"})",
       R"({"id":"r1","_is_merge":true,"span_id":"s2","root_span_id":"s2","created":"2025-06-01T00:00:00Z"})",
       R"({"id":"r1","_is_merge":false,"input":"i","span_id":"s2","root_span_id":"s2","created":"2025-06-01T00:00:00Z"})"},
      {"trace_fields_taken_when_earlier_is_null",
       R"({"id":"r1","_is_merge":false,"created":null})",
       R"({"id":"r1","_is_merge":true,"created":"2025-06-01T00:00:00Z"})",
       R"({"id":"r1","_is_merge":false,"created":"2025-06-01T00:00:00Z"})"},

      // ---- _merge_paths: listed paths are replaced, not merged ----------------
      {"merge_paths_replace_nested_object",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":1,"b":{"x":1,"keep":true}}})",
       R"({"id":"r1","_is_merge":true,"_merge_paths":[["metadata","b"]],"metadata":{"b":{"y":2},"c":3}})",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":1,"b":{"y":2},"c":3}})"},
      {"merge_paths_replace_top_level_object",
       R"({"id":"r1","_is_merge":false,"input":{"prompt":"p","vars":{"a":1}},"output":{"x":1}})",
       R"({"id":"r1","_is_merge":true,"_merge_paths":[["input"]],"input":{"prompt":"q"},"output":{"y":2}})",
       R"({"id":"r1","_is_merge":false,"input":{"prompt":"q"},"output":{"x":1,"y":2}})"},
      {"merge_paths_replace_tags",
       R"({"id":"r1","_is_merge":false,"tags":["a","b"]})",
       R"({"id":"r1","_is_merge":true,"_merge_paths":[["tags"]],"tags":["c"]})",
       R"({"id":"r1","_is_merge":false,"tags":["c"]})"},
      {"merge_paths_on_merge_rows_accumulate",
       R"({"id":"r1","_is_merge":true,"_merge_paths":[["input"]],"input":{"a":1}})",
       R"({"id":"r1","_is_merge":true,"_merge_paths":[["metadata","m"],["input"]],"metadata":{"m":{"z":0}}})",
       R"({"id":"r1","_is_merge":true,"_merge_paths":[["input"],["metadata","m"]],"input":{"a":1},"metadata":{"m":{"z":0}}})"},
      {"merge_paths_ignored_when_malformed",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":{"x":1}}})",
       R"({"id":"r1","_is_merge":true,"_merge_paths":"metadata","metadata":{"a":{"y":2}}})",
       R"({"id":"r1","_is_merge":false,"metadata":{"a":{"x":1,"y":2}}})"},

      // ---- _is_merge of the result: a replace stays a replace ------------------
      {"merge_into_merge_stays_merge",
       R"({"id":"r1","_is_merge":true,"output":"o"})",
       R"({"id":"r1","_is_merge":true,"scores":{"s":1}})",
       R"({"id":"r1","_is_merge":true,"output":"o","scores":{"s":1}})"},
      {"replace_without_flag_stays_replace",
       R"({"id":"r1","input":"i"})",
       R"({"id":"r1","_is_merge":true,"output":"o"})",
       R"({"id":"r1","input":"i","output":"o"})"},

      // ---- non-merge rows replace ----------------------------------------------
      {"replace_row_replaces",
       R"({"id":"r1","_is_merge":false,"input":"old","metadata":{"a":1},"tags":["t"]})",
       R"({"id":"r1","_is_merge":false,"input":"new"})",
       R"({"id":"r1","_is_merge":false,"input":"new"})"},
      {"row_without_flag_replaces",
       R"({"id":"r1","_is_merge":true,"input":"old"})",
       R"({"id":"r1","output":"new"})",
       R"({"id":"r1","output":"new"})"},
      {"delete_replaces",
       R"({"id":"r1","_is_merge":false,"input":"i"})",
       R"({"id":"r1","_object_delete":true})",
       R"({"id":"r1","_object_delete":true})"},
      {"merge_after_delete_becomes_replace",
       R"({"id":"r1","_object_delete":true})",
       R"({"id":"r1","_is_merge":true,"output":"o"})",
       R"({"id":"r1","_is_merge":false,"output":"o"})"},
  };
  return cases;
}
// clang-format on

}  // namespace spanline::test
