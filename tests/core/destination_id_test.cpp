#include "core/destination_id.hpp"

#include "destinations/destination_table.hpp"
#include "ingest/ndjson_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace spanline::detail {
namespace {

// Ids each entry point must refuse: path segments with a meaning, bytes a request
// target cannot carry literally, and the edges of the length rule.
const std::vector<std::string>& refused_ids() {
  static const std::vector<std::string> ids = {"",
                                               ".",
                                               "..",
                                               "a/b",
                                               "a?b",
                                               "a#b",
                                               "a%2e",
                                               "sp ace",
                                               "del\x7f",
                                               "nul" + std::string(1, '\0'),
                                               "caf\xc3\xa9",
                                               "\xff",
                                               "tab\t",
                                               std::string(129, 'x')};
  return ids;
}

TEST(DestinationId, AcceptsUuidsAndUrlSafeNames) {
  for (const std::string& id : std::vector<std::string>{"5a1e3c9e-4d2b-4f6a-9c1d-2b3e4f5a6b7c", "a", "...",
                                                        ".hidden", "v1.2_rc-3", std::string(128, 'x')}) {
    EXPECT_TRUE(valid_destination_id(id)) << id;
  }
}

TEST(DestinationId, RefusesWhatWouldNotBeOneLiteralPathSegment) {
  for (const auto& id : refused_ids()) {
    EXPECT_FALSE(valid_destination_id(id)) << printable_id(id);
    EXPECT_TRUE(destination_id_problem(id).has_value());
  }
  EXPECT_EQ(*destination_id_problem(".."),
            std::string_view("must not be \".\" or \"..\" (path segments with a meaning of their own)"));
}

TEST(DestinationId, PrintableIdEscapesEveryByteThatIsNotPrintableAscii) {
  EXPECT_EQ(printable_id("del\x7f"
                         "caf\xc3\xa9\\"),
            "del\\x7fcaf\\xc3\\xa9\\x5c");
  EXPECT_EQ(printable_id(std::string(100, 'a')), std::string(64, 'a') + "...");
}

// The library's entry point (Logger::destination registers through the table).
TEST(DestinationId, TheDestinationTableAppliesTheRule) {
  DestinationTable table;
  for (const auto& id : refused_ids()) {
    EXPECT_THROW((void)table.add(Destination::project(id)), std::invalid_argument) << printable_id(id);
    EXPECT_THROW((void)table.add(Destination::experiment(id)), std::invalid_argument) << printable_id(id);
  }
  EXPECT_NO_THROW((void)table.add(Destination::dataset("my_data.v2")));
  try {
    (void)table.add(Destination::project("bad\x1b[2Jid"));
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find('\x1b'), std::string::npos) << "the message shows the id escaped";
  }
}

// The NDJSON entry point: routing keys that name an object by id.
TEST(DestinationId, NdjsonRoutingKeysApplyTheRule) {
  EventParser parser(IngestLimits{});
  for (const std::string key : {"project_id", "experiment_id", "dataset_id"}) {
    for (const std::string id : {".", "..", "a/b", "caf\xc3\xa9", "x\\u007f"}) {
      IngestEvent event;
      const std::string line = "{\"" + key + "\":\"" + id + "\",\"input\":1}";
      const auto failure = parser.parse(line, Routing::strip, event);
      ASSERT_TRUE(failure.has_value()) << line;
      EXPECT_EQ(failure->reason, IngestError::bad_routing_key) << line;
    }
    IngestEvent event;
    const auto ok = parser.parse("{\"" + key + "\":\"p-1.v2\",\"input\":1}", Routing::strip, event);
    EXPECT_FALSE(ok.has_value()) << key;
  }
}

}  // namespace
}  // namespace spanline::detail
