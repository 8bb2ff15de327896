# Every dependency comes from a Debian 12 package (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json url)
find_package(simdjson REQUIRED)
find_package(zstd REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
# The daemon's TOML file and command line (agent/daemon_config.cpp), and the benchmark tools'
# command lines: found here so that a missing one fails at configure time. Debian 12 ships
# CMake configs for both (libtomlplusplus-dev: tomlplusplus::tomlplusplus, a shared library;
# libcli11-dev: CLI11::CLI11, header-only).
if(SPANLINE_BUILD_AGENT)
  find_package(tomlplusplus 3 REQUIRED)
endif()
if(SPANLINE_BUILD_AGENT OR SPANLINE_BUILD_BENCH)
  find_package(CLI11 2 REQUIRED)
endif()

find_path(CONCURRENTQUEUE_INCLUDE_DIR concurrentqueue/concurrentqueue.h REQUIRED)

# One interface target that carries every private dependency of our targets.
add_library(spanline_deps INTERFACE)
target_include_directories(spanline_deps SYSTEM INTERFACE ${CONCURRENTQUEUE_INCLUDE_DIR})
if(TARGET zstd::libzstd_shared)
  set(spanline_zstd zstd::libzstd_shared)
else()
  set(spanline_zstd zstd::libzstd_static)
endif()
target_link_libraries(spanline_deps INTERFACE
  Boost::headers Boost::json Boost::url simdjson::simdjson ${spanline_zstd}
  OpenSSL::SSL OpenSSL::Crypto ZLIB::ZLIB Threads::Threads)
# Beast and Asio are header-only; this keeps them consistent across our TUs. (Beast's
# string_view is Boost 1.81's core::string_view, which converts to and from
# std::string_view; BOOST_BEAST_USE_STD_STRING_VIEW is deprecated and only printed a
# #pragma message in every TU.)
target_compile_definitions(spanline_deps INTERFACE
  BOOST_ASIO_NO_DEPRECATED)
# ThreadSanitizer does not model standalone fences. Asio's "fenced block" around handler
# calls is one; the hand-off it guards is already ordered by the scheduler's mutex, which
# TSan does see. Without it TSan can follow Asio, and GCC stops warning
# (-Wtsan) in every TU that includes it. Every TU must agree (ODR), hence here.
if("thread" IN_LIST SPANLINE_SANITIZE)
  target_compile_definitions(spanline_deps INTERFACE BOOST_ASIO_DISABLE_FENCED_BLOCK)
endif()
