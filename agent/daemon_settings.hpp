#pragma once
// spanlined's settings registry: the library's entries (queue.*, batch.*, ... into
// DaemonConfig::library) followed by the daemon's own (ingest.*, proxy.*, admin.*,
// destination.*, log.*). The TOML file, the environment, the flags, --print-config and the
// generated help and references all read this one list (settings/registry.hpp).

#include "daemon_config.hpp"

#include "settings/registry.hpp"

#include <string>

namespace spanline::agent {

// destination.* are read apart and checked together once every source is applied: at most
// one may be set.
struct DestinationSettings {
  std::string project_id, project_name, experiment_id, dataset_id;
};

// What the settings write into while a configuration is read.
struct SettingsTarget {
  DaemonConfig config;
  DestinationSettings destination;
};

// The registry, built on first use; its defaults are default_config() without environment.
const settings::Registry<SettingsTarget>& daemon_settings();

}  // namespace spanline::agent
