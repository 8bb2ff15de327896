#include "stop_summary.hpp"

namespace spanline::agent {

namespace {

std::uint64_t minus(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

bool StopSummary::adds_up() const noexcept {
  return received == accepted + refused && accepted == delivered + rejected + dropped + spooled + pending;
}

StopSummary make_stop_summary(const Stats& stats, const FlushResult& result) {
  StopSummary s;
  s.accepted = stats.rows_in;
  s.refused = stats.rows_refused;
  s.received = s.accepted + s.refused;
  // The library's totals include what this run replayed from an earlier run's spool;
  // those rows are not among this run's accepted ones.
  s.replayed_delivered = stats.spool.rows_replayed_delivered;
  s.replayed_rejected = stats.spool.rows_replayed_rejected;
  s.delivered = minus(stats.rows_delivered, s.replayed_delivered);
  s.rejected = minus(stats.rows_rejected, s.replayed_rejected);
  s.dropped = minus(stats.rows_dropped_total(), s.refused);
  s.spooled = result.spooled;
  s.pending = stats.pending_rows;
  s.complete = result.complete;
  return s;
}

std::string to_string(const StopSummary& s) {
  std::string out;
  const auto add = [&out](const char* name, std::uint64_t value) {
    if (!out.empty()) out += ' ';
    out += name;
    out += '=';
    out += std::to_string(value);
  };
  add("received", s.received);
  add("accepted", s.accepted);
  add("refused", s.refused);
  add("delivered", s.delivered);
  add("rejected", s.rejected);
  add("dropped", s.dropped);
  add("spooled", s.spooled);
  add("pending", s.pending);
  add("replayed_delivered", s.replayed_delivered);
  add("replayed_rejected", s.replayed_rejected);
  out += s.complete ? " complete=yes" : " complete=no";
  return out;
}

}  // namespace spanline::agent
