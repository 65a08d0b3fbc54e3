#include "common/ids.h"

#include <sodium.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace duende {
namespace {

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // programmer/system error: no CSPRNG
  });
}

}  // namespace

std::string NewObjectId() {
  EnsureSodium();
  static const uint64_t kProcessRandom = [] {
    uint64_t r = 0;
    randombytes_buf(&r, sizeof r);
    return r;
  }();
  static std::atomic<uint32_t> counter{randombytes_random()};
  const auto secs = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const uint32_t c = counter.fetch_add(1, std::memory_order_relaxed);
  unsigned char b[12];
  b[0] = secs >> 24;
  b[1] = secs >> 16;
  b[2] = secs >> 8;
  b[3] = secs;
  for (int i = 0; i < 5; ++i) b[4 + i] = static_cast<unsigned char>(kProcessRandom >> (8 * i));
  b[9] = c >> 16;
  b[10] = c >> 8;
  b[11] = c;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(24, '0');
  for (int i = 0; i < 12; ++i) {
    out[2 * i] = kHex[b[i] >> 4];
    out[2 * i + 1] = kHex[b[i] & 15];
  }
  return out;
}

bool IsObjectId(std::string_view id) {
  if (id.size() != 24) return false;
  for (char ch : id) {
    const bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string RandomToken(size_t length) {
  EnsureSodium();
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(length, 'x');
  for (auto& ch : out) ch = kAlphabet[randombytes_uniform(sizeof(kAlphabet) - 1)];
  return out;
}

}  // namespace duende
