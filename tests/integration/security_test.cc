// TLS, mutual TLS and bearer tokens against a real lossd. Certificates are
// made for the test with the openssl command line.

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lossd/v1/loss_service.grpc.pb.h"
#include "server_process.h"
#include "test_certificates.h"

namespace lossd::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

v1::ComputeRequest SmallRequest() {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  request.mutable_input()->add_shape(1);
  request.mutable_input()->add_shape(2);
  request.mutable_input()->add_float_values(0);
  request.mutable_input()->add_float_values(0);
  request.mutable_target()->add_shape(1);
  request.mutable_target()->add_int64_values(1);
  return request;
}

std::shared_ptr<grpc::Channel> TlsChannel(const ServerProcess& server,
                                          const TestCertificates& certs,
                                          bool client_certificate) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(certs.Path("ca.pem"));
  if (client_certificate) {
    options.pem_private_key = ReadFile(certs.Path("client.key"));
    options.pem_cert_chain = ReadFile(certs.Path("client.pem"));
  }
  return grpc::CreateChannel(absl::StrCat("localhost:", server.port()),
                             grpc::SslCredentials(options));
}

grpc::Status Compute(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& token) {
  auto stub = v1::LossService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  v1::ComputeResponse response;
  grpc::Status status = stub->Compute(&context, SmallRequest(), &response);
  if (status.ok()) {
    EXPECT_NEAR(response.loss(), std::log(2.0), 1e-6);
  }
  return status;
}

TEST(Security, TlsWithBearerTokens) {
  TestCertificates certs;
  ASSERT_TRUE(certs.ok()) << certs.Log();
  certs.WriteFile("tokens", "# accepted tokens\nsecret-one\n\nsecret-two\n");
  auto server = ServerProcess::Start(
      LOSSD_SERVER_PATH, {"--tls_cert_file=" + certs.Path("server.pem"),
                          "--tls_key_file=" + certs.Path("server.key"),
                          "--auth_token_file=" + certs.Path("tokens")});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = TlsChannel(**server, certs, /*client_certificate=*/false);
  EXPECT_EQ(Compute(channel, "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Compute(channel, "secret-three").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Compute(channel, "secret-one").ok());
  EXPECT_TRUE(Compute(channel, "secret-two").ok());
  // Probes need no token.
  absl::StatusOr<int> health = CheckHealth(channel, "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);
  // A plaintext client cannot talk to a TLS server.
  EXPECT_FALSE(Compute((*server)->NewChannel(), "secret-one").ok());
}

TEST(Security, MutualTlsRequiresAClientCertificate) {
  TestCertificates certs;
  ASSERT_TRUE(certs.ok()) << certs.Log();
  auto server = ServerProcess::Start(
      LOSSD_SERVER_PATH, {"--tls_cert_file=" + certs.Path("server.pem"),
                          "--tls_key_file=" + certs.Path("server.key"),
                          "--tls_client_ca_file=" + certs.Path("ca.pem")});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(Compute(TlsChannel(**server, certs, true), "").ok());
  EXPECT_FALSE(Compute(TlsChannel(**server, certs, false), "").ok());
}

TEST(Security, BadConfigurationFailsAtStart) {
  auto half_tls = ServerProcess::Start(LOSSD_SERVER_PATH,
                                       {"--tls_cert_file=/nonexistent.pem"});
  EXPECT_FALSE(half_tls.ok());
  auto missing_tokens = ServerProcess::Start(
      LOSSD_SERVER_PATH, {"--auth_token_file=/nonexistent-tokens"});
  EXPECT_FALSE(missing_tokens.ok());
}

}  // namespace
}  // namespace lossd::testing
