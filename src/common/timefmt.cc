#include "common/timefmt.h"

#include <cstdio>
#include <ctime>

namespace duende {

int64_t ToUnixMicros(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

SystemTime FromUnixMicros(int64_t us) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(std::chrono::microseconds(us)));
}

std::string FormatIso8601(SystemTime t) {
  const int64_t us = ToUnixMicros(t);
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(frac));
  return buf;
}

Result<SystemTime> ParseIso8601(std::string_view s) {
  auto bad = [&] { return InvalidArgument("invalid ISO-8601 timestamp '" + std::string(s) + "'"); };
  int y, mo, d, h, mi, se;
  int n = 0;
  const std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
    return bad();
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return bad();
  size_t pos = 19;
  int64_t frac_us = 0;
  if (pos < str.size() && str[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < str.size() && str[pos] >= '0' && str[pos] <= '9') {
      if (digits < 6) frac_us = frac_us * 10 + (str[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad();
    for (int i = digits; i < 6; ++i) frac_us *= 10;
  }
  int offset_s = 0;
  const std::string_view rest = std::string_view(str).substr(pos);
  if (rest == "Z" || rest == "z" || rest.empty()) {
  } else if ((rest.size() == 6) && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2) return bad();
    offset_s = (oh * 3600 + om * 60) * (rest[0] == '-' ? -1 : 1);
  } else {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  // SystemTime counts nanoseconds in an int64_t: about the years 1678 to
  // 2261. Outside them the conversion would overflow.
  constexpr int64_t kMaxSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(SystemTime::duration::max()).count() - 1;
  if (secs > kMaxSeconds || secs < -kMaxSeconds) return bad();
  return FromUnixMicros(secs * 1000000 + frac_us);
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  const std::string orig(s);
  auto bad = [&] {
    return InvalidArgument("invalid duration '" + orig + "' (use a number with a unit: 500ms, 30s, 10m, 2h)");
  };
  if (s == "0") return std::chrono::milliseconds(0);
  if (s.empty()) return bad();
  double total_ms = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) return bad();
    double value = 0;
    try {
      value = std::stod(std::string(s.substr(0, i)));
    } catch (...) {
      return bad();
    }
    s.remove_prefix(i);
    double unit_ms;
    if (s.starts_with("ms")) {
      unit_ms = 1;
      s.remove_prefix(2);
    } else if (s.starts_with("s")) {
      unit_ms = 1000;
      s.remove_prefix(1);
    } else if (s.starts_with("m")) {
      unit_ms = 60000;
      s.remove_prefix(1);
    } else if (s.starts_with("h")) {
      unit_ms = 3600000;
      s.remove_prefix(1);
    } else if (s.starts_with("d")) {
      unit_ms = 86400000;
      s.remove_prefix(1);
    } else {
      return bad();
    }
    total_ms += value * unit_ms;
  }
  if (total_ms > 1e15) return bad();
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms % 1000 != 0 && ms < 1000) return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  const int64_t h = s / 3600;
  s %= 3600;
  const int64_t m = s / 60;
  s %= 60;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (s || out.empty()) out += std::to_string(s) + "s";
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace duende
