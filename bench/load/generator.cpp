#include "generator.hpp"

#include "rng.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace spanline::load {

namespace {

constexpr std::array<std::string_view, 32> kSyllables{
    "ka", "lo", "mi",  "ne",  "ru",  "ta",  "so",  "vi",  "an", "el", "or", "un",  "qua", "ri", "de", "po",
    "st", "ex", "ion", "tra", "ber", "com", "pre", "sen", "ti", "al", "ly", "ing", "con", "ma", "th", "er"};
constexpr std::array<std::string_view, 6> kModels{"gpt-4o",      "gpt-4o-mini",   "claude-3-5-sonnet",
                                                  "llama-3-70b", "mistral-large", "gemini-1.5-pro"};
constexpr std::array<std::string_view, 5> kTools{"search", "calculator", "sql_query", "fetch_url",
                                                 "code_exec"};

// Text length drawn from the configured distribution around `center`.
std::size_t draw_size(Rng& rng, const GeneratorConfig& cfg, std::size_t center) {
  double size = static_cast<double>(center);
  switch (cfg.size_dist) {
    case SizeDist::fixed:
      break;
    case SizeDist::uniform:
      size = static_cast<double>(rng.between(center / 2, center + center / 2));
      break;
    case SizeDist::lognormal:
      size = static_cast<double>(center) * std::exp(cfg.sigma * rng.normal());
      break;
  }
  const double lo = static_cast<double>(cfg.min_text_bytes);
  const double hi = static_cast<double>(std::max(cfg.min_text_bytes, cfg.max_text_bytes));
  return static_cast<std::size_t>(std::clamp(size, lo, hi));
}

double score(Rng& rng) { return static_cast<double>(rng.below(101)) / 100.0; }

std::string messages_json(std::string_view system, std::string_view user) {
  std::string out = R"([{"role":"system","content":)";
  detail::append_json_string(out, system);
  out += R"(},{"role":"user","content":)";
  detail::append_json_string(out, user);
  out += "}]";
  return out;
}

struct Builder {
  const GeneratorConfig& cfg;
  Rng& rng;
  TracePlan& plan;
  std::string_view model;

  int add_span(int parent, std::string_view type, unsigned depth) {
    const auto index = static_cast<int>(plan.spans.size());
    plan.spans.emplace_back();
    fill(index, parent, type);
    if (parent < 0) {
      const unsigned n = cfg.max_children == 0 ? 0 : static_cast<unsigned>(rng.between(1, cfg.max_children));
      for (unsigned i = 0; i < n; ++i) add_span(index, rng.below(10) < 6 ? "llm" : "tool", depth + 1);
    } else if (depth < cfg.max_depth && rng.below(2) == 1) {
      add_span(index, type == "llm" ? "tool" : "llm", depth + 1);
    }
    return index;
  }

  void fill(int index, int parent, std::string_view type) {
    SpanPlan& span = plan.spans[static_cast<std::size_t>(index)];
    span.parent = parent;
    span.type = std::string(type);
    const std::uint64_t text_seed = rng.next();
    if (type == "task") {
      span.name = "agent_run";
      const std::string question = SpanGenerator::text(text_seed, draw_size(rng, cfg, cfg.prompt_bytes));
      std::string input = R"({"question":)";
      detail::append_json_string(input, question);
      input += "}";
      span.start.json_unchecked("input", input);
      char user[32];
      std::snprintf(user, sizeof user, "user-%llu", static_cast<unsigned long long>(rng.below(100000)));
      span.start.metadata({{"model", model}, {"user_id", user}, {"env", "load"}});
      span.start.tags({"load", "agent"});
    } else if (type == "llm") {
      span.name = "chat_completion";
      const std::string prompt = SpanGenerator::text(text_seed, draw_size(rng, cfg, cfg.prompt_bytes));
      span.start.json_unchecked("input", messages_json("You are a helpful assistant.", prompt));
      span.start.metadata({{"model", model}, {"temperature", rng.below(2) ? "0.7" : "0"}});
    } else {
      const std::string_view tool = kTools[rng.below(kTools.size())];
      span.name = std::string(tool);
      const std::string query = SpanGenerator::text(
          text_seed, std::min<std::size_t>(draw_size(rng, cfg, cfg.prompt_bytes / 4), 512));
      std::string input = R"({"tool":)";
      detail::append_json_string(input, tool);
      input += R"(,"args":{"query":)";
      detail::append_json_string(input, query);
      input += "}}";
      span.start.json_unchecked("input", input);
    }

    const std::size_t completion =
        draw_size(rng, cfg, type == "tool" ? cfg.completion_bytes / 2 : cfg.completion_bytes);
    const std::uint64_t prompt_tokens = 1 + span.start.body().size() / 4;
    const std::uint64_t completion_tokens = 1 + completion / 4;
    for (unsigned k = 0; k < cfg.merges; ++k) {
      Fields update;
      if (k == 0) {
        const std::string text = SpanGenerator::text(rng.next(), completion);
        if (type == "tool") {
          std::string out = R"({"result":)";
          detail::append_json_string(out, text);
          out += "}";
          update.json_unchecked("output", out);
        } else if (type == "llm") {
          std::string out = R"({"role":"assistant","content":)";
          detail::append_json_string(out, text);
          out += "}";
          update.json_unchecked("output", out);
        } else {
          update.string("output", text);
        }
      } else if (k == 1) {
        update.scores({{"relevance", score(rng)}, {"faithfulness", score(rng)}});
        update.metrics({{"prompt_tokens", static_cast<double>(prompt_tokens)},
                        {"completion_tokens", static_cast<double>(completion_tokens)}});
      } else {
        char step[16];
        std::snprintf(step, sizeof step, "%u", k);
        update.metadata({{"checkpoint", step}});
        update.tags({k % 2 ? "retried" : "streamed"});
      }
      span.updates.push_back(std::move(update));
    }
    span.end.metrics({{"tokens", static_cast<double>(prompt_tokens + completion_tokens)}});
  }

  void emit_ops(int index) {
    const auto s = static_cast<std::uint16_t>(index);
    const SpanPlan& span = plan.spans[static_cast<std::size_t>(index)];
    plan.ops.push_back({TraceOp::Kind::start, s, 0});
    std::uint16_t next_update = 0;
    if (!span.updates.empty()) plan.ops.push_back({TraceOp::Kind::log, s, next_update++});
    for (std::size_t c = static_cast<std::size_t>(index) + 1; c < plan.spans.size(); ++c) {
      if (plan.spans[c].parent == index) emit_ops(static_cast<int>(c));
    }
    while (next_update < span.updates.size()) plan.ops.push_back({TraceOp::Kind::log, s, next_update++});
    plan.ops.push_back({TraceOp::Kind::end, s, 0});
  }
};

}  // namespace

SizeDist parse_size_dist(std::string_view text) {
  if (text == "fixed") return SizeDist::fixed;
  if (text == "uniform") return SizeDist::uniform;
  if (text == "lognormal") return SizeDist::lognormal;
  throw std::invalid_argument("size distribution must be fixed, uniform or lognormal, got '" +
                              std::string(text) + "'");
}

std::string_view to_string(SizeDist dist) {
  switch (dist) {
    case SizeDist::fixed:
      return "fixed";
    case SizeDist::uniform:
      return "uniform";
    case SizeDist::lognormal:
      return "lognormal";
  }
  return "?";
}

std::size_t TracePlan::payload_bytes() const {
  std::size_t total = 0;
  for (const auto& s : spans) {
    total += s.start.body().size() + s.start.metrics_body().size() + s.end.body().size() +
             s.end.metrics_body().size();
    for (const auto& u : s.updates) total += u.body().size() + u.metrics_body().size();
  }
  return total;
}

SpanGenerator::SpanGenerator(GeneratorConfig config) : config_(config) {
  if (config_.max_children > 64) throw std::invalid_argument("max_children must be <= 64");
  if (config_.max_depth > 8) throw std::invalid_argument("max_depth must be <= 8");
  if (config_.merges > 64) throw std::invalid_argument("merges must be <= 64");
}

TracePlan SpanGenerator::trace(std::uint64_t index) const {
  std::uint64_t mix = config_.seed ^ (index * 0x9e3779b97f4a7c15ULL);
  Rng rng(splitmix64(mix));
  TracePlan plan;
  Builder builder{config_, rng, plan, kModels[rng.below(kModels.size())]};
  builder.add_span(-1, "task", 0);
  builder.emit_ops(0);
  return plan;
}

std::string SpanGenerator::text(std::uint64_t rng_seed, std::size_t bytes) {
  Rng rng(rng_seed);
  std::string out;
  out.reserve(bytes + 16);
  std::size_t words_in_sentence = 0;
  while (out.size() < bytes) {
    const auto syllables = rng.between(1, 4);
    const std::size_t word_start = out.size();
    for (std::uint64_t i = 0; i < syllables; ++i) out += kSyllables[rng.below(kSyllables.size())];
    if (words_in_sentence == 0) out[word_start] = static_cast<char>(out[word_start] - 'a' + 'A');
    ++words_in_sentence;
    const auto r = rng.below(100);
    if (words_in_sentence > 6 && r < 12) {
      out += r < 2 ? ".\n" : (r < 3 ? "?\" " : ". ");
      words_in_sentence = 0;
    } else if (r < 15) {
      out += ", ";
    } else {
      out += ' ';
    }
  }
  out.resize(bytes);
  return out;
}

std::string make_uuid(std::uint64_t nonce, std::uint64_t sequence, std::uint64_t salt) {
  std::string out(kUuidChars, '-');
  write_uuid(out.data(), nonce, sequence, salt);
  return out;
}

void write_uuid(char* out, std::uint64_t nonce, std::uint64_t sequence, std::uint64_t salt) {
  std::uint64_t state = nonce ^ (sequence * 0xd1b54a32d192ed03ULL) ^ (salt * 0x9e3779b97f4a7c15ULL);
  const std::uint64_t a = splitmix64(state);
  const std::uint64_t b = splitmix64(state);
  // 8-4-4-4-12 hex digits with the version (4) and variant (10xx) bits set. Written by
  // hand: snprintf cost the sidecar runs' senders a tenth of their CPU.
  const auto put_hex = [out](std::size_t at, std::size_t digits, std::uint64_t value) {
    constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = digits; i-- > 0; value >>= 4) out[at + i] = kHex[value & 0xf];
  };
  out[8] = out[13] = out[18] = out[23] = '-';
  put_hex(0, 8, a >> 32);
  put_hex(9, 4, (a >> 16) & 0xffff);
  put_hex(14, 4, 0x4000 | (a & 0xfff));
  put_hex(19, 4, 0x8000 | ((b >> 48) & 0x3fff));
  put_hex(24, 12, b & 0xffffffffffffULL);
  // The sequence itself is folded in above; uniqueness across a run rests on the
  // 122 random-looking bits, like UUIDv4.
}

void append_unix_seconds(std::string& out, double unix_seconds) {
  char text[32];
  const auto written = std::to_chars(text, text + sizeof text, unix_seconds, std::chars_format::fixed, 6);
  out.append(text, written.ptr);
}

std::string iso8601(double unix_seconds) {
  // By calendar arithmetic rather than gmtime_r + snprintf: this runs for every span
  // the senders write, and gmtime_r takes the C library's time zone lock.
  using namespace std::chrono;
  const auto whole = static_cast<std::int64_t>(unix_seconds);
  const int millis = std::clamp(static_cast<int>((unix_seconds - static_cast<double>(whole)) * 1000.0), 0, 999);
  const sys_seconds time{seconds{whole}};
  const sys_days day = floor<days>(time);
  const year_month_day date{day};
  const hh_mm_ss clock{time - day};
  std::string out = "0000-00-00T00:00:00.000Z";
  const auto put = [&out](std::size_t at, std::size_t digits, long long value) {
    for (std::size_t i = digits; i-- > 0; value /= 10) out[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, 4, static_cast<int>(date.year()));
  put(5, 2, static_cast<unsigned>(date.month()));
  put(8, 2, static_cast<unsigned>(date.day()));
  put(11, 2, clock.hours().count());
  put(14, 2, clock.minutes().count());
  put(17, 2, clock.seconds().count());
  put(20, 3, millis);
  return out;
}

namespace {

void append_members(std::string& out, const Fields& fields) {
  if (!fields.body().empty()) {
    out += ',';
    out += fields.body();
  }
}

// `first_key`'s value is a time (metrics.start or .end); `slot(kind, span, quoted)`
// is told where its text starts.
template <typename SlotRecorder>
void append_metrics(std::string& out, std::string_view first_key, double first_value, const Fields& fields,
                    const SlotRecorder& slot) {
  out += R"(,"metrics":{)";
  bool any = false;
  if (!first_key.empty()) {
    detail::append_json_string(out, first_key);
    out += ':';
    slot(RowSlot::Kind::seconds, 0, false);
    append_unix_seconds(out, first_value);
    any = true;
  }
  if (!fields.metrics_body().empty()) {
    if (any) out += ',';
    out += fields.metrics_body();
  }
  out += '}';
}

}  // namespace

void render_row(std::string& out, const TracePlan& plan, const TraceOp& op, const std::vector<RowIds>& ids,
                double unix_seconds, std::string_view routing_project_id, std::vector<RowSlot>* slots) {
  const SpanPlan& span = plan.spans[op.span];
  const RowIds& me = ids[op.span];
  const RowIds& root = ids[0];
  // Marks the value written next as a slot: its text starts here, after the opening
  // quote when it is a string.
  const std::size_t row_start = out.size();
  const auto slot = [&](RowSlot::Kind kind, std::size_t span_index, bool quoted) {
    if (slots == nullptr) return;
    slots->push_back(RowSlot{static_cast<std::uint32_t>(out.size() - row_start + (quoted ? 1 : 0)), kind,
                             static_cast<std::uint16_t>(span_index)});
  };
  out += R"({"id":)";
  slot(RowSlot::Kind::id, op.span, true);
  detail::append_json_string(out, me.id);
  out += R"(,"span_id":)";
  slot(RowSlot::Kind::span_id, op.span, true);
  detail::append_json_string(out, me.span_id);
  out += R"(,"root_span_id":)";
  slot(RowSlot::Kind::span_id, 0, true);
  detail::append_json_string(out, root.span_id);
  if (!routing_project_id.empty()) {
    out += R"(,"project_id":)";
    detail::append_json_string(out, routing_project_id);
  }
  switch (op.kind) {
    case TraceOp::Kind::start:
      if (span.parent >= 0) {
        out += R"(,"span_parents":[)";
        slot(RowSlot::Kind::span_id, static_cast<std::size_t>(span.parent), true);
        detail::append_json_string(out, ids[static_cast<std::size_t>(span.parent)].span_id);
        out += ']';
      }
      out += R"(,"created":)";
      slot(RowSlot::Kind::created, op.span, true);
      detail::append_json_string(out, iso8601(unix_seconds));
      out += R"(,"span_attributes":{"name":)";
      detail::append_json_string(out, span.name);
      out += R"(,"type":)";
      detail::append_json_string(out, span.type);
      out += R"(},"_is_merge":false)";
      append_members(out, span.start);
      append_metrics(out, "start", unix_seconds, span.start, slot);
      break;
    case TraceOp::Kind::log: {
      const Fields& update = span.updates[op.update];
      out += R"(,"_is_merge":true)";
      append_members(out, update);
      if (!update.metrics_body().empty()) append_metrics(out, {}, 0, update, slot);
      break;
    }
    case TraceOp::Kind::end:
      out += R"(,"_is_merge":true)";
      append_members(out, span.end);
      append_metrics(out, "end", unix_seconds, span.end, slot);
      break;
  }
  out += '}';
}

}  // namespace spanline::load
