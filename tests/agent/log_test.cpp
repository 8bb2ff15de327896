#include "log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace spanline::agent {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_log_text(out, text);
  return out;
}

TEST(LogText, PrintableAsciiAndValidUtf8AreKept) {
  EXPECT_EQ(escaped("bad input from /v1/project_logs/p/insert event 3"),
            "bad input from /v1/project_logs/p/insert event 3");
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(LogText, ControlBytesAndLineBreaksAreEscaped) {
  EXPECT_EQ(escaped("a\nwarn daemon: forged"), "a\\x0awarn daemon: forged");
  EXPECT_EQ(escaped("\r\t\x1b[31mred\x7f"), "\\x0d\\x09\\x1b[31mred\\x7f");
  EXPECT_EQ(escaped(std::string_view("nul\0byte", 8)), "nul\\x00byte");
}

TEST(LogText, BytesThatAreNotUtf8AreEscapedOneByOne) {
  EXPECT_EQ(escaped("/v1/x\xff\xfe"), "/v1/x\\xff\\xfe");
  EXPECT_EQ(escaped("\xc3("), "\\xc3(");                           // lead byte without its continuation
  EXPECT_EQ(escaped("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escaped("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong, three bytes
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a UTF-16 surrogate
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(escaped("\xe2\x82"), "\\xe2\\x82");                    // cut short at the end
}

TEST(LogText, InvisibleAndReorderingCharactersAreEscaped) {
  EXPECT_EQ(escaped("\xc2\x9b"), "\\u{009b}");  // C1 CSI
  EXPECT_EQ(escaped("a\xe2\x80\xa8"
                    "b"),
            "a\\u{2028}b");                         // line separator
  EXPECT_EQ(escaped("\xe2\x80\xae"), "\\u{202e}");  // right-to-left override
}

// log_line() is the daemon's one writer: what it writes to stderr is escaped.
TEST(LogText, LogLineWritesOneEscapedLine) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const int saved = ::dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_GE(::dup2(pipe_fds[1], STDERR_FILENO), 0);
  log_warn("http", "bad input from /v1/project_logs/p/insert?q=\xff\n\x1b]0;title\x07 event 0");
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(pipe_fds[1]);
  std::string written;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    written.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  const std::string prefix = ::getenv("JOURNAL_STREAM") != nullptr ? "<4>" : "";
  EXPECT_EQ(
      written,
      prefix +
          "warn http: bad input from /v1/project_logs/p/insert?q=\\xff\\x0a\\x1b]0;title\\x07 event 0\n");
}

}  // namespace
}  // namespace spanline::agent
