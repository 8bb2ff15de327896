#include "thread_cpu_clock.hpp"

#include <cerrno>
#include <ctime>
#include <system_error>

namespace spanline::load {

double thread_cpu_seconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
    throw std::system_error(errno, std::generic_category(), "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace spanline::load
