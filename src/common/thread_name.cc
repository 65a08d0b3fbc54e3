#include "common/thread_name.h"

#include <pthread.h>

namespace duende {

void NameThisThread(std::string_view name) {
  // pthread_setname_np refuses names over 15 characters: cut them.
  const std::string cut(name.substr(0, 15));
  pthread_setname_np(pthread_self(), cut.c_str());
}

std::string ThisThreadName() {
  char buf[16] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0) return "";
  return buf;
}

}  // namespace duende
