// Cost of the /logfile head+tail page versus log size: it reads only the
// head and the tail with pread, so a 1 GiB log costs what a 1 MiB one does.
//
//   build-logs/bench/log_serving_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "manager/log_api.h"

namespace {

// A log of `size` bytes: real lines at the start and the end, a sparse hole
// in between (the page never reads it).
int MakeLog(uint64_t size) {
  char name[] = "/tmp/duende-bench-log-XXXXXX";
  const int fd = ::mkstemp(name);
  if (fd < 0) std::abort();
  ::unlink(name);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) std::abort();
  std::string lines;
  while (lines.size() < 64 * 1024) lines += "2027-01-15T08:00:00.000000Z: pid=42 > Fra:1 Mem:12.5M | Rendering tile\n";
  if (::pwrite(fd, lines.data(), lines.size(), 0) < 0) std::abort();
  if (::pwrite(fd, lines.data(), lines.size(), static_cast<off_t>(size - lines.size())) < 0) std::abort();
  return fd;
}

void BM_HeadAndTail(benchmark::State& state) {
  const uint64_t size = static_cast<uint64_t>(state.range(0)) << 20;
  const int fd = MakeLog(size);
  duende::manager::LogServingOptions options;
  for (auto _ : state) {
    auto page = duende::manager::HeadAndTail(fd, size, options, "http://manager/logfile/a/b");
    benchmark::DoNotOptimize(page);
  }
  ::close(fd);
  state.SetLabel(std::to_string(state.range(0)) + " MiB log");
}
BENCHMARK(BM_HeadAndTail)->Arg(1)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
