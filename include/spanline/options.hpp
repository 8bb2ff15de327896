#pragma once
// Configuration of a spanline Logger: a plain struct with defaults, usable with
// designated initializers, e.g. `spanline::Options{.api_key = key, .max_queue_bytes = 32 << 20}`.
//
// The same settings have one dotted name each ("queue.max_bytes"), used by the
// environment (SPANLINE_QUEUE_MAX_BYTES), the daemon's TOML file and its --flags.

#include <spanline/export.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spanline {

// What log() does when the memory budget (bytes or rows) is full.
enum class OverflowPolicy {
  block,        // wait up to Options::block_timeout for room, then drop the new row;
                // also waits, within that timeout, while the batcher is far behind
                // (more than max_queue_bytes/8, at most 8 MiB, queued), never dropping for it
  drop_newest,  // refuse the new row at once
  drop_oldest,  // evict the oldest queued row to make room
  spill,        // move waiting batches to the spool to make room (needs spool_dir;
                // without a usable spool it behaves like block)
};

// What happens when the spool holds spool_max_bytes.
enum class SpoolFullPolicy {
  drop_newest,  // refuse the new batch at once; its rows are counted as dropped (spool_full)
  block,        // wait up to block_timeout for replay to free space, then refuse it
};

enum class Compression { zstd, gzip, none };

// Row and span id format: UUIDv4 like the official SDKs, or OpenTelemetry-style
// lowercase hex (32 hex digits for ids and trace ids, 16 for span ids).
enum class IdFormat { uuid, otel_hex };

struct Options {
  // --- connection ---------------------------------------------------------
  std::string api_key;                                // BRAINTRUST_API_KEY; never logged
  std::string api_url = "https://api.braintrust.dev"; // BRAINTRUST_API_URL; may carry a path prefix
  std::string org_name;                               // used when a project is created by name
  std::string impersonate_user;                       // x-bt-impersonate-user, when set

  // --- memory budget and overflow ------------------------------------------
  std::size_t max_queue_bytes = std::size_t{64} << 20;  // every accepted, unresolved row counts
  std::size_t max_queue_rows = 1'000'000;
  OverflowPolicy overflow = OverflowPolicy::block;
  std::chrono::milliseconds block_timeout{200};

  // --- batching -------------------------------------------------------------
  std::size_t batch_max_bytes = std::size_t{2} << 20;  // uncompressed body, capped by the server limit
  std::size_t batch_max_rows = 10'000;
  std::chrono::milliseconds linger{20};
  Compression compression = Compression::zstd;
  int zstd_level = 1;
  std::size_t encode_threads = 0;     // threads compressing batches; 0: one per two cores, 2 to 4
  std::size_t max_payload_bytes = 0;  // 0: learn from GET /version, else 6 MiB

  // --- transport --------------------------------------------------------------
  std::size_t max_in_flight = 8;      // upper bound of the adaptive concurrency limit
  std::size_t initial_in_flight = 2;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::string ca_file;                 // extra CA bundle (PEM); the system store is always used
  bool tls_verify = true;              // false logs a warning at start

  // --- retries --------------------------------------------------------------
  std::chrono::milliseconds retry_base_delay{100};
  std::chrono::milliseconds retry_max_delay{30'000};
  std::size_t max_retry_attempts = 0;  // per batch; 0 = retry until shutdown (rows stay budgeted)

  // --- durable spool (off while spool_dir is empty) ---------------------------
  // Batches go to disk, already encoded, when the upstream has failed for
  // spool_outage_after, when overflow == spill and the budget is full, and when the
  // shutdown deadline passes with rows pending. They are replayed oldest first,
  // also by the next process that opens the same directory.
  std::string spool_dir;
  std::size_t spool_max_bytes = std::size_t{1} << 30;        // all segment files together
  std::size_t spool_segment_bytes = std::size_t{16} << 20;   // a segment closes past this
  std::chrono::milliseconds spool_fsync_interval{100};       // group commit interval
  SpoolFullPolicy spool_full_policy = SpoolFullPolicy::drop_newest;
  std::chrono::milliseconds spool_outage_after{10'000};      // failing this long = outage

  // --- ids and lifecycle ------------------------------------------------------
  IdFormat id_format = IdFormat::uuid;
  std::chrono::milliseconds shutdown_timeout{10'000};  // used by the destructor
};

// Throws std::invalid_argument naming the setting and the bad value.
SPANLINE_API void validate(const Options& options);

// Sets one setting by its dotted name ("batch.max_bytes") from its text form.
// Throws std::invalid_argument for an unknown name or a bad value.
SPANLINE_API void set_option(Options& options, std::string_view name, std::string_view value);

// Every setting name that set_option() accepts, in a stable order.
SPANLINE_API const std::vector<std::string_view>& option_names();

// The effective settings as (name, value) text pairs; the API key is redacted.
SPANLINE_API std::vector<std::pair<std::string, std::string>> describe(const Options& options);

// Reads BRAINTRUST_API_KEY, BRAINTRUST_API_URL and SPANLINE_<NAME> (the dotted name
// upper-cased with '.' as '_') over `base`. Throws std::invalid_argument on a bad value.
SPANLINE_API Options options_from_env(Options base = {});

SPANLINE_API std::string_view to_string(OverflowPolicy policy);
SPANLINE_API std::string_view to_string(Compression compression);
SPANLINE_API std::string_view to_string(SpoolFullPolicy policy);
SPANLINE_API std::string_view to_string(IdFormat format);

}  // namespace spanline
