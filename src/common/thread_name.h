// Thread names: what `top -H`, `ps -L`, perf and gdb show for each of a
// daemon's threads (the store writer, the upstream link, the I/O threads),
// so an operator can tell which one is busy.
#pragma once

#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace duende {

// Names the calling thread. Linux keeps the first 15 characters.
void NameThisThread(std::string_view name);
// The calling thread's name ("" when it cannot be read).
std::string ThisThreadName();

// A std::jthread named `name` that runs fn(stop_token).
template <typename F>
std::jthread NamedThread(std::string name, F fn) {
  return std::jthread([name = std::move(name), fn = std::move(fn)](std::stop_token stop) mutable {
    NameThisThread(name);
    fn(std::move(stop));
  });
}

}  // namespace duende
