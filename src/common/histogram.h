// A fixed-bucket latency histogram for Prometheus metrics (issue 6).
// Observe() is lock-free (relaxed atomics), cheap enough for every request
// and every commit. Buckets are upper bounds in seconds, Prometheus' `le`.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace duende {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBoundsS = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};

  void Observe(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    size_t i = 0;
    while (i < kBoundsS.size() && s > kBoundsS[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(d.count()), std::memory_order_relaxed);
  }

  // Appends the `name_bucket`, `name_sum` and `name_count` lines; `labels` is
  // either empty or `key="value",...` without braces.
  void AppendPrometheus(std::string& out, const std::string& name, const std::string& labels) const {
    uint64_t cumulative = 0;
    const std::string sep = labels.empty() ? "" : ",";
    for (size_t i = 0; i <= kBoundsS.size(); ++i) {
      cumulative += buckets_[i].load(std::memory_order_relaxed);
      const std::string le = i < kBoundsS.size() ? FormatBound(kBoundsS[i]) : "+Inf";
      out += name + "_bucket{" + labels + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += name + "_sum" + braces + " " + std::to_string(static_cast<double>(sum_ns_.load()) / 1e9) + "\n";
    out += name + "_count" + braces + " " + std::to_string(cumulative) + "\n";
  }

 private:
  static std::string FormatBound(double b) {
    std::string s = std::to_string(b);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
  }
  std::array<std::atomic<uint64_t>, kBoundsS.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace duende
