// Access control for people: the route policy as a table, token and
// password checks, roles, sessions, the per-address failure rate limit and
// the first-start admin token.
#include "manager/access.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "http/http.h"
#include "manager/worker_auth.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

using nlohmann::json;
using Kind = Requirement::Kind;

struct PolicyCase {
  const char* method;
  const char* route;
  Kind kind;
  Role role;
};

// Every route the Manager and the Server register today, with what it needs. A new route
// that is not listed here falls to "admin" (closed by default).
TEST(AccessPolicyTest, EveryEndpointHasTheRequirementOfItsRole) {
  const PolicyCase cases[] = {
      // Public: health, registration (its own optional secret), login, the
      // dashboard's static files.
      {"GET", "/api/health", Kind::kPublic, Role::kViewer},
      {"POST", "/register-worker", Kind::kPublic, Role::kViewer},
      {"POST", "/api/auth/login", Kind::kPublic, Role::kViewer},
      {"POST", "/api/auth/logout", Kind::kPublic, Role::kViewer},
      {"GET", "/", Kind::kPublic, Role::kViewer},
      {"GET", "/index.html", Kind::kPublic, Role::kViewer},
      {"GET", "/assets/{}", Kind::kPublic, Role::kViewer},
      // Flamenco v2 worker endpoints: HTTP Basic worker auth in the handlers.
      {"POST", "/sign-on", Kind::kWorker, Role::kViewer},
      {"POST", "/sign-off", Kind::kWorker, Role::kViewer},
      {"POST", "/task", Kind::kWorker, Role::kViewer},
      {"POST", "/tasks/{id}/update", Kind::kWorker, Role::kViewer},
      {"POST", "/tasks/{id}/return", Kind::kWorker, Role::kViewer},
      {"GET", "/may-i-run/{id}", Kind::kWorker, Role::kViewer},
      {"GET", "/status-change", Kind::kWorker, Role::kViewer},
      {"POST", "/ack-status-change/{status}", Kind::kWorker, Role::kViewer},
      {"POST", "/output-produced", Kind::kWorker, Role::kViewer},
      // duende-server's Manager-facing endpoints: the Manager's token, checked
      // by the handlers.
      {"GET", "/api/flamenco/managers/{id}", Kind::kWorker, Role::kViewer},
      {"GET", "/api/flamenco/managers/{id}/depsgraph", Kind::kWorker, Role::kViewer},
      {"POST", "/api/flamenco/managers/{id}/task-update-batch", Kind::kWorker, Role::kViewer},
      {"POST", "/api/flamenco/managers/{id}/attach-task-log/{task}", Kind::kWorker, Role::kViewer},
      {"POST", "/api/flamenco/managers/{id}/startup", Kind::kWorker, Role::kViewer},
      {"POST", "/api/flamenco/managers/{id}/update", Kind::kWorker, Role::kViewer},
      {"GET", "/api/flamenco/tasks/{id}", Kind::kWorker, Role::kViewer},
      // Viewers read.
      {"GET", "/api/managers", Kind::kUser, Role::kViewer},
      {"GET", "/api/managers/{id}", Kind::kUser, Role::kViewer},
      {"GET", "/api/tasks/{id}/uploaded-log", Kind::kUser, Role::kViewer},
      {"GET", "/api/jobs", Kind::kUser, Role::kViewer},
      {"GET", "/api/jobs/{id}", Kind::kUser, Role::kViewer},
      {"GET", "/api/jobs/{id}/tasks", Kind::kUser, Role::kViewer},
      {"GET", "/api/tasks/{id}", Kind::kUser, Role::kViewer},
      {"GET", "/api/tasks/{id}/log", Kind::kUser, Role::kViewer},
      {"GET", "/api/tasks/{id}/log/follow", Kind::kUser, Role::kViewer},
      {"GET", "/api/tasks/{id}/explain", Kind::kUser, Role::kViewer},
      {"GET", "/api/workers", Kind::kUser, Role::kViewer},
      {"GET", "/api/workers/{id}", Kind::kUser, Role::kViewer},
      {"GET", "/api/workers/{id}/sleep-schedule", Kind::kUser, Role::kViewer},
      {"GET", "/api/blacklist", Kind::kUser, Role::kViewer},
      {"GET", "/api/events", Kind::kUser, Role::kViewer},
      {"GET", "/api/manager", Kind::kUser, Role::kViewer},
      {"GET", "/api/auth/session", Kind::kUser, Role::kViewer},
      {"HEAD", "/api/jobs", Kind::kUser, Role::kViewer},
      {"GET", "/logfile/{job}/{task}", Kind::kUser, Role::kViewer},
      {"GET", "/metrics", Kind::kUser, Role::kViewer},
      // Operators act on jobs, tasks and workers.
      {"POST", "/api/jobs", Kind::kUser, Role::kOperator},
      {"POST", "/api/jobs/{id}/status", Kind::kUser, Role::kOperator},
      {"POST", "/api/jobs/{id}/priority", Kind::kUser, Role::kOperator},
      {"DELETE", "/api/jobs/{id}", Kind::kUser, Role::kOperator},
      {"POST", "/api/tasks/{id}/log-request", Kind::kUser, Role::kOperator},
      {"POST", "/api/workers/status", Kind::kUser, Role::kOperator},
      {"POST", "/api/workers/{id}/status", Kind::kUser, Role::kOperator},
      {"POST", "/api/workers/{id}/ack-timeout", Kind::kUser, Role::kOperator},
      {"POST", "/api/workers/{id}/forget", Kind::kUser, Role::kOperator},
      {"DELETE", "/api/workers/{id}", Kind::kUser, Role::kOperator},
      {"PUT", "/api/workers/{id}/sleep-schedule", Kind::kUser, Role::kOperator},
      {"POST", "/api/workers/{id}/sleep-schedule", Kind::kUser, Role::kOperator},
      {"DELETE", "/api/workers/{id}/sleep-schedule", Kind::kUser, Role::kOperator},
      {"POST", "/api/blacklist/forget", Kind::kUser, Role::kOperator},
      // Admins: users and tokens; anything unclassified.
      {"GET", "/api/auth/users", Kind::kUser, Role::kAdmin},
      {"POST", "/api/job-types/reload", Kind::kUser, Role::kAdmin},
      {"GET", "/api/job-types", Kind::kUser, Role::kViewer},
      {"GET", "/api/job-types/{name}", Kind::kUser, Role::kViewer},
      {"POST", "/api/managers", Kind::kUser, Role::kAdmin},
      {"POST", "/api/managers/{id}/revoke", Kind::kUser, Role::kAdmin},
      {"POST", "/api/something-new", Kind::kUser, Role::kAdmin},
      {"GET", "/something-new", Kind::kUser, Role::kAdmin},
      {"POST", "/metrics", Kind::kUser, Role::kAdmin},
  };
  for (const auto& c : cases) {
    const Requirement r = RequirementFor(c.method, c.route);
    EXPECT_EQ(r.kind, c.kind) << c.method << " " << c.route;
    if (c.kind == Kind::kUser) {
      EXPECT_EQ(r.role, c.role) << c.method << " " << c.route;
    }
  }
}

class AccessTest : public ::testing::Test {
 protected:
  static constexpr const char* kViewerToken = "viewer-token-0123456789";
  static constexpr const char* kOperatorToken = "operator-token-0123456789";
  static constexpr const char* kAdminToken = "admin-token-0123456789";

  AccessTest() {
    AccessOptions o;
    // Cheap hashes (HashSecret's limits) keep the test fast; verification
    // reads the limits from the hash string.
    o.users = {
        UserConfig{"vera", Role::kViewer, "", *HashSecret(kViewerToken)},
        UserConfig{"otto", Role::kOperator, *HashSecret("otto-password"), *HashSecret(kOperatorToken)},
        UserConfig{"ada", Role::kAdmin, "", *HashSecret(kAdminToken)},
    };
    o.failure_burst = 3;
    o.failure_refill = std::chrono::seconds(10);
    o.session_idle_timeout = std::chrono::minutes(30);
    access_ = std::make_unique<AccessControl>(std::move(o), clock_);
  }

  static http::Request Req(std::string method, std::string route, std::string authorization = "",
                           std::string remote = "10.0.0.1") {
    http::Request r;
    r.method = std::move(method);
    r.path = route;
    r.route = std::move(route);
    r.remote_host = std::move(remote);
    r.headers.emplace_back("host", "farm:8080");
    if (!authorization.empty()) r.headers.emplace_back("authorization", std::move(authorization));
    return r;
  }
  int StatusOf(http::Request r) {
    auto refused = access_->Check(r);
    return refused ? refused->status : 200;
  }

  testing::FakeClock clock_;
  std::unique_ptr<AccessControl> access_;
};

TEST_F(AccessTest, RolesAllowWhatTheyShouldAndRefuseTheRestWith403) {
  const std::string viewer = std::string("Bearer ") + kViewerToken;
  const std::string op = std::string("Bearer ") + kOperatorToken;
  const std::string admin = std::string("Bearer ") + kAdminToken;
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", viewer)), 200);
  EXPECT_EQ(StatusOf(Req("POST", "/api/jobs", viewer)), 403);
  EXPECT_EQ(StatusOf(Req("POST", "/api/jobs", op)), 200);
  EXPECT_EQ(StatusOf(Req("POST", "/api/blacklist/forget", op)), 200);
  EXPECT_EQ(StatusOf(Req("GET", "/api/auth/users", op)), 403);
  EXPECT_EQ(StatusOf(Req("GET", "/api/auth/users", admin)), 200);
  EXPECT_EQ(StatusOf(Req("POST", "/api/jobs", admin)), 200);

  auto r = Req("POST", "/api/workers/status", viewer);
  auto refused = access_->Check(r);
  ASSERT_TRUE(refused);
  auto body = json::parse(refused->body);
  EXPECT_EQ(body["message"], "user 'vera' (viewer) may not do this: it needs the operator role");
}

TEST_F(AccessTest, MissingOrWrongCredentialsAre401WithAMessageAndNoBasicChallenge) {
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs")), 401);
  EXPECT_EQ(StatusOf(Req("GET", "/metrics", "Bearer nope")), 401);
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", "Basic dXNlcjpwYXNz")), 401);
  auto r = Req("GET", "/api/jobs", "Bearer nope", "10.0.0.2");
  auto refused = access_->Check(r);
  ASSERT_TRUE(refused);
  EXPECT_EQ(json::parse(refused->body)["message"], "unknown API token");
  ASSERT_EQ(refused->headers.size(), 1u);
  // A Basic challenge would make the browser pop up its own dialog.
  EXPECT_EQ(refused->headers[0].second, "Bearer realm=\"Duende\"");
  // Public and worker routes are not the guard's business.
  EXPECT_EQ(StatusOf(Req("GET", "/api/health")), 200);
  EXPECT_EQ(StatusOf(Req("POST", "/register-worker")), 200);
  EXPECT_EQ(StatusOf(Req("POST", "/tasks/{id}/update", "Basic d29ya2VyOnNlY3JldA==")), 200);
}

TEST_F(AccessTest, FailuresFromOneAddressAreRateLimitedUntilTheBucketRefills) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", "Bearer wrong")), 401) << i;
  // Blocked: even the right (never verified) token is not checked now.
  auto r = Req("GET", "/api/jobs", std::string("Bearer ") + kOperatorToken);
  auto refused = access_->Check(r);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_TRUE(json::parse(refused->body)["message"].get<std::string>().starts_with("too many failed logins"));
  bool has_retry_after = false;
  for (const auto& [k, v] : refused->headers)
    if (k == "Retry-After") has_retry_after = v == "10";
  EXPECT_TRUE(has_retry_after);
  // Another address is not affected; a password login from this one is
  // refused as well.
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", std::string("Bearer ") + kViewerToken, "10.0.0.9")), 200);
  EXPECT_EQ(access_->Login("10.0.0.1", "otto", "otto-password", "").error().code, ErrorCode::kTooManyRequests);
  // One refill period later one more attempt is allowed.
  clock_.Advance(std::chrono::seconds(10));
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", std::string("Bearer ") + kOperatorToken)), 200);
  // A token verified before passes even while its address is blocked.
  for (int i = 0; i < 3; ++i) StatusOf(Req("GET", "/api/jobs", "Bearer wrong"));
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", "Bearer wrong")), 429);
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", std::string("Bearer ") + kOperatorToken)), 200);
}

// The per-address failure map: buckets that refilled are dropped on a time
// basis (not only when the map is large), and a flood from more addresses
// than failure_max_addresses cannot grow it: those addresses share one
// bucket, so the flood is still rate limited.
TEST(AccessFailureMapTest, RefilledBucketsArePrunedAndAFloodOfAddressesIsBounded) {
  testing::FakeClock clock;
  AccessOptions o;
  o.users = {UserConfig{"vera", Role::kViewer, "", *HashSecret("viewer-token-0123456789")}};
  o.failure_burst = 3;
  o.failure_refill = std::chrono::seconds(10);
  o.failure_max_addresses = 8;
  AccessControl access(std::move(o), clock);
  auto status = [&](const std::string& remote) {
    http::Request r;
    r.method = "GET";
    r.path = r.route = "/api/jobs";
    r.remote_host = remote;
    r.headers.emplace_back("authorization", "Bearer wrong");
    auto refused = access.Check(r);
    return refused ? refused->status : 200;
  };

  for (int i = 1; i <= 5; ++i) EXPECT_EQ(status("10.0.0." + std::to_string(i)), 401);
  EXPECT_EQ(access.TrackedAddresses(), 5u);
  clock.Advance(std::chrono::seconds(9));
  EXPECT_EQ(status("10.0.1.1"), 401);
  EXPECT_EQ(access.TrackedAddresses(), 6u) << "not refilled yet: kept";
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(status("10.0.1.2"), 401);
  EXPECT_EQ(access.TrackedAddresses(), 2u) << "the five refilled buckets were dropped";

  // A flood from 30 addresses: 6 more get a bucket of their own, the rest
  // share one (3 failures, then 429 for all of them).
  std::vector<int> statuses;
  for (int i = 1; i <= 30; ++i) statuses.push_back(status("10.1.0." + std::to_string(i)));
  EXPECT_EQ(access.TrackedAddresses(), 8u);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 401), 6 + 3);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 429), 30 - 9);
  EXPECT_EQ(status("10.2.0.1"), 429) << "a new address in the flood is limited too";
  EXPECT_EQ(status("10.1.0.1"), 401) << "an address with its own bucket keeps it";
  EXPECT_EQ(access.TrackedAddresses(), 8u);

  // Once everything has refilled, the map empties and addresses get their
  // own buckets again.
  clock.Advance(std::chrono::seconds(30));
  EXPECT_EQ(status("10.2.0.1"), 401);
  EXPECT_EQ(access.TrackedAddresses(), 1u);
}

TEST_F(AccessTest, PasswordLoginGivesASessionThatExpiresWhenIdle) {
  EXPECT_EQ(access_->Login("10.0.0.5", "otto", "wrong", "").error().message, "wrong user name or password");
  EXPECT_EQ(access_->Login("10.0.0.6", "nobody", "otto-password", "").error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(access_->Login("10.0.0.7", "vera", "", "").error().code, ErrorCode::kUnauthorized)
      << "a user without a password cannot log in with an empty one";
  auto who = access_->Login("10.0.0.1", "otto", "otto-password", "");
  ASSERT_TRUE(who.has_value()) << who.error().message;
  EXPECT_EQ(who->name, "otto");
  EXPECT_EQ(who->role, Role::kOperator);
  const std::string sid = access_->CreateSession(*who);
  EXPECT_EQ(sid.size(), 64u);

  auto with_cookie = [&](std::string method, std::string origin = "") {
    auto r = Req(std::move(method), "/api/jobs");
    r.headers.emplace_back("cookie", "theme=dark; " + std::string(kSessionCookie) + "=" + sid);
    if (!origin.empty()) r.headers.emplace_back("origin", origin);
    return StatusOf(std::move(r));
  };
  EXPECT_EQ(with_cookie("GET"), 200);
  EXPECT_EQ(with_cookie("POST", "http://farm:8080"), 200);
  EXPECT_EQ(with_cookie("POST", "http://evil.example"), 403) << "cross-site write with the session cookie";
  clock_.Advance(std::chrono::minutes(29));
  EXPECT_EQ(with_cookie("GET"), 200) << "use refreshes the idle timeout";
  clock_.Advance(std::chrono::minutes(29));
  EXPECT_EQ(with_cookie("GET"), 200);
  clock_.Advance(std::chrono::minutes(31));
  EXPECT_EQ(with_cookie("GET"), 401);
  // Expired sessions do not count as failed logins.
  for (int i = 0; i < 5; ++i) with_cookie("GET");
  EXPECT_EQ(StatusOf(Req("GET", "/api/jobs", std::string("Bearer ") + kViewerToken)), 200);

  const std::string sid2 = access_->CreateSession(*who);
  EXPECT_NE(sid2, sid);
  access_->EndSession(sid2);
  EXPECT_FALSE(access_->SessionOf(sid2));
}

TEST(BootstrapAdminTokenTest, WritesTheTokenOwnerOnlyAndKeepsOnlyItsHash) {
  testing::TempDir dir;
  auto admin = BootstrapAdminToken(dir.path());
  ASSERT_TRUE(admin.has_value()) << admin.error().message;
  EXPECT_EQ(admin->role, Role::kAdmin);
  std::string token, hash;
  std::ifstream(dir.path() + "/admin-token") >> token;
  std::ifstream(dir.path() + "/admin-token.hash") >> hash;
  EXPECT_TRUE(token.starts_with("dnd_")) << token;
  EXPECT_EQ(token.size(), 4u + 43u);
  EXPECT_EQ(hash, admin->token_hash);
  EXPECT_EQ(hash.find(token.substr(4)), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/admin-token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  testing::FakeClock clock;
  AccessOptions o;
  o.users = {*admin};
  AccessControl access(o, clock);
  EXPECT_EQ(access.Login("127.0.0.1", "", "", token)->role, Role::kAdmin);

  // A restart keeps the token; losing the token file makes a new one.
  EXPECT_EQ(BootstrapAdminToken(dir.path())->token_hash, hash);
  std::filesystem::remove(dir.path() + "/admin-token");
  auto again = BootstrapAdminToken(dir.path());
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(again->token_hash, hash);
  std::string token2;
  std::ifstream(dir.path() + "/admin-token") >> token2;
  EXPECT_NE(token2, token);
}

TEST(AccessRolesTest, RoleNamesRoundTripAndUnknownOnesAreRefused) {
  for (Role r : {Role::kViewer, Role::kOperator, Role::kAdmin}) EXPECT_EQ(*RoleFromString(ToString(r)), r);
  EXPECT_EQ(RoleFromString("root").error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace duende::manager
