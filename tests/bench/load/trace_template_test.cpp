#include "trace_template.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace spanline::load {
namespace {

// What render_row gives for every row of `plan` with these ids and time: the bytes a
// template must reproduce.
std::vector<std::string> rendered_rows(const TracePlan& plan, const TraceIds& with, std::string_view project_id) {
  std::vector<std::string> rows;
  for (const TraceOp& op : plan.ops) {
    std::string row;
    render_row(row, plan, op, with.ids(), with.unix_seconds(), project_id);
    rows.push_back(std::move(row));
  }
  return rows;
}

TEST(LoadTraceTemplate, FillsInTheSameBytesRenderRowWrites) {
  GeneratorConfig config;
  config.seed = 7;
  config.max_depth = 3;  // parents at several levels: span_parents slots of every kind
  const SpanGenerator generator(config);
  for (const std::string_view project_id : {std::string_view("proj-9"), std::string_view()}) {
    for (std::uint64_t index = 0; index < 40; ++index) {
      const TracePlan plan = generator.trace(index);
      const TraceTemplate rows(plan, project_id);
      ASSERT_EQ(rows.row_count(), plan.ops.size());
      TraceIds with;
      // Two sends of one template: the second must not keep anything of the first.
      for (const double time : {1764901234.567891, 1800000000.000001}) {
        with.assign(plan.spans.size(), 99, index * 1000 + static_cast<std::uint64_t>(time) % 7);
        with.set_time(time);
        const std::vector<std::string> expected = rendered_rows(plan, with, project_id);
        for (std::size_t row = 0; row < rows.row_count(); ++row) {
          std::string out = "prefix";  // appended after what is already there
          rows.append_row(out, row, with);
          EXPECT_EQ(out, "prefix" + expected[row]) << "trace " << index << " row " << row;
        }
      }
    }
  }
}

TEST(LoadTraceTemplate, IdsOfEachSendAreFresh) {
  TraceIds first, second;
  first.assign(3, 5, 0);
  second.assign(3, 5, 3);
  for (std::size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(first.ids()[s].id.size(), kUuidChars);
    EXPECT_NE(first.ids()[s].id, first.ids()[s].span_id);
    for (std::size_t t = 0; t < 3; ++t) EXPECT_NE(first.ids()[s].id, second.ids()[t].id);
  }
  EXPECT_EQ(first.ids()[1].id, make_uuid(5, 1, 0));
  EXPECT_EQ(first.ids()[1].span_id, make_uuid(5, 1, 1));
}

TEST(LoadTraceTemplate, ATimeOfAnotherWidthIsRefusedNotWrittenOverTheRow) {
  const SpanGenerator generator(GeneratorConfig{});
  const TracePlan plan = generator.trace(1);
  const TraceTemplate rows(plan, "p");
  TraceIds with;
  with.assign(plan.spans.size(), 1, 0);
  with.set_time(12345678901.5);  // the year 2361: one more digit
  std::string out;
  EXPECT_THROW(rows.append_row(out, 0, with), std::length_error);
}

}  // namespace
}  // namespace spanline::load
