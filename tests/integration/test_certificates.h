// Certificates for TLS tests, made with the openssl command line: a CA, a
// server certificate for localhost / 127.0.0.1 and a client certificate,
// both signed by the CA, in a fresh directory removed on destruction.

#ifndef LOSSD_TESTS_INTEGRATION_TEST_CERTIFICATES_H_
#define LOSSD_TESTS_INTEGRATION_TEST_CERTIFICATES_H_

#include <string>

namespace lossd::testing {

class TestCertificates {
 public:
  // Files: ca.pem, ca.key, server.pem, server.key, client.pem, client.key.
  TestCertificates();
  ~TestCertificates();
  TestCertificates(const TestCertificates&) = delete;
  TestCertificates& operator=(const TestCertificates&) = delete;

  // False when openssl failed; Log() says why.
  bool ok() const { return ok_; }
  std::string Log() const;
  std::string Path(const std::string& name) const;
  // Writes `contents` to Path(name), e.g. a token file.
  void WriteFile(const std::string& name, const std::string& contents) const;

 private:
  std::string directory_;
  bool ok_ = false;
};

}  // namespace lossd::testing

#endif  // LOSSD_TESTS_INTEGRATION_TEST_CERTIFICATES_H_
