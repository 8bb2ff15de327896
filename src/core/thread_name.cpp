#include "core/thread_name.hpp"

#include <pthread.h>

namespace spanline::detail {

void name_this_thread(const std::string& name) noexcept {
  constexpr std::size_t kMaxLinuxThreadName = 15;
  const std::string cut = name.substr(0, kMaxLinuxThreadName);
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace spanline::detail
