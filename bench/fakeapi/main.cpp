// spanline-fakeapi: the fake Braintrust API as a process, for the load harness
// and the demo. Prints "listening on http://HOST:PORT" as its first line, then
// serves until SIGINT or SIGTERM and exits 0.

#include "fake_api.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <pthread.h>
#include <string>

namespace {

using spanline::fakeapi::FakeApi;
using spanline::fakeapi::ServerConfig;
using spanline::fakeapi::StoreMode;

// "HOST:PORT" with a numeric port; throws CLI::ValidationError otherwise.
void parse_listen(const std::string& text, ServerConfig& config) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw CLI::ValidationError("--listen", "expected HOST:PORT, got '" + text + "'");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  const unsigned long value = std::strtoul(port.c_str(), &end, 10);
  if (*end != '\0' || value > 65535 || port.find_first_not_of("0123456789") != std::string::npos) {
    throw CLI::ValidationError("--listen", "port must be a number in 0..65535, got '" + port + "'");
  }
  config.host = host == "localhost" ? "127.0.0.1" : host;
  config.port = static_cast<std::uint16_t>(value);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spanline-fakeapi: a fake Braintrust API server for tests and load runs"};
  ServerConfig config;
  std::string listen = "127.0.0.1:0";
  std::string store = "full";

  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0 picks a free one)")
      ->capture_default_str();
  app.add_option("--api-key", config.api_key,
                 "require 'Authorization: Bearer KEY' on /v1 and /version (default: no auth)")
      ->envname("SPANLINE_FAKEAPI_API_KEY");
  app.add_option("--login-api-url", config.login_api_url,
                 "api_url answered by POST /api/apikey/login (default: this server's own URL)");
  app.add_option("--max-payload-bytes", config.max_payload_bytes,
                 "largest accepted body, compressed or decoded (413 beyond)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--store", store, "full: keep rows; ids: keep only ids and counts")
      ->capture_default_str()
      ->check(CLI::IsMember({"full", "ids"}));
  app.add_option("--threads", config.threads, "io threads")->capture_default_str()->check(CLI::Range(1u, 256u));
  app.add_option("--seed", config.faults.seed, "fault PRNG seed")->capture_default_str();
  app.add_option("--fail-429", config.faults.fail_429, "ratio of requests answered 429")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--retry-after", config.faults.retry_after_s, "Retry-After seconds sent with 429")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fail-5xx", config.faults.fail_5xx, "ratio of requests answered 503")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--latency-ms", config.faults.latency_ms, "delay before every answer")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--reset", config.faults.reset, "ratio of connections reset instead of answered")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--outage-start-s", config.faults.outage_start_s,
                 "seconds after start when the outage begins (every /v1 answer is 503)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--outage-duration-s", config.faults.outage_duration_s, "outage length in seconds")
      ->check(CLI::NonNegativeNumber);
  auto* cert = app.add_option("--tls-cert", config.tls_cert_file, "PEM certificate chain: serve HTTPS")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--tls-key", config.tls_key_file, "PEM private key for --tls-cert")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);

  try {
    app.parse(argc, argv);
    parse_listen(listen, config);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  config.store = store == "ids" ? StoreMode::ids : StoreMode::full;
  if (config.faults.outage_duration_s > 0 && config.faults.outage_start_s < 0) {
    config.faults.outage_start_s = 0;
  }

  // Block the stop signals in every thread (the io threads inherit this mask), so
  // only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    FakeApi api(config);
    std::string url = api.base_url();
    if (config.host != "127.0.0.1") {
      url = std::string(config.tls_cert_file.empty() ? "http" : "https") + "://" +
            (config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host) + ":" +
            std::to_string(api.port());
    }
    std::cout << "listening on " << url << std::endl;  // endl flushes: parents wait for this line

    int signal = 0;
    sigwait(&stop_signals, &signal);
    api.stop();
    std::cerr << "spanline-fakeapi: stopped by signal " << signal << "\n";
  } catch (const std::exception& e) {
    std::cerr << "spanline-fakeapi: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
