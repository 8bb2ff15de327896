#include "transport/answer_text.hpp"

#include "transport/job.hpp"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>

#include <string>

namespace spanline::detail {
namespace {

TEST(AnswerText, SnippetBlanksTheKeyEverywhereAndKeepsTheRest) {
  EXPECT_EQ(snippet("bad key sk-123, really sk-123", "sk-123"), "bad key [redacted], really [redacted]");
  EXPECT_EQ(snippet("nothing secret", ""), "nothing secret");
}

TEST(AnswerText, SnippetIsBoundedAndPrintable) {
  const std::string text = snippet(std::string(500, 'x'), "key");
  EXPECT_EQ(text, std::string(200, 'x') + "...");
  EXPECT_EQ(snippet("line one\nline\ttwo\x7f", {}), "line one line two ");
}

TEST(AnswerText, FirstRefusedIdNamesTheRowOrNothing) {
  EXPECT_EQ(first_refused_id(R"({"id":"row-7","input":1})"), R"( (first refused row id "row-7"))");
  EXPECT_EQ(first_refused_id(R"({"input":1})"), "");
}

TEST(AnswerText, DescribeFailureSaysTheStepOrTheStatus) {
  HttpResult refused;
  refused.ec = boost::asio::error::connection_refused;
  refused.step = "connect";
  EXPECT_EQ(describe_failure(0, refused).rfind("connect: ", 0), 0u);
  EXPECT_EQ(describe_failure(503, HttpResult{}), "HTTP 503");
}

TEST(IsolationBudget, GrowsWithTheLogOfTheBatchAndCoversEightRows) {
  // 2 requests per halving, log2(events) halvings per isolated row, 8 rows.
  EXPECT_EQ(isolation_budget(2), 2 * 1 * kIsolatedRowsPerBatch);
  EXPECT_EQ(isolation_budget(1024), 2 * 10 * kIsolatedRowsPerBatch);
  EXPECT_EQ(isolation_budget(10'000), 2 * 14 * kIsolatedRowsPerBatch);
  EXPECT_LT(isolation_budget(10'000), 250u);
}

}  // namespace
}  // namespace spanline::detail
