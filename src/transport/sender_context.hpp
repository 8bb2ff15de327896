#pragma once
// What every part of the sender shares: the settings, the host, the io loop and the
// pipeline's tables and counters. Owned by the sender's core; the parts hold a reference.
//
// io thread only, except where a part says otherwise.

#include "transport/url.hpp"

#include <spanline/options.hpp>

namespace boost::asio {
class io_context;
}

namespace spanline::detail {

class Accounting;
class DestinationTable;
class ErrorReporter;
struct PipelineCounters;

struct SenderContext {
  const Options& options;
  const BaseUrl& url;
  boost::asio::io_context& io;
  DestinationTable& destinations;
  Accounting& accounting;
  PipelineCounters& counters;
  ErrorReporter& errors;
};

}  // namespace spanline::detail
