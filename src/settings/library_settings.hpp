#pragma once
// The library's settings (every field of spanline::Options), registered once.

#include "settings/registry.hpp"

#include <spanline/options.hpp>

namespace spanline::settings {

const Registry<Options>& library_settings();

}  // namespace spanline::settings
