#include <spanline/sidecar/logger.hpp>

#include "pipeline/logger_core.hpp"

#include <stdexcept>

namespace spanline::sidecar {
namespace {

void require_id_inside(const PreparedRow& row) {
  if (row.id_size == 0 || std::size_t{row.id_offset} + row.id_size > row.json.size())
    throw std::invalid_argument("PreparedRow id_offset/id_size do not point inside its json");
}

detail::Row to_row(PreparedRow& row, DestinationHandle to) {
  return detail::Row{.json = std::move(row.json),
                     .destination = to.index,
                     .id_offset = row.id_offset,
                     .id_size = row.id_size,
                     .is_merge = row.is_merge};
}

}  // namespace

LogResult log_prepared(Logger& logger, DestinationHandle to, PreparedRow row) {
  detail::LoggerCore& core = detail::LoggerAccess::core(logger);
  core.require_destination(to);
  require_id_inside(row);
  return core.submit(to_row(row, to));
}

std::optional<LogResult> try_log_prepared(Logger& logger, DestinationHandle to, PreparedRow& row) {
  detail::LoggerCore& core = detail::LoggerAccess::core(logger);
  core.require_destination(to);
  require_id_inside(row);
  detail::Row candidate = to_row(row, to);
  const std::optional<LogResult> result = core.try_submit(candidate);
  // No room: the row goes back to the caller as it came, to be offered again.
  if (!result) row.json = std::move(candidate.json);
  return result;
}

void notify_when_room(Logger& logger, std::function<void()> wake) {
  detail::LoggerAccess::core(logger).notify_when_room(std::move(wake));
}

DurableResult log_durable(Logger& logger, DestinationHandle to, std::vector<PreparedRow> rows,
                          std::chrono::milliseconds timeout) {
  detail::LoggerCore& core = detail::LoggerAccess::core(logger);
  core.require_destination(to);
  for (const PreparedRow& row : rows) require_id_inside(row);
  return core.write_ahead(to.index, std::move(rows), timeout);
}

}  // namespace spanline::sidecar
