#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "store/sqlite.h"
#include "store/write_queue.h"

namespace duende::store {
namespace {

// The names of this process's threads, as `top -H` and `ps -L` read them.
std::set<std::string> ThreadNames() {
  std::set<std::string> names;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string name;
      if (std::getline(comm, name)) names.insert(name);
    }
    closedir(d);
  }
  return names;
}

TEST(StoreThreadNamesTest, TheWriterAndTheFinisherAreNamed) {
  auto db = Database::Open(":memory:");
  ASSERT_TRUE(db) << db.error().message;
  WriteQueue queue(**db);
  std::set<std::string> names;
  // The threads name themselves as they start.
  for (int attempt = 0; attempt < 200; ++attempt) {
    names = ThreadNames();
    if (names.contains("store-writer") && names.contains("store-finisher")) break;
    usleep(10000);
  }
  EXPECT_TRUE(names.contains("store-writer"));
  EXPECT_TRUE(names.contains("store-finisher"));
  queue.Stop();
}

}  // namespace
}  // namespace duende::store
