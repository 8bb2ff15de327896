#pragma once
// How the fake API applies a merge row to the row it stores, written apart from the
// library's batch/merge.cpp on purpose: the fake API is the oracle that end-to-end tests
// check the library against, and an oracle sharing the code it checks would agree with
// that code's bugs. Both are held to the same case table (tests/support/merge_cases.hpp).

#include <boost/json/object.hpp>

namespace spanline::fakeapi {

// True when the insert event is a merge row (`_is_merge: true`) or deletes its id
// (`_object_delete: true`).
bool asks_merge(const boost::json::object& event);
bool asks_delete(const boost::json::object& event);

// Applies merge row `patch` to `stored` (a stored row, control fields already gone), as
// Braintrust does: nested objects merge key by key, anything else replaces; top-level
// `tags` gain the patch's new tags; a row's place in its trace (`created`, `span_id`,
// `root_span_id`, `span_parents`) stays as first stored; a path named in the patch's
// `_merge_paths` is replaced whole. The patch's own control fields are not copied.
void apply_merge(boost::json::object& stored, const boost::json::object& patch);

// Merges `patch` into `target` key by key, recursively (no special fields).
void merge_objects(boost::json::object& target, const boost::json::object& patch);

}  // namespace spanline::fakeapi
