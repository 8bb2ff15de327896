#include "reference.hpp"

#include "thread_cpu_clock.hpp"

#include <zstd.h>
#include <boost/json.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace spanline::load {

namespace {
using Clock = std::chrono::steady_clock;

double steady_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

double num(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_double()) return v->as_double();
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  return 0;
}
}  // namespace

std::string reference_batch(const GeneratorConfig& config, std::size_t target_bytes, std::uint64_t* events,
                            std::uint64_t* spans) {
  const SpanGenerator generator(config);
  std::string body = R"({"events":[)";
  std::uint64_t n_events = 0, n_spans = 0;
  std::vector<RowIds> ids;
  for (std::uint64_t i = 0; body.size() < target_bytes; ++i) {
    const TracePlan plan = generator.trace(i);
    ids.resize(plan.spans.size());
    for (std::size_t s = 0; s < ids.size(); ++s) {
      ids[s].id = make_uuid(config.seed, i * 64 + s, 0);
      ids[s].span_id = make_uuid(config.seed, i * 64 + s, 1);
    }
    for (const TraceOp& op : plan.ops) {
      if (n_events > 0) body += ',';
      render_row(body, plan, op, ids, 1.7e9 + static_cast<double>(i), {});
      ++n_events;
    }
    n_spans += plan.span_count();
  }
  body += "]}";
  if (events != nullptr) *events = n_events;
  if (spans != nullptr) *spans = n_spans;
  return body;
}

Rate measure_rate(const std::function<std::uint64_t()>& step, double cpu_seconds, RateClocks clocks) {
  if (!clocks.cpu_seconds) clocks.cpu_seconds = thread_cpu_seconds;
  if (!clocks.wall_seconds) clocks.wall_seconds = steady_seconds;
  const double cpu0 = clocks.cpu_seconds();
  const double wall0 = clocks.wall_seconds();
  double cpu1 = cpu0, wall1 = wall0;
  std::uint64_t bytes = 0;
  // The budget is CPU time, so a loaded machine stretches the run instead of lowering the
  // rate; the wall cap bounds how long that stretch can get.
  while (bytes == 0 || (cpu1 - cpu0 < cpu_seconds && wall1 - wall0 < 4 * cpu_seconds)) {
    bytes += step();
    cpu1 = clocks.cpu_seconds();
    wall1 = clocks.wall_seconds();
  }
  Rate rate;
  if (cpu1 > cpu0) rate.per_cpu_second = static_cast<double>(bytes) / (cpu1 - cpu0);
  if (wall1 > wall0) rate.per_wall_second = static_cast<double>(bytes) / (wall1 - wall0);
  return rate;
}

Reference measure_reference(const GeneratorConfig& config, double seconds) {
  Reference r;
  const Clock::time_point begin = Clock::now();
  std::uint64_t spans = 0;
  const std::string body = reference_batch(config, 2u << 20, &r.batch_events, &spans);
  r.batch_bytes = body.size();
  r.bytes_per_span = spans == 0 ? 0 : static_cast<double>(body.size()) / static_cast<double>(spans);

  // zstd level 1, one context reused like the batcher does.
  const std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), &ZSTD_freeCCtx);
  if (cctx == nullptr) throw std::runtime_error("ZSTD_createCCtx failed");
  std::string out(ZSTD_compressBound(body.size()), '\0');
  std::size_t compressed_size = 0;
  const Rate zstd = measure_rate(
      [&]() -> std::uint64_t {
        compressed_size = ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), body.data(), body.size(), 1);
        if (ZSTD_isError(compressed_size))
          throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(compressed_size));
        return body.size();
      },
      seconds * 0.6);
  r.zstd1_bytes_per_s = zstd.per_cpu_second;
  r.zstd1_bytes_per_s_wall = zstd.per_wall_second;
  r.zstd1_ratio = static_cast<double>(body.size()) / static_cast<double>(compressed_size);

  // memcpy on buffers far larger than the caches.
  const std::size_t size = std::size_t{64} << 20;
  std::vector<char> a(size, 'a'), b(size, 'b');
  std::uint64_t copied = 0;
  const Rate copy = measure_rate(
      [&]() -> std::uint64_t {
        std::memcpy(b.data(), a.data(), size);
        a[copied % size] = b[(copied + 7) % size];  // keep the copies observable
        copied += size;
        return size;
      },
      seconds * 0.4);
  r.memcpy_bytes_per_s = copy.per_cpu_second;
  r.memcpy_bytes_per_s_wall = copy.per_wall_second;
  r.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  return r;
}

boost::json::object to_json(const Reference& r) {
  return {{"batch_bytes", r.batch_bytes},
          {"batch_events", r.batch_events},
          {"bytes_per_span", r.bytes_per_span},
          {"zstd1_bytes_per_s", r.zstd1_bytes_per_s},
          {"zstd1_ratio", r.zstd1_ratio},
          {"memcpy_bytes_per_s", r.memcpy_bytes_per_s},
          {"zstd1_bytes_per_s_wall", r.zstd1_bytes_per_s_wall},
          {"memcpy_bytes_per_s_wall", r.memcpy_bytes_per_s_wall},
          {"seconds", r.seconds}};
}

Reference reference_from_json(const boost::json::value& json) {
  if (!json.is_object()) throw std::invalid_argument("reference must be a JSON object");
  const auto& o = json.as_object();
  Reference r;
  r.batch_bytes = static_cast<std::uint64_t>(num(o, "batch_bytes"));
  r.batch_events = static_cast<std::uint64_t>(num(o, "batch_events"));
  r.bytes_per_span = num(o, "bytes_per_span");
  r.zstd1_bytes_per_s = num(o, "zstd1_bytes_per_s");
  r.zstd1_ratio = num(o, "zstd1_ratio");
  r.memcpy_bytes_per_s = num(o, "memcpy_bytes_per_s");
  r.zstd1_bytes_per_s_wall = num(o, "zstd1_bytes_per_s_wall");
  r.memcpy_bytes_per_s_wall = num(o, "memcpy_bytes_per_s_wall");
  r.seconds = num(o, "seconds");
  return r;
}

}  // namespace spanline::load
