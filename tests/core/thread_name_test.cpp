#include "core/thread_name.hpp"

#include <spanline/spanline.hpp>

#include <gtest/gtest.h>

#include <pthread.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

namespace spanline::detail {
namespace {

std::string name_of(pthread_t thread) {
  char name[32] = {};
  EXPECT_EQ(pthread_getname_np(thread, name, sizeof name), 0);
  return name;
}

// The names of every thread of this process, as top -H shows them.
std::set<std::string> thread_names() {
  std::set<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.insert(name);
  }
  return names;
}

TEST(ThreadName, NamesTheCallingThread) {
  std::string seen;
  std::thread worker([&] {
    name_this_thread("sl-test");
    seen = name_of(pthread_self());
  });
  worker.join();
  EXPECT_EQ(seen, "sl-test");
}

TEST(ThreadName, CutsNamesToWhatLinuxKeeps) {
  std::string seen;
  std::thread worker([&] {
    name_this_thread("sl-a-very-long-thread-name");
    seen = name_of(pthread_self());
  });
  worker.join();
  EXPECT_EQ(seen, "sl-a-very-long-");
}

TEST(ThreadName, LoggerThreadsCarryTheirNames) {
  using namespace std::chrono_literals;
  // Nothing listens here; no row is logged, so nothing is sent.
  Logger logger(Options{.api_key = "k", .api_url = "http://127.0.0.1:9"});
  // Each thread names itself as its first step; wait for that, not for a fixed time.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  const std::set<std::string> expected = {"sl-sender", "sl-batcher", "sl-encode-0"};
  std::set<std::string> missing = expected;
  while (!missing.empty() && std::chrono::steady_clock::now() < deadline) {
    const std::set<std::string> names = thread_names();
    std::erase_if(missing, [&](const std::string& name) { return names.count(name) > 0; });
    if (!missing.empty()) std::this_thread::sleep_for(1ms);
  }
  for (const std::string& name : missing) ADD_FAILURE() << "no thread is named " << name;
  (void)logger.shutdown(0ms);
}

}  // namespace
}  // namespace spanline::detail
