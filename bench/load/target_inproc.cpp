#include "targets.hpp"

#include <spanline/logger.hpp>

#include <vector>

namespace spanline::load {

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

class InprocProducer final : public Producer {
 public:
  InprocProducer(Logger& logger, DestinationHandle to) : logger_(logger), to_(to) {}

  std::uint64_t send(const TracePlan& plan, LatencyHistogram* calls) override {
    spans_.resize(plan.spans.size());
    std::uint64_t refused = 0;
    for (const TraceOp& op : plan.ops) {
      const SpanPlan& s = plan.spans[op.span];
      Span& span = spans_[op.span];
      const std::uint64_t t0 = calls != nullptr ? now_ns() : 0;
      switch (op.kind) {
        case TraceOp::Kind::start:
          span = s.parent < 0 ? logger_.start_span(to_, SpanArgs{s.name, s.type}, s.start)
                              : spans_[static_cast<std::size_t>(s.parent)].start_child(
                                    SpanArgs{s.name, s.type}, s.start);
          break;
        case TraceOp::Kind::log:
          if (span.log(s.updates[op.update]) != LogResult::queued) ++refused;
          break;
        case TraceOp::Kind::end:
          if (span.end(s.end) != LogResult::queued) ++refused;
          break;
      }
      if (calls != nullptr) calls->record(now_ns() - t0);
    }
    // Start rows that were refused show up in the logger's drop counters, not here.
    spans_.clear();
    return refused;
  }

 private:
  Logger& logger_;
  DestinationHandle to_;
  std::vector<Span> spans_;
};

class InprocTarget final : public Target {
 public:
  InprocTarget(Options options, std::string project_id)
      : logger_(std::move(options)), to_(logger_.destination(Destination::project(std::move(project_id)))) {}

  std::unique_ptr<Producer> make_producer(unsigned) override {
    return std::make_unique<InprocProducer>(logger_, to_);
  }

  bool flush(std::chrono::milliseconds timeout) override { return logger_.flush(timeout).complete; }

  TargetGauges gauges() const override {
    const Stats s = logger_.stats();
    TargetGauges g;
    g.known = true;
    g.queue_rows = s.queue_rows;
    g.pending_rows = s.pending_rows;
    g.in_flight = s.in_flight;
    g.retries = s.retries;
    if (auto it = s.requests_by_status.find(429); it != s.requests_by_status.end()) g.status_429 = it->second;
    for (const auto& [status, count] : s.requests_by_status) g.requests += count;
    g.dropped = s.rows_dropped_total();
    g.rejected = s.rows_rejected;
    g.delivered_rows = s.rows_delivered;
    g.bytes_raw = s.bytes_raw;
    g.bytes_wire = s.bytes_compressed;
    return g;
  }

  void stop(std::chrono::milliseconds timeout) override { (void)logger_.shutdown(timeout); }

 private:
  Logger logger_;
  DestinationHandle to_;
};

}  // namespace

std::unique_ptr<Target> make_inproc_target(Options options, std::string project_id) {
  return std::make_unique<InprocTarget>(std::move(options), std::move(project_id));
}

}  // namespace spanline::load
