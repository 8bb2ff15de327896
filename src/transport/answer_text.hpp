#pragma once
// How the sender quotes the API's answers in error reports: bounded, printable, and
// never with the API key in them.

#include "transport/http_connection.hpp"

#include <string>
#include <string_view>

namespace spanline::detail {

// At most 200 printable characters of an answer's body, with `secret` (the API key)
// blanked out should a server ever echo it back.
std::string snippet(std::string_view body, const std::string& secret);

// " (first refused row id "...")" for an error report, or nothing when the row has no id.
std::string first_refused_id(std::string_view event_json);

// "connect: Connection refused" for a transport failure, else "HTTP 503".
std::string describe_failure(int status, const HttpResult& result);

}  // namespace spanline::detail
