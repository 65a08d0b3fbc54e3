// ManagerApp wires the Manager's object graph: store, job side (standalone),
// farm state machine, HTTP API and background services. main.cc and the
// tests build it from a Config.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/result.h"
#include "manager/config.h"

namespace duende::manager {

class ManagerApp {
 public:
  ManagerApp(Config config, Clock& clock);
  ~ManagerApp();

  // Opens the database, starts services and the HTTP server. Returns the
  // bound port.
  Result<uint16_t> Start();
  // Stops the HTTP server and services, then pushes what is still queued.
  void Stop();

  std::string version() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace duende::manager
