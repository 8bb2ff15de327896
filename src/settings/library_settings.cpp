#include "settings/library_settings.hpp"

namespace spanline::settings {
namespace {

using O = Options;

Info info(std::string name, std::string description, std::string unit = "") {
  Info out;
  out.name = std::move(name);
  out.description = std::move(description);
  out.unit = std::move(unit);
  out.scope = Scope::library;
  return out;
}

Info with(Info base, auto change) {
  change(base);
  return base;
}

Registry<Options> build() {
  Registry<Options> r{Options{}};
  // ---- api
  r.add(text_setting<O>(
      with(info("api.key",
                "the API key; prefer the environment variable (or a 0600 EnvironmentFile) "
                "to writing it in a file"),
           [](Info& i) {
             i.secret = true;
             i.sdk_env = "BRAINTRUST_API_KEY";
           }),
      [](auto& o) -> auto& { return o.api_key; }));
  r.add(text_setting<O>(
      with(info("api.url", "the API base URL; self-hosted: http(s)://host[:port][/prefix]"),
           [](Info& i) {
             i.type = Type::url;
             i.sdk_env = "BRAINTRUST_API_URL";
           }),
      [](auto& o) -> auto& { return o.api_url; }));
  r.add(text_setting<O>(
      info("api.org_name", "organization used when a project is created by name"),
      [](auto& o) -> auto& { return o.org_name; }));
  r.add(text_setting<O>(
      info("api.impersonate_user", "sent as x-bt-impersonate-user when set"),
      [](auto& o) -> auto& { return o.impersonate_user; }));
  // ---- queue
  r.add(size_setting<O>(
      info("queue.max_bytes", "memory budget of accepted rows not yet delivered, refused or dropped"),
      [](auto& o) -> auto& { return o.max_queue_bytes; }));
  r.add(count_setting<O>(
      info("queue.max_rows", "row budget of accepted rows not yet resolved", "rows"),
      [](auto& o) -> auto& { return o.max_queue_rows; }));
  r.add(choice_setting<O>(
      info("queue.overflow",
           "what happens when the budget is full: wait (block), refuse the new "
           "row, evict the oldest, or move waiting batches to the spool (spill)"),
      [](auto& o) -> auto& { return o.overflow; },
      std::vector<std::pair<std::string, OverflowPolicy>>{{"block", OverflowPolicy::block},
                                                          {"drop_newest", OverflowPolicy::drop_newest},
                                                          {"drop_oldest", OverflowPolicy::drop_oldest},
                                                          {"spill", OverflowPolicy::spill}}));
  r.add(duration_setting<O>(
      info("queue.block_timeout_ms",
           "block: longest a producer waits for room before the row "
           "is dropped (counted)"),
      [](auto& o) -> auto& { return o.block_timeout; }));
  // ---- batch
  r.add(size_setting<O>(
      info("batch.max_bytes",
           "uncompressed request body that closes a batch, capped by the server "
           "limit; while the API rate-limits (a recent 429, or batches waiting to be sent), batches "
           "grow to the server limit"),
      [](auto& o) -> auto& { return o.batch_max_bytes; }));
  r.add(count_setting<O>(
      info("batch.max_rows", "rows that close a batch", "rows"),
      [](auto& o) -> auto& { return o.batch_max_rows; }));
  r.add(duration_setting<O>(
      info("batch.linger_ms",
           "longest a row waits for its batch to fill while the sender can "
           "take a batch; while the API is paused or rate-limited (429) or every request slot is busy "
           "the batch keeps growing"),
      [](auto& o) -> auto& { return o.linger; }));
  r.add(choice_setting<O>(
      info("batch.compression", "request body compression"), [](auto& o) -> auto& { return o.compression; },
      std::vector<std::pair<std::string, Compression>>{
          {"zstd", Compression::zstd}, {"gzip", Compression::gzip}, {"none", Compression::none}}));
  // The range is validate()'s; the parser only refuses what is not a whole number.
  r.add(integer_setting<O>(
      info("batch.zstd_level", "zstd compression level, -7 (fastest) to 22"),
      [](auto& o) -> auto& { return o.zstd_level; }, std::numeric_limits<int>::min(),
      std::numeric_limits<int>::max()));
  r.add(count_setting<O>(
      info("batch.encode_threads", "threads compressing closed batches; 0: one per two cores, 2 to 4",
           "threads"),
      [](auto& o) -> auto& { return o.encode_threads; }));
  r.add(size_setting<O>(
      info("batch.max_payload_bytes",
           "largest request body the server takes; 0: ask GET /version, "
           "else 6 MiB"),
      [](auto& o) -> auto& { return o.max_payload_bytes; }));
  // ---- http
  r.add(count_setting<O>(
      info("http.max_in_flight", "upper bound of the adaptive number of requests in flight", "requests"),
      [](auto& o) -> auto& { return o.max_in_flight; }));
  r.add(count_setting<O>(
      info("http.initial_in_flight", "starting number of requests in flight", "requests"),
      [](auto& o) -> auto& { return o.initial_in_flight; }));
  r.add(duration_setting<O>(
      info("http.connect_timeout_ms", "longest a connection to the API takes to open"),
      [](auto& o) -> auto& { return o.connect_timeout; }));
  r.add(duration_setting<O>(
      info("http.request_timeout_ms", "longest one request to the API takes"),
      [](auto& o) -> auto& { return o.request_timeout; }));
  r.add(text_setting<O>(
      with(info("http.ca_file", "extra CA bundle (PEM); the system store is always used"),
           [](Info& i) { i.type = Type::path; }),
      [](auto& o) -> auto& { return o.ca_file; }));
  r.add(bool_setting<O>(
      info("http.tls_verify", "verify the API's certificate; false logs a warning at start"),
      [](auto& o) -> auto& { return o.tls_verify; }));
  // ---- retry
  r.add(duration_setting<O>(
      info("retry.base_delay_ms", "first backoff between attempts (full jitter, doubling)"),
      [](auto& o) -> auto& { return o.retry_base_delay; }));
  r.add(duration_setting<O>(
      info("retry.max_delay_ms", "longest backoff between attempts"),
      [](auto& o) -> auto& { return o.retry_max_delay; }));
  r.add(count_setting<O>(
      info("retry.max_attempts", "attempts per batch; 0 retries until shutdown", "attempts"),
      [](auto& o) -> auto& { return o.max_retry_attempts; }));
  // ---- ids
  r.add(choice_setting<O>(
      info("ids.format",
           "format of the row and span ids spanline adds: UUIDv4 or OpenTelemetry "
           "hex"),
      [](auto& o) -> auto& { return o.id_format; },
      std::vector<std::pair<std::string, IdFormat>>{{"uuid", IdFormat::uuid},
                                                    {"otel_hex", IdFormat::otel_hex}}));
  // ---- spool
  r.add(text_setting<O>(
      with(info("spool.dir",
                "durable spool directory, where batches that cannot be sent wait and "
                "are replayed (also after a restart); \"\" turns it off"),
           [](Info& i) { i.type = Type::path; }),
      [](auto& o) -> auto& { return o.spool_dir; }));
  r.add(size_setting<O>(
      info("spool.max_bytes", "all spool segment files together"),
      [](auto& o) -> auto& { return o.spool_max_bytes; }));
  r.add(size_setting<O>(
      info("spool.segment_bytes", "a spool segment file closes past this size"),
      [](auto& o) -> auto& { return o.spool_segment_bytes; }));
  r.add(duration_setting<O>(
      info("spool.fsync_interval_ms", "spool group-commit interval"),
      [](auto& o) -> auto& { return o.spool_fsync_interval; }));
  r.add(choice_setting<O>(
      info("spool.full_policy",
           "when spool.max_bytes is reached: refuse the new batch (counted) "
           "or wait up to queue.block_timeout_ms for room"),
      [](auto& o) -> auto& { return o.spool_full_policy; },
      std::vector<std::pair<std::string, SpoolFullPolicy>>{{"drop_newest", SpoolFullPolicy::drop_newest},
                                                           {"block", SpoolFullPolicy::block}}));
  r.add(duration_setting<O>(
      info("spool.outage_after_ms",
           "an API failing this long counts as an outage: waiting "
           "batches go to the spool"),
      [](auto& o) -> auto& { return o.spool_outage_after; }));
  // ---- shutdown
  r.add(duration_setting<O>(
      info("shutdown.timeout_ms",
           "drain deadline at shutdown (the destructor, or SIGTERM for "
           "spanlined: keep it below the unit's TimeoutStopSec); pending rows are then spooled or "
           "counted"),
      [](auto& o) -> auto& { return o.shutdown_timeout; }));
  return r;
}

}  // namespace

const Registry<Options>& library_settings() {
  static const Registry<Options> registry = build();
  return registry;
}

}  // namespace spanline::settings
