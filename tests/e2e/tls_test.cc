// HTTPS end to end (issue 9 §6): certificates from a private CA made at test
// time; a Manager serving HTTPS to a real worker and the CLI, and a linked
// Manager talking to a duende-server over HTTPS. Clients that do not trust
// the CA, or reach the Manager under a name its certificate does not carry,
// fail with one clear line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/farm.h"
#include "support/temp_dir.h"
#include "support/test_certs.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json SleepJob(const std::string& frames) {
  return {{"name", "tls"},
          {"job_type", "sleep"},
          {"settings", {{"frames", frames}, {"chunk_size", 1}, {"time_in_seconds", 0}}}};
}

std::vector<std::string> WorkerArgs(const std::string& ca) {
  std::vector<std::string> args = {"--task-types", "sleep", "--may-i-run-interval", "1s", "--poll-interval", "500ms"};
  if (!ca.empty()) {
    args.push_back("--ca-cert");
    args.push_back(ca);
  }
  return args;
}

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

// Runs the real `duende` binary; DUENDE_* variables of the test's
// environment do not leak in.
// `env` ("NAME=value ...") is set for the run.
CliRun RunCli(const TempDir& dir, const std::string& args, const std::string& env = "") {
  const std::string out = dir / "cli.out", err = dir / "cli.err";
  const std::string cmd = "env -u DUENDE_CA_CERT -u DUENDE_TOKEN -u DUENDE_MANAGER " + env + " " + BinPath("duende") +
                          " " + args + " >" + out + " 2>" + err;
  CliRun r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

class TlsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The certificate names 127.0.0.1 only: "localhost" is a wrong name.
    ASSERT_TRUE(MakeTestCerts(dir_.path(), "IP:127.0.0.1", certs_)) << "openssl failed, see " << dir_.path();
  }
  std::string TlsConfig() const { return "tlscert: " + certs_.server_cert + "\ntlskey: " + certs_.server_key + "\n"; }

  TempDir dir_;
  TestCerts certs_;
};

TEST_F(TlsE2ETest, WorkerAndCliTrustingThePrivateCaUseAnHttpsManager) {
  ManagerProcess manager(dir_ / "manager", TlsConfig());
  ASSERT_TRUE(manager.url().starts_with("https://127.0.0.1:")) << manager.url() << manager.process().Log();
  manager.TrustCa(certs_.ca);
  WorkerProcess worker(manager.url(), dir_ / "worker", "w1", WorkerArgs(certs_.ca));
  const std::string job = manager.SubmitJob(SleepJob("1-4"));
  ASSERT_FALSE(job.empty()) << manager.process().Log();
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 60s)) << worker.process().Log();

  const std::string common = "--manager " + manager.url() + " --token-file " + manager.token_file();
  auto ok = RunCli(dir_, common + " --ca-cert " + certs_.ca + " jobs");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("completed"), std::string::npos) << ok.out;
  // $DUENDE_CA_CERT works as the flag does.
  auto env = RunCli(dir_, common + " job " + job, "DUENDE_CA_CERT=" + certs_.ca);
  EXPECT_EQ(env.exit_code, 0) << env.err;
}

TEST_F(TlsE2ETest, ClientsWithoutTheCaOrWithAWrongNameFailWithOneClearLine) {
  ManagerProcess manager(dir_ / "manager", TlsConfig());
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  const std::string token = " --token-file " + manager.token_file() + " jobs";

  // The system CA store does not know the private CA; nor does another CA.
  for (const std::string& ca : {std::string(), " --ca-cert " + certs_.other_ca}) {
    auto r = RunCli(dir_, "--manager " + manager.url() + ca + token);
    EXPECT_EQ(r.exit_code, 3) << r.err;  // unreachable
    EXPECT_TRUE(r.err.starts_with("duende: error: ")) << r.err;
    EXPECT_NE(r.err.find("certificate"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // The right CA, but a name the certificate does not carry.
  const std::string wrong_name = "https://localhost:" + std::to_string(manager.port());
  auto r = RunCli(dir_, "--manager " + wrong_name + " --ca-cert " + certs_.ca + token);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("subject name"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // A CA path that does not exist is a usage error, before any request.
  r = RunCli(dir_, "--manager " + manager.url() + " --ca-cert " + (dir_ / "nope.pem") + token);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("nope.pem"), std::string::npos) << r.err;

  // A worker without the CA does not register and says why in its log.
  WorkerProcess worker(manager.url(), dir_ / "worker", "w1", WorkerArgs(""));
  EXPECT_TRUE(WaitFor([&] { return worker.process().Log().find("certificate") != std::string::npos; }, 30s))
      << worker.process().Log();
  EXPECT_EQ(manager.Get("/api/workers"), nullptr);  // (this client does not trust the CA either)
  manager.TrustCa(certs_.ca);
  EXPECT_TRUE(manager.Get("/api/workers")["workers"].empty());
}

TEST_F(TlsE2ETest, LinkedManagerReachesAnHttpsServerWithThePrivateCa) {
  const std::string server_dir = dir_ / "server";
  std::filesystem::create_directories(server_dir);
  Process server({BinPath("duende-server"), "--listen", "127.0.0.1:0", "--data-dir", server_dir, "--tls-cert",
                  certs_.server_cert, "--tls-key", certs_.server_key},
                 server_dir + "/server.log");
  const std::string server_url = WaitForUrlFile(server_dir + "/server.url", 20s);
  ASSERT_FALSE(server_url.empty()) << server.Log();
  ASSERT_TRUE(server_url.starts_with("https://")) << server_url;
  std::string server_token;
  std::getline(std::ifstream(server_dir + "/admin-token") >> std::ws, server_token);
  auto client = http::MakeCurlClient("duende-tests", http::ClientOptions{certs_.ca});
  auto call = [&](const std::string& method, const std::string& path, const json& body) {
    http::ClientRequest r{method, server_url + path};
    r.headers.emplace_back("Authorization", "Bearer " + server_token);
    if (!body.is_null()) r.body = body.dump();
    return client->Send(r).value_or(http::ClientResponse{});
  };
  auto created = call("POST", "/api/managers", {{"name", "site"}});
  ASSERT_EQ(created.status, 201) << created.body << server.Log();
  const json site = json::parse(created.body);

  // The linked Manager itself serves plain HTTP to its worker.
  ManagerProcess manager(dir_ / "site", "flamenco: " + server_url + "\nmanager_id: " + site["_id"].get<std::string>() +
                                            "\nmanager_secret: " + site["token"].get<std::string>() +
                                            "\nupstream_ca_path: " + certs_.ca +
                                            "\ndownload_task_sleep: 1s\ndownload_task_recheck_throttle: 200ms\n"
                                            "task_update_push_max_interval: 300ms\n");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  ASSERT_TRUE(manager.url().starts_with("http://"));
  WorkerProcess worker(manager.url(), dir_ / "worker", "w1", WorkerArgs(""));
  auto submitted = call("POST", "/api/jobs", SleepJob("1-4"));
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string job = json::parse(submitted.body)["_id"];
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = call("GET", "/api/jobs/" + job, nullptr);
        auto j = json::parse(r.body, nullptr, false);
        return j.is_object() && j.value("status", "") == "completed";
      },
      60s))
      << manager.process().Log();
  server.Signal(SIGTERM);
  server.Wait(10s);
}

}  // namespace
}  // namespace duende::testing
