#include "worker/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "unit/worker/worker_test_util.h"

namespace duende::worker {
namespace {

using testing::TempDir;
using testing::WriteFile;

TEST(Credentials, MissingFileMeansRegisterFirst) {
  TempDir dir;
  auto c = LoadCredentials(dir.path() / "credentials.json");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->has_value());
}

TEST(Credentials, SaveThenLoadRoundTripsWithMode0600AndNoTempLeft) {
  TempDir dir;
  const auto file = dir.path() / "credentials.json";
  ASSERT_TRUE(SaveCredentials(file, {"0123456789abcdef01234567", "s3cret"}).has_value());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_FALSE(std::filesystem::exists(file.string() + ".tmp"));
  auto c = LoadCredentials(file);
  ASSERT_TRUE(c.has_value() && c->has_value());
  EXPECT_EQ((*c)->worker_id, "0123456789abcdef01234567");
  EXPECT_EQ((*c)->worker_secret, "s3cret");
  // Overwriting replaces the content.
  ASSERT_TRUE(SaveCredentials(file, {"id2", "secret2"}).has_value());
  EXPECT_EQ((*LoadCredentials(file))->worker_id, "id2");
}

TEST(Credentials, IncompleteFileMeansRegisterFirst) {
  TempDir dir;
  const auto file = dir.path() / "credentials.json";
  for (const char* text : {R"({})", R"({"worker_id": "abc"})", R"({"worker_id": "", "worker_secret": "x"})",
                           R"({"worker_id": 5, "worker_secret": "x"})"}) {
    WriteFile(file, text);
    auto c = LoadCredentials(file);
    ASSERT_TRUE(c.has_value()) << text;
    EXPECT_FALSE(c->has_value()) << text;
  }
}

TEST(Credentials, MalformedFileIsAnError) {
  TempDir dir;
  const auto file = dir.path() / "credentials.json";
  WriteFile(file, "not json {");
  auto c = LoadCredentials(file);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace duende::worker
