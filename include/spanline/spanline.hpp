#pragma once
#include <spanline/destination.hpp>
#include <spanline/export.hpp>
#include <spanline/fields.hpp>
#include <spanline/logger.hpp>
#include <spanline/options.hpp>
#include <spanline/stats.hpp>
#include <spanline/version.hpp>
