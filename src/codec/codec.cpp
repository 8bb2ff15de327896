#include "codec/codec.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <memory>
#include <stdexcept>

namespace spanline::detail {
namespace {

[[noreturn]] void fail(std::string_view codec, std::string_view step, std::string_view detail) {
  std::string message;
  message.reserve(codec.size() + step.size() + detail.size() + 4);
  message.append(codec).append(" ").append(step);
  if (!detail.empty()) message.append(": ").append(detail);
  throw std::runtime_error(message);
}

[[noreturn]] void output_too_large(std::string_view codec, std::size_t max_output) {
  throw DecompressedTooLarge(std::string(codec) + " decompress: output exceeds " + std::to_string(max_output) +
                             " bytes");
}

// Room to offer the decoder next: one byte more than max_output allows, so an
// oversized stream shows itself without decoding it all.
std::size_t next_room(std::size_t used, std::size_t max_output, std::size_t chunk) {
  if (used > max_output) return 0;
  const std::size_t left = max_output - used;
  return left >= chunk ? chunk : left + 1;
}

// Where a compressor writes before the result is copied out at its final size. The
// worst-case output is far larger than what zstd or deflate usually produce, and a
// std::string of that size would be zero-filled (and page-faulted in) for every batch;
// this buffer is reused by every call on its thread.
class OutputScratch {
 public:
  char* reserve(std::size_t bytes) {
    if (bytes > capacity_) {
      data_.reset();  // give the old one back before asking for the larger one
      capacity_ = 0;
      data_.reset(new char[bytes]);
      capacity_ = bytes;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
};

OutputScratch& thread_output_scratch() {
  thread_local OutputScratch scratch;
  return scratch;
}

// ---- zstd -------------------------------------------------------------------

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* context) const noexcept { ZSTD_freeCCtx(context); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* context) const noexcept { ZSTD_freeDCtx(context); }
};

// One context per thread, reused for every call: ZSTD_compress() and a fresh DStream
// allocate and initialise their whole workspace each time, which costs as much as
// compressing a small batch. A context sizes itself for the largest input and level it
// has seen, and the thread that used it frees it when it exits.
ZSTD_CCtx* thread_compress_context() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> context;
  if (!context) context.reset(ZSTD_createCCtx());
  if (!context) fail("zstd", "compress", "out of memory");
  return context.get();
}

ZSTD_DCtx* thread_decompress_context() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> context;
  if (!context) context.reset(ZSTD_createDCtx());
  if (!context) fail("zstd", "decompress", "out of memory");
  // A call that threw left a frame half decoded: start clean.
  const std::size_t reset = ZSTD_DCtx_reset(context.get(), ZSTD_reset_session_only);
  if (ZSTD_isError(reset)) fail("zstd", "decompress", ZSTD_getErrorName(reset));
  return context.get();
}

std::string zstd_compress(std::string_view input, int level) {
  ZSTD_CCtx* context = thread_compress_context();
  const std::size_t bound = ZSTD_compressBound(input.size());
  char* out = thread_output_scratch().reserve(bound);
  // ZSTD_compressCCtx() takes the level afresh each call; no earlier call's setting leaks in.
  const std::size_t n = ZSTD_compressCCtx(context, out, bound, input.data(), input.size(), level);
  if (ZSTD_isError(n)) fail("zstd", "compress", ZSTD_getErrorName(n));
  return std::string(out, n);
}

std::string zstd_decompress(std::string_view input, std::size_t max_output) {
  ZSTD_DCtx* stream = thread_decompress_context();

  // Trust the frame's declared size only as a hint for the first allocation; the
  // stream loop below is what enforces max_output.
  std::string out;
  const unsigned long long declared = ZSTD_getFrameContentSize(input.data(), input.size());
  const std::size_t chunk = std::max<std::size_t>(ZSTD_DStreamOutSize(), 64 * 1024);
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    if (declared > max_output) output_too_large("zstd", max_output);
    out.reserve(static_cast<std::size_t>(declared));
  }

  ZSTD_inBuffer in{input.data(), input.size(), 0};
  std::size_t last = 1;  // nonzero: the frame is not finished yet
  while (true) {
    const std::size_t used = out.size();
    const std::size_t room = next_room(used, max_output, chunk);
    if (room == 0) output_too_large("zstd", max_output);
    out.resize(used + room);
    ZSTD_outBuffer dst{out.data() + used, room, 0};
    const std::size_t consumed_before = in.pos;
    last = ZSTD_decompressStream(stream, &dst, &in);
    if (ZSTD_isError(last)) fail("zstd", "decompress", ZSTD_getErrorName(last));
    out.resize(used + dst.pos);
    if (out.size() > max_output) output_too_large("zstd", max_output);
    // last == 0: the current frame is decoded and flushed; more input means another frame.
    if (last == 0 && in.pos == in.size) break;
    // Neither input consumed nor output produced: the input ended mid-frame.
    if (in.pos == consumed_before && dst.pos == 0) break;
  }
  if (last != 0) fail("zstd", "decompress", "truncated input");
  return out;
}

// ---- gzip ---------------------------------------------------------------------

constexpr uInt kZlibChunkMax = std::numeric_limits<uInt>::max();

// A deflate stream per thread, reset between calls rather than set up afresh (its
// state is a few hundred KiB that deflateInit2 allocates and clears every time).
class GzipCompressor {
 public:
  GzipCompressor() = default;
  ~GzipCompressor() {
    if (ready_) deflateEnd(&zs_);
  }
  GzipCompressor(const GzipCompressor&) = delete;
  GzipCompressor& operator=(const GzipCompressor&) = delete;

  // A stream ready for a new input, or nullptr when zlib could not set one up.
  z_stream* fresh() {
    if (!ready_) {
      // 15 + 16: a gzip header and trailer around deflate with the largest window.
      ready_ = deflateInit2(&zs_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
      return ready_ ? &zs_ : nullptr;
    }
    return deflateReset(&zs_) == Z_OK ? &zs_ : nullptr;
  }

 private:
  z_stream zs_{};
  bool ready_ = false;
};

std::string gzip_compress(std::string_view input) {
  thread_local GzipCompressor compressor;
  z_stream* zs = compressor.fresh();
  if (zs == nullptr) fail("gzip", "compress", "deflateInit2 failed");

  const std::size_t bound = deflateBound(zs, static_cast<uLong>(input.size()));
  char* out = thread_output_scratch().reserve(bound);
  zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  zs->next_out = reinterpret_cast<Bytef*>(out);
  std::size_t in_left = input.size();
  std::size_t out_left = bound;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs->avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, kZlibChunkMax));
    zs->avail_out = static_cast<uInt>(std::min<std::size_t>(out_left, kZlibChunkMax));
    const uInt given_in = zs->avail_in;
    const uInt given_out = zs->avail_out;
    const int flush = in_left == given_in ? Z_FINISH : Z_NO_FLUSH;
    rc = deflate(zs, flush);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      fail("gzip", "compress", zs->msg ? zs->msg : "");
    in_left -= given_in - zs->avail_in;
    out_left -= given_out - zs->avail_out;
    if (rc == Z_BUF_ERROR && out_left == 0) fail("gzip", "compress", "output buffer too small");
  }
  return std::string(out, bound - out_left);
}

std::string gzip_decompress(std::string_view input, std::size_t max_output) {
  z_stream zs{};
  // 15 + 32: detect gzip or zlib headers automatically.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) fail("gzip", "decompress", "inflateInit2 failed");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};

  std::string out;
  out.reserve(std::min<std::size_t>(max_output, input.size() * 4 + 64));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  std::size_t in_left = input.size();
  constexpr std::size_t kChunk = 64 * 1024;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    const std::size_t used = out.size();
    const std::size_t room = next_room(used, max_output, kChunk);
    if (room == 0) output_too_large("gzip", max_output);
    out.resize(used + room);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs.avail_out = static_cast<uInt>(room);
    zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, kZlibChunkMax));
    const uInt given_in = zs.avail_in;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_left -= given_in - zs.avail_in;
    out.resize(used + (room - zs.avail_out));
    if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR)
      fail("gzip", "decompress", zs.msg ? zs.msg : "corrupt input");
    if (out.size() > max_output) output_too_large("gzip", max_output);
    // No progress possible: the input ended before the stream did.
    if (rc == Z_BUF_ERROR || (rc == Z_OK && in_left == 0 && zs.avail_out != 0))
      fail("gzip", "decompress", "truncated input");
  }
  return out;
}

}  // namespace

std::string_view content_encoding(Compression compression) {
  switch (compression) {
    case Compression::zstd:
      return "zstd";
    case Compression::gzip:
      return "gzip";
    case Compression::none:
      break;
  }
  return "";
}

std::optional<Compression> parse_content_encoding(std::string_view header) {
  // Header tokens are case-insensitive and may carry surrounding whitespace.
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
  std::string token(header);
  std::transform(token.begin(), token.end(), token.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (token == "zstd") return Compression::zstd;
  if (token == "gzip" || token == "x-gzip") return Compression::gzip;
  if (token.empty() || token == "identity") return Compression::none;
  return std::nullopt;
}

std::string compress(Compression compression, std::string_view input, int zstd_level) {
  switch (compression) {
    case Compression::zstd:
      return zstd_compress(input, zstd_level);
    case Compression::gzip:
      return gzip_compress(input);
    case Compression::none:
      break;
  }
  return std::string(input);
}

std::string decompress(Compression compression, std::string_view input, std::size_t max_output) {
  switch (compression) {
    case Compression::zstd:
      return zstd_decompress(input, max_output);
    case Compression::gzip:
      return gzip_decompress(input, max_output);
    case Compression::none:
      break;
  }
  if (input.size() > max_output) output_too_large("identity", max_output);
  return std::string(input);
}

Compression fallback_after(Compression current) {
  switch (current) {
    case Compression::zstd:
      return Compression::gzip;
    case Compression::gzip:
    case Compression::none:
      break;
  }
  return Compression::none;
}

}  // namespace spanline::detail
