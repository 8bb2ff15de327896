// /logs3 bodies as the official SDKs send them: {"rows":[...],"api_version":2}, each row
// naming its object with project_id + log_id "g", experiment_id or dataset_id.
#include "ingest/ndjson_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace spanline::detail {
namespace {

std::string id_of(const IngestEvent& event) {
  return event.row.json.substr(event.row.id_offset, event.row.id_size);
}

struct Body {
  std::optional<InsertBodyFailure> failure;
  std::vector<IngestEvent> rows;
};

Body parse(std::string_view body, IngestLimits limits = {}) {
  EventParser parser(limits);
  Body out;
  out.failure = parse_logs3_body(body, parser, out.rows);
  return out;
}

TEST(Logs3Body, RoutesEachRowByItsObjectIdsAndStripsOnlyThose) {
  const auto b = parse(
      R"({"rows": [)"
      R"({"id":"p1","project_id":"proj-1","log_id":"g","input":"q","span_id":"s","root_span_id":"r","span_parents":["x"],"_is_merge":false,"project_name":"named"},)"
      R"({"experiment_id":"exp-1","id":"e1","scores":{"a":1},"_merge_paths":[["input"]],"_is_merge":true},)"
      R"({"dataset_id":"ds-1","id":"d1","expected":2,"_object_delete":true,"created":"2026-12-07T20:00:00Z"})"
      R"(], "api_version": 2})");
  ASSERT_FALSE(b.failure) << b.failure->message;
  ASSERT_EQ(b.rows.size(), 3u);
  ASSERT_TRUE(b.rows[0].destination);
  EXPECT_EQ(b.rows[0].destination->kind, Destination::Kind::project_logs);
  EXPECT_EQ(b.rows[0].destination->id, "proj-1");
  EXPECT_EQ(
      b.rows[0].row.json,
      R"({"id":"p1","input":"q","span_id":"s","root_span_id":"r","span_parents":["x"],"_is_merge":false,"project_name":"named"})");
  EXPECT_EQ(id_of(b.rows[0]), "p1");
  EXPECT_FALSE(b.rows[0].row.is_merge);

  ASSERT_TRUE(b.rows[1].destination);
  EXPECT_EQ(b.rows[1].destination->kind, Destination::Kind::experiment);
  EXPECT_EQ(b.rows[1].destination->id, "exp-1");
  EXPECT_EQ(b.rows[1].row.json,
            R"({"id":"e1","scores":{"a":1},"_merge_paths":[["input"]],"_is_merge":true})");
  EXPECT_TRUE(b.rows[1].row.is_merge);

  ASSERT_TRUE(b.rows[2].destination);
  EXPECT_EQ(b.rows[2].destination->kind, Destination::Kind::dataset);
  EXPECT_EQ(b.rows[2].row.json,
            R"({"id":"d1","expected":2,"_object_delete":true,"created":"2026-12-07T20:00:00Z"})");
}

TEST(Logs3Body, RowWithoutIdGetsOne) {
  const auto b = parse(R"({"rows":[{"experiment_id":"e","input":1}],"api_version":2})");
  ASSERT_FALSE(b.failure);
  EXPECT_EQ(id_of(b.rows[0]).size(), 36u);
  EXPECT_EQ(b.rows[0].row.json.find("experiment_id"), std::string::npos);
}

TEST(Logs3Body, EmptyRowsAndMissingApiVersionAreFine) {
  EXPECT_FALSE(parse(R"({"rows":[],"api_version":2})").failure);
  EXPECT_FALSE(parse(R"({"rows":[{"experiment_id":"e","id":"a"}]})").failure);
}

TEST(Logs3Body, EachRefusalNamesTheRow) {
  struct Case {
    std::string body;
    std::optional<std::size_t> index;
    IngestError reason;
  };
  const std::string ok = R"({"experiment_id":"e","id":"ok"})";
  const std::vector<Case> cases = {
      {R"({"rows":[)" + ok + R"(,{"id":"x"}],"api_version":2})", 1, IngestError::no_destination},
      {R"({"rows":[)" + ok + R"(,{"project_id":"p","id":"x"}]})", 1, IngestError::bad_routing_key},
      {R"({"rows":[{"project_id":"p","log_id":"x","id":"x"}]})", 0, IngestError::bad_routing_key},
      {R"({"rows":[{"experiment_id":"e","log_id":"g"}]})", 0, IngestError::bad_routing_key},
      {R"({"rows":[{"prompt_session_id":"s","log_id":"x"}]})", 0, IngestError::bad_routing_key},
      {R"({"rows":[{"experiment_id":"e","dataset_id":"d"}]})", 0, IngestError::bad_routing_key},
      {R"({"rows":[{"experiment_id":"../x"}]})", 0, IngestError::bad_routing_key},
      {R"({"rows":[{"experiment_id":5}]})", 0, IngestError::bad_routing_key},
      {R"({"rows":[)" + ok + R"(,)" + ok + R"(,{"experiment_id":"e","id":7}]})", 2, IngestError::bad_id},
      {R"({"rows":[)" + ok + R"(,3]})", 1, IngestError::not_object},
      {std::string("{\"rows\":[") + ok + ",{\"experiment_id\":\"e\",\"a\":\"\xff\"}]}", 1,
       IngestError::invalid_utf8},
      {R"({"rows":[)" + ok + R"(],"api_version":1})", std::nullopt, IngestError::not_object},
      {R"({"rows":{"type":"logs3_overflow","key":"k"},"api_version":2})", std::nullopt,
       IngestError::not_object},
      {R"({"events":[]})", std::nullopt, IngestError::not_object},
      {R"({"rows":[)" + ok + "]} x", std::nullopt, IngestError::not_json},
  };
  EventParser parser;
  for (const auto& c : cases) {
    std::vector<IngestEvent> rows;
    const auto failure = parse_logs3_body(c.body, parser, rows);
    ASSERT_TRUE(failure) << c.body;
    EXPECT_EQ(failure->index, c.index) << c.body << ": " << failure->message;
    if (c.index) {
      EXPECT_EQ(to_string(failure->reason), to_string(c.reason)) << c.body;
      EXPECT_EQ(failure->message.rfind("row " + std::to_string(*c.index) + ":", 0), 0u) << failure->message;
      const std::string json = insert_failure_json(*failure, "row_index");
      EXPECT_NE(json.find("\"row_index\":" + std::to_string(*c.index)), std::string::npos) << json;
    }
  }
}

TEST(Logs3Body, SameLimitsAsTheNdjsonIngest) {
  IngestLimits limits;
  limits.max_depth = 3;
  limits.max_event_bytes = 200;
  EXPECT_FALSE(parse(R"({"rows":[{"experiment_id":"e","a":{"b":[1]}}]})", limits).failure);
  const auto deep = parse(R"({"rows":[{"experiment_id":"e","a":{"b":[{}]}}]})", limits);
  ASSERT_TRUE(deep.failure);
  EXPECT_EQ(deep.failure->reason, IngestError::too_deep);
  const auto large =
      parse(R"({"rows":[{"experiment_id":"e","a":")" + std::string(300, 'x') + "\"}]}", limits);
  ASSERT_TRUE(large.failure);
  EXPECT_EQ(large.failure->reason, IngestError::too_long);
}

}  // namespace
}  // namespace spanline::detail
