// HTTPS: the server with a certificate from a private CA, the libcurl
// client trusting that CA (or not), and the errors when either side is
// misconfigured.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/http.h"
#include "support/raw_socket.h"
#include "support/temp_dir.h"
#include "support/test_certs.h"

namespace duende::http {
namespace {

using namespace std::chrono_literals;

class TlsTest : public ::testing::Test {
 protected:
  // One set of certificates for the suite: openssl takes a while to start.
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    certs_ok_ = testing::MakeTestCerts(dir_->path(), "DNS:localhost", certs_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(certs_ok_) << "openssl failed, see " << dir_->path() << "/openssl.log"; }

  void StartServer(ServerOptions options = {}) {
    options.tls = ServerTls{certs_.server_cert, certs_.server_key};
    server_ = std::make_unique<Server>(options, [](Request& r) {
      if (r.path == "/stream") {
        auto s = std::make_shared<Stream>();
        s->Write("one\n");
        s->Write("two\n");
        s->Close();
        Response resp = Response::Text(200, "");
        resp.stream = s;
        return resp;
      }
      return Response::Json(200, {{"path", r.path}, {"body", r.body}});
    });
    auto port = server_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().message;
    port_ = *port;
  }
  std::string Url(const std::string& host, const std::string& path) const {
    return "https://" + host + ":" + std::to_string(port_) + path;
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline testing::TestCerts certs_;
  static inline bool certs_ok_ = false;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(TlsTest, ClientTrustingThePrivateCaTalksToTheServer) {
  StartServer();
  auto client = MakeCurlClient("t", ClientOptions{certs_.ca});
  ClientRequest req{"POST", Url("localhost", "/echo")};
  req.body = "hello";
  for (int i = 0; i < 3; ++i) {  // keep-alive over TLS
    auto resp = client->Send(req);
    ASSERT_TRUE(resp.has_value()) << resp.error().message;
    EXPECT_EQ(resp->status, 200);
    EXPECT_EQ(nlohmann::json::parse(resp->body)["body"], "hello");
  }
}

TEST_F(TlsTest, CaDirectoryWorksToo) {
  StartServer();
  // A directory of CA files named by subject hash, as `openssl rehash` makes.
  ASSERT_EQ(std::system(("mkdir -p " + (*dir_ / "cas") + " && cp " + certs_.ca + " " + (*dir_ / "cas") +
                         " && openssl rehash " + (*dir_ / "cas") + " >/dev/null 2>&1")
                            .c_str()),
            0);
  auto resp = MakeCurlClient("t", ClientOptions{*dir_ / "cas"})->Send({"GET", Url("localhost", "/d")});
  ASSERT_TRUE(resp.has_value()) << resp.error().message;
  EXPECT_EQ(resp->status, 200);
}

TEST_F(TlsTest, RequestCaPathOverridesTheClientDefault) {
  StartServer();
  auto client = MakeCurlClient("t", ClientOptions{certs_.other_ca});
  ClientRequest req{"GET", Url("localhost", "/x")};
  EXPECT_FALSE(client->Send(req).has_value());
  req.ca_path = certs_.ca;
  auto resp = client->Send(req);
  ASSERT_TRUE(resp.has_value()) << resp.error().message;
  EXPECT_EQ(resp->status, 200);
}

TEST_F(TlsTest, StreamedResponseOverTls) {
  StartServer();
  std::string got;
  ClientRequest req{"GET", Url("localhost", "/stream")};
  req.ca_path = certs_.ca;
  auto resp = StreamRequest(req, "t", [&](std::string_view d) {
    got += d;
    return true;
  });
  ASSERT_TRUE(resp.has_value()) << resp.error().message;
  EXPECT_EQ(got, "one\ntwo\n");
}

TEST_F(TlsTest, UnknownCaFailsWithOneClearLine) {
  StartServer();
  for (const auto& ca : {std::string(), certs_.other_ca}) {  // the system store, then another CA
    auto resp = MakeCurlClient("t", ClientOptions{ca})->Send({"GET", Url("localhost", "/x")});
    ASSERT_FALSE(resp.has_value()) << ca;
    EXPECT_EQ(resp.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(resp.error().message.find("certificate"), std::string::npos) << resp.error().message;
    EXPECT_EQ(resp.error().message.find('\n'), std::string::npos) << resp.error().message;
  }
}

TEST_F(TlsTest, WrongHostNameFails) {
  StartServer();
  // The certificate names localhost, not 127.0.0.1.
  auto resp = MakeCurlClient("t", ClientOptions{certs_.ca})->Send({"GET", Url("127.0.0.1", "/x")});
  ASSERT_FALSE(resp.has_value());
  EXPECT_NE(resp.error().message.find("subject name"), std::string::npos) << resp.error().message;
}

TEST_F(TlsTest, PlainHttpClientAndIdleSocketDoNotHoldTheServer) {
  ServerOptions o;
  o.header_timeout = 300ms;  // also the handshake's deadline
  StartServer(o);
  // Plain HTTP to the TLS port: no answer in HTTP, the connection ends.
  auto plain = MakeCurlClient("t")->Send({"GET", "http://localhost:" + std::to_string(port_) + "/x"});
  EXPECT_TRUE(!plain.has_value() || plain->status == 0);
  // A client that connects and never starts the handshake is cut off.
  const int fd = testing::ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(testing::PeerClosed(fd, 20s));
  ::close(fd);
  // And the server still serves.
  auto resp = MakeCurlClient("t", ClientOptions{certs_.ca})->Send({"GET", Url("localhost", "/ok")});
  ASSERT_TRUE(resp.has_value()) << resp.error().message;
  EXPECT_EQ(resp->status, 200);
}

TEST_F(TlsTest, BadCertificateOrKeyFailsAtStartNamingTheFile) {
  ServerOptions o;
  o.tls = ServerTls{*dir_ / "missing.pem", certs_.server_key};
  auto r = Server(o, [](Request&) { return Response::NoContent(); }).Start();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("missing.pem"), std::string::npos) << r.error().message;

  // A key that is not the certificate's.
  o.tls = ServerTls{certs_.server_cert, *dir_ / "ca.key"};
  r = Server(o, [](Request&) { return Response::NoContent(); }).Start();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("ca.key"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("mismatch"), std::string::npos) << r.error().message;

  o.tls = ServerTls{certs_.server_cert, ""};
  r = Server(o, [](Request&) { return Response::NoContent(); }).Start();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("both"), std::string::npos) << r.error().message;
}

TEST(CaPathTest, MissingPathIsOneClearLine) {
  auto st = CheckCaPath("/nonexistent/ca.pem");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message.find("/nonexistent/ca.pem"), std::string::npos);
  EXPECT_TRUE(CheckCaPath("/").has_value());
}

}  // namespace
}  // namespace duende::http
