#include "generator.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <cctype>
#include <set>
#include <string>

namespace spanline::load {
namespace {

// Every row of traces [0, n) rendered with fixed ids and time: the generator's bytes.
std::string render_all(const GeneratorConfig& config, int n) {
  const SpanGenerator gen(config);
  std::string out;
  for (int i = 0; i < n; ++i) {
    const TracePlan plan = gen.trace(static_cast<std::uint64_t>(i));
    std::vector<RowIds> ids(plan.spans.size());
    for (std::size_t s = 0; s < ids.size(); ++s) {
      ids[s] = {make_uuid(1, static_cast<std::uint64_t>(i) * 100 + s, 0),
                make_uuid(1, static_cast<std::uint64_t>(i) * 100 + s, 1)};
    }
    for (const TraceOp& op : plan.ops) {
      render_row(out, plan, op, ids, 1.7e9, "proj");
      out += '\n';
    }
  }
  return out;
}

TEST(LoadGenerator, SameSeedGivesSameBytes) {
  GeneratorConfig config;
  config.seed = 42;
  const std::string a = render_all(config, 50);
  const std::string b = render_all(config, 50);
  EXPECT_GT(a.size(), 10'000u);
  EXPECT_EQ(a, b);
}

TEST(LoadGenerator, DifferentSeedGivesDifferentBytes) {
  GeneratorConfig a, b;
  a.seed = 1;
  b.seed = 2;
  EXPECT_NE(render_all(a, 5), render_all(b, 5));
}

TEST(LoadGenerator, TraceIsAPureFunctionOfItsIndex) {
  const SpanGenerator gen(GeneratorConfig{});
  const TracePlan late_first = gen.trace(7);
  (void)gen.trace(3);
  const TracePlan again = gen.trace(7);
  ASSERT_EQ(late_first.spans.size(), again.spans.size());
  for (std::size_t i = 0; i < again.spans.size(); ++i) {
    EXPECT_EQ(late_first.spans[i].start.body(), again.spans[i].start.body());
  }
}

TEST(LoadGenerator, OpsNestChildrenInsideParents) {
  GeneratorConfig config;
  config.max_children = 4;
  config.merges = 3;
  const SpanGenerator gen(config);
  std::size_t with_children = 0;
  for (std::uint64_t t = 0; t < 100; ++t) {
    const TracePlan plan = gen.trace(t);
    ASSERT_GE(plan.spans.size(), 2u);  // a root and at least one child
    EXPECT_EQ(plan.spans[0].parent, -1);
    EXPECT_EQ(plan.spans[0].type, "task");
    EXPECT_EQ(plan.row_count(), plan.span_count() * (config.merges + 2));
    std::vector<int> state(plan.spans.size(), 0);  // 0 not started, 1 open, 2 ended
    for (const TraceOp& op : plan.ops) {
      const SpanPlan& s = plan.spans[op.span];
      switch (op.kind) {
        case TraceOp::Kind::start:
          ASSERT_EQ(state[op.span], 0);
          if (s.parent >= 0) {
            ASSERT_EQ(state[static_cast<std::size_t>(s.parent)], 1) << "parent must be open";
          }
          state[op.span] = 1;
          break;
        case TraceOp::Kind::log:
          ASSERT_EQ(state[op.span], 1);
          ASSERT_LT(op.update, s.updates.size());
          break;
        case TraceOp::Kind::end:
          ASSERT_EQ(state[op.span], 1);
          for (std::size_t c = 0; c < plan.spans.size(); ++c) {
            if (plan.spans[c].parent == op.span) {
              ASSERT_EQ(state[c], 2) << "children end before their parent";
            }
          }
          state[op.span] = 2;
          break;
      }
    }
    for (int st : state) EXPECT_EQ(st, 2);
    if (plan.spans.size() > 2) ++with_children;
  }
  EXPECT_GT(with_children, 10u);
}

TEST(LoadGenerator, RenderedRowsAreSdkShapedJson) {
  GeneratorConfig config;
  config.merges = 2;
  const SpanGenerator gen(config);
  const TracePlan plan = gen.trace(3);
  std::vector<RowIds> ids(plan.spans.size());
  for (std::size_t s = 0; s < ids.size(); ++s) ids[s] = {make_uuid(9, s, 0), make_uuid(9, s, 1)};
  std::set<std::string> distinct_ids;
  bool saw_scores = false, saw_tokens = false, saw_parent = false;
  for (const TraceOp& op : plan.ops) {
    std::string row;
    render_row(row, plan, op, ids, 1.7e9, "proj-1");
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(row, ec);
    ASSERT_FALSE(ec) << row;
    const auto& o = v.as_object();
    EXPECT_EQ(o.at("id").as_string(), ids[op.span].id);
    EXPECT_EQ(o.at("root_span_id").as_string(), ids[0].span_id);
    EXPECT_EQ(o.at("project_id").as_string(), "proj-1");
    distinct_ids.insert(std::string(o.at("id").as_string()));
    if (op.kind == TraceOp::Kind::start) {
      EXPECT_FALSE(o.at("_is_merge").as_bool());
      EXPECT_TRUE(o.contains("created"));
      EXPECT_TRUE(o.at("metrics").as_object().contains("start"));
      EXPECT_EQ(o.at("span_attributes").as_object().at("type").as_string(), plan.spans[op.span].type);
      if (plan.spans[op.span].parent >= 0) {
        saw_parent = true;
        EXPECT_EQ(o.at("span_parents").as_array().at(0).as_string(),
                  ids[static_cast<std::size_t>(plan.spans[op.span].parent)].span_id);
      }
    } else {
      EXPECT_TRUE(o.at("_is_merge").as_bool());
    }
    if (op.kind == TraceOp::Kind::end) {
      EXPECT_TRUE(o.at("metrics").as_object().contains("end"));
    }
    if (o.contains("scores")) saw_scores = true;
    if (o.contains("metrics") && o.at("metrics").as_object().contains("tokens")) saw_tokens = true;
  }
  EXPECT_EQ(distinct_ids.size(), plan.span_count());  // one row id per span, merges included
  EXPECT_TRUE(saw_scores);
  EXPECT_TRUE(saw_tokens);
  EXPECT_TRUE(saw_parent);
}

TEST(LoadGenerator, FixedSizeTextHasExactLength) {
  for (std::size_t n : {1u, 16u, 100u, 4096u}) {
    const std::string t = SpanGenerator::text(5, n);
    EXPECT_EQ(t.size(), n);
    for (char c : t) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << int(c);
  }
  EXPECT_EQ(SpanGenerator::text(5, 300), SpanGenerator::text(5, 300));
  EXPECT_NE(SpanGenerator::text(5, 300), SpanGenerator::text(6, 300));
}

TEST(LoadGenerator, SizeFlagsMoveThePayload) {
  GeneratorConfig small, large;
  small.size_dist = large.size_dist = SizeDist::fixed;
  small.prompt_bytes = small.completion_bytes = 100;
  large.prompt_bytes = large.completion_bytes = 4000;
  std::size_t small_bytes = 0, large_bytes = 0;
  for (std::uint64_t i = 0; i < 20; ++i) {
    small_bytes += SpanGenerator(small).trace(i).payload_bytes();
    large_bytes += SpanGenerator(large).trace(i).payload_bytes();
  }
  EXPECT_GT(large_bytes, small_bytes * 10);
}

TEST(LoadGenerator, LognormalSizesVaryWithinBounds) {
  GeneratorConfig config;
  config.size_dist = SizeDist::lognormal;
  config.min_text_bytes = 50;
  config.max_text_bytes = 2000;
  const SpanGenerator gen(config);
  std::set<std::size_t> sizes;
  for (std::uint64_t i = 0; i < 50; ++i) sizes.insert(gen.trace(i).payload_bytes());
  EXPECT_GT(sizes.size(), 40u);
}

TEST(LoadGenerator, UuidsAreDistinctAndShaped) {
  std::set<std::string> seen;
  for (std::uint64_t s = 0; s < 10'000; ++s) {
    const std::string id = make_uuid(77, s, 0);
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4');
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10'000u);
  EXPECT_NE(make_uuid(1, 1, 0), make_uuid(2, 1, 0));
  // Fixed ids for fixed inputs: runs with the same seed send the same ids.
  EXPECT_EQ(make_uuid(77, 0, 0), make_uuid(77, 0, 0));
  for (std::uint64_t s = 0; s < 1000; ++s) {
    const std::string id = make_uuid(5, s, 1);
    for (std::size_t i = 0; i < id.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      ASSERT_EQ(id[i] == '-', dash) << id;
      if (!dash) {
        ASSERT_TRUE(std::isxdigit(static_cast<unsigned char>(id[i])) && !std::isupper(id[i])) << id;
      }
    }
    ASSERT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << "variant bits: " << id;
  }
}

TEST(LoadGenerator, Iso8601) {
  EXPECT_EQ(iso8601(0.0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601(1700000000.25), "2023-11-14T22:13:20.250Z");
  EXPECT_EQ(iso8601(951782400.5), "2000-02-29T00:00:00.500Z");  // a leap day
  EXPECT_EQ(iso8601(4102444799.0), "2099-12-31T23:59:59.000Z");
}

TEST(LoadGenerator, ParsesSizeDistributions) {
  EXPECT_EQ(parse_size_dist("fixed"), SizeDist::fixed);
  EXPECT_EQ(parse_size_dist("lognormal"), SizeDist::lognormal);
  EXPECT_THROW(parse_size_dist("gaussian"), std::invalid_argument);
}

}  // namespace
}  // namespace spanline::load
