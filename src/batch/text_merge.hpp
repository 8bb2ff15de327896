#pragma once
// The common case of combine_rows() done on the rows' JSON text, without building
// trees: a span's log and end rows (merge rows) folded into its start row. Members
// keep their original text (numbers are not re-serialized), kept members keep their
// place, new members go at the end: the same order combine_rows() produces.
//
// It handles what span rows need (new and replaced members, nested objects merged,
// `tags` as a union of plain strings, the trace-position keys that keep earlier's
// value, replace and delete rows as later rows) and declines the rest, so the caller
// falls back to combine_rows(): `_merge_paths`, a delete followed by a merge, escaped
// or duplicate keys, tags that are not plain strings, and anything it cannot scan.

#include <span>
#include <string>
#include <string_view>

namespace spanline::detail {

// Writes into `out` the row that `later` combined into `earlier` makes (both JSON
// objects with the same id), and returns true; false when this case needs the tree
// path (`out` is then unspecified). Never throws but for allocation failure.
bool combine_rows_text(std::string_view earlier, std::string_view later, std::string& out);

// combine_rows_text() applied to each of `later`, in order, but in one pass: every row
// is scanned once and the result written once, however many rows fold into it (a
// span's start row would otherwise be rescanned and copied for each log and end row).
// Members a merge does not touch keep their text; the result is the same row.
// Both functions may be called from any thread (their scratch memory is per thread).
bool fold_rows_text(std::string_view earlier, std::span<const std::string_view> later, std::string& out);

}  // namespace spanline::detail
