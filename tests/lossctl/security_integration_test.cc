// lossctl against a lossd that wants mutual TLS and a bearer token:
// certificates made for the test with the openssl command line.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server_process.h"
#include "test_certificates.h"

namespace lossctl {
namespace {

using ::lossctl::testing::CommandResult;
using ::lossctl::testing::RunCommand;
using ::testing::HasSubstr;

class SecureServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certificates_ = new lossd::testing::TestCertificates();
    if (!certificates_->ok()) {
      GTEST_SKIP() << "openssl could not make certificates: "
                   << certificates_->Log();
    }
    certificates_->WriteFile("tokens", "secret-one\n");
    certificates_->WriteFile("token", "\n  secret-one\n");
    certificates_->WriteFile("wrong_token", "wrong\n");
    auto server = lossd::testing::ServerProcess::Start(
        LOSSD_SERVER_PATH, {"--metrics_address=", "--log_level=warn",
                            "--tls_cert_file=" + Path("server.pem"),
                            "--tls_key_file=" + Path("server.key"),
                            "--tls_client_ca_file=" + Path("ca.pem"),
                            "--auth_token_file=" + Path("tokens")});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete certificates_;
    certificates_ = nullptr;
  }

  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "no secure server";
  }

  static std::string Path(const std::string& name) {
    return certificates_->Path(name);
  }

  // lossctl with the server's target, the CA and the client certificate.
  static CommandResult Lossctl(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(),
                     {LOSSCTL_PATH, "--target=" + server_->target(),
                      "--tls_ca_file=" + Path("ca.pem"),
                      "--tls_cert_file=" + Path("client.pem"),
                      "--tls_key_file=" + Path("client.key")});
    return RunCommand(arguments, 60);
  }

  static lossd::testing::TestCertificates* certificates_;
  static lossd::testing::ServerProcess* server_;
};

lossd::testing::TestCertificates* SecureServerTest::certificates_ = nullptr;
lossd::testing::ServerProcess* SecureServerTest::server_ = nullptr;

TEST_F(SecureServerTest, HealthNeedsTlsButNoToken) {
  const CommandResult result = Lossctl({"health"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "SERVING\n");
  // Plaintext to a TLS server: no connection.
  const CommandResult plaintext =
      RunCommand({LOSSCTL_PATH, "--target=" + server_->target(), "health"});
  EXPECT_EQ(plaintext.exit_code, 1);
  EXPECT_THAT(plaintext.err, HasSubstr("UNAVAILABLE"));
}

TEST_F(SecureServerTest, ListAndComputeWithTheToken) {
  const CommandResult list = Lossctl({"list", "--token_file=" + Path("token")});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("cross_entropy"));
  const CommandResult compute =
      Lossctl({"compute", "--token=secret-one", "--loss=mse", "--input=[1, 2]",
               "--labels=[1, 4]"});
  EXPECT_EQ(compute.exit_code, 0) << compute.err;
  EXPECT_THAT(compute.out, HasSubstr("loss         2\n"));
}

TEST_F(SecureServerTest, MissingOrWrongTokensAreRefused) {
  const CommandResult missing = Lossctl({"list"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("UNAUTHENTICATED"));
  const CommandResult wrong =
      Lossctl({"list", "--token_file=" + Path("wrong_token")});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("PERMISSION_DENIED"));
  const CommandResult unreadable =
      Lossctl({"list", "--token_file=" + Path("absent")});
  EXPECT_EQ(unreadable.exit_code, 2);
}

TEST_F(SecureServerTest, BenchCarriesTheTokenOnEveryCall) {
  for (const char* stream : {"--stream=false", "--stream=true"}) {
    const CommandResult with_token = Lossctl(
        {"bench", "--token_file=" + Path("token"), "--requests=40",
         "--concurrency=2", "--warmup=0s", "--shape=4x10", "--csv=-", stream});
    EXPECT_EQ(with_token.exit_code, 0) << with_token.err;
    // concurrency 2, no rate, 40 sent, 40 succeeded, 0 failed.
    EXPECT_THAT(with_token.out, HasSubstr("\n2,,40,40,0,")) << with_token.out;
    const CommandResult without =
        Lossctl({"bench", "--requests=40", "--concurrency=2", "--warmup=0s",
                 "--shape=4x10", stream});
    EXPECT_EQ(without.exit_code, 1);
    EXPECT_THAT(without.out, HasSubstr("UNAUTHENTICATED=40")) << without.out;
  }
}

}  // namespace
}  // namespace lossctl
