// The in-process library in one file: a span with a child span, a merge update and a
// score, then a flush. Reads BRAINTRUST_API_KEY, BRAINTRUST_API_URL and SPANLINE_*
// from the environment. Exits 0 when every row was delivered.
//
//   cmake -S examples/cpp -B build-example && cmake --build build-example
//   BRAINTRUST_API_KEY=... build-example/spanline-example

#include <spanline/spanline.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

// log(), end() and friends return a [[nodiscard]] LogResult: a row that was not
// queued is counted as dropped by the logger, and a program says so too.
bool queued(spanline::LogResult result, const char* what) {
  if (result == spanline::LogResult::queued) return true;
  std::fprintf(stderr, "%s: %.*s\n", what, static_cast<int>(spanline::to_string(result).size()),
               spanline::to_string(result).data());
  return false;
}

std::string answer_question(const std::string& prompt) { return prompt.empty() ? "" : "4"; }

}  // namespace

int main() {
  spanline::Logger logger(spanline::options_from_env());
  const auto project = logger.destination(spanline::Destination::project_named("spanline-example"));

  const std::string prompt = "What is 2 + 2?";
  spanline::Span span =
      logger.start_span(project, {.name = "chat", .type = "llm"}, spanline::Fields{}.string("input", prompt));
  bool ok = true;
  {
    spanline::Span tool = span.start_child({.name = "calculator", .type = "tool"},
                                           spanline::Fields{}.json("input", R"({"expression":"2+2"})"));
    ok &= queued(tool.end(spanline::Fields{}.number("output", 4)), "tool span end");
  }
  const std::string answer = answer_question(prompt);
  // A merge update into the span's row, then its score.
  ok &= queued(span.log(spanline::Fields{}.string("output", answer).metrics({{"completion_tokens", 1}})),
               "span output");
  ok &= queued(span.log(spanline::Fields{}.scores({{"correct", answer == "4" ? 1.0 : 0.0}})), "span score");
  ok &= queued(span.end(), "span end");

  const spanline::FlushResult result = logger.flush(std::chrono::seconds(10));
  std::printf(
      "span %.*s: delivered=%llu rejected=%llu dropped=%llu pending=%llu\n",
      static_cast<int>(span.id().size()), span.id().data(), static_cast<unsigned long long>(result.delivered),
      static_cast<unsigned long long>(result.rejected), static_cast<unsigned long long>(result.dropped),
      static_cast<unsigned long long>(result.pending));
  return ok && result.complete && result.rejected == 0 && result.dropped == 0 ? 0 : 1;
}
