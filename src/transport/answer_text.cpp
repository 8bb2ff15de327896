#include "transport/answer_text.hpp"

#include "spool/row_keys.hpp"

namespace spanline::detail {

namespace {
constexpr std::size_t kSnippetChars = 200;
}  // namespace

std::string snippet(std::string_view body, const std::string& secret) {
  std::string text(body);
  if (!secret.empty()) {
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  if (text.size() > kSnippetChars) {
    text.resize(kSnippetChars);
    text += "...";
  }
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

std::string first_refused_id(std::string_view event_json) {
  const auto id = find_row_id(event_json);
  if (!id) return {};
  return " (first refused row id \"" + snippet(*id, {}) + "\")";
}

std::string describe_failure(int status, const HttpResult& result) {
  if (result.ec) return std::string(result.step) + ": " + result.ec.message();
  return "HTTP " + std::to_string(status);
}

}  // namespace spanline::detail
