#include "fake_api.hpp"

#include "server.hpp"
#include "service.hpp"

#include <stdexcept>

namespace spanline::fakeapi {

FakeApi::FakeApi(ServerConfig config) {
  if (config.threads == 0) throw std::invalid_argument("fake API: threads must be >= 1");
  if (config.idle_timeout.count() <= 0) throw std::invalid_argument("fake API: idle_timeout must be > 0");
  service_ = std::make_shared<detail::Service>(config);
  server_ = std::make_unique<detail::Server>(config, service_);
  server_->start(config.threads);  // last: everything it touches exists
}

FakeApi::~FakeApi() {
  try {
    stop();
  } catch (...) {
    // Nothing may escape a destructor.
  }
}

std::uint16_t FakeApi::port() const { return server_->port(); }

std::string FakeApi::base_url() const {
  return std::string(server_->tls() ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}

void FakeApi::stop() { server_->stop(); }

StatsSnapshot FakeApi::stats() const { return service_->stats(); }
std::string FakeApi::stats_json() const { return service_->stats_json(); }
void FakeApi::reset() { service_->reset(); }
void FakeApi::set_faults(FaultConfig faults) { service_->set_faults(faults); }
FaultConfig FakeApi::faults() const { return service_->faults(); }
std::vector<RequestRecord> FakeApi::request_log() const { return service_->request_log(); }

std::optional<boost::json::object> FakeApi::row(std::string_view kind, std::string_view object_id,
                                                std::string_view row_id) const {
  return service_->store().row(kind, object_id, row_id);
}

std::size_t FakeApi::row_count(std::string_view kind, std::string_view object_id) const {
  return service_->store().row_count(kind, object_id);
}

std::string FakeApi::project_id(std::string_view name) const {
  auto project = service_->projects().by_name(name);
  if (!project) return {};
  return std::string(project->at("id").as_string());
}

}  // namespace spanline::fakeapi
