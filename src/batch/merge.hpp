#pragma once
// Braintrust row semantics for rows that share an id. Used by the batcher (to
// coalesce rows inside one batch) and by the fake API (to apply inserts to what it
// stores), so both agree by construction.

#include <boost/json/object.hpp>

namespace spanline::detail {

// Combines `later` into `earlier`, both full event objects with the same id:
//  - later has `_is_merge: true`: deep-merge. Objects merge recursively; `tags` is a
//    set union (earlier order, then new tags); `created`, `span_id`, `root_span_id`,
//    `span_parents` keep earlier's value when earlier has one; every path listed in
//    later's `_merge_paths` (arrays of keys) is replaced instead of merged.
//    earlier's `_is_merge` is kept: a replace stays a replace.
//  - otherwise (replace, or `_object_delete`): earlier becomes later.
void combine_rows(boost::json::object& earlier, const boost::json::object& later);

// Deep merge of plain JSON objects (no Braintrust special keys): objects merge
// recursively, anything else in `patch` replaces what is in `target`.
void deep_merge(boost::json::object& target, const boost::json::object& patch);

// True when the row asks to be merged (`_is_merge: true`).
bool is_merge_row(const boost::json::object& row);
// True when the row deletes its id (`_object_delete: true`).
bool is_delete_row(const boost::json::object& row);

}  // namespace spanline::detail
