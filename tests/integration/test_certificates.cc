#include "test_certificates.h"

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace lossd::testing {

TestCertificates::TestCertificates() {
  char pattern[] = "/tmp/lossd-certs-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return;
  directory_ = pattern;
  const std::string script = absl::StrCat(
      "set -e\ncd '", directory_, "'\nexec >openssl.log 2>&1\n",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca "
      "-keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE\n",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost "
      "-keyout server.key -out server.csr\n",
      "echo subjectAltName=DNS:localhost,IP:127.0.0.1 > server.ext\n",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
      "-CAcreateserial -days 2 -out server.pem -extfile server.ext\n",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=client "
      "-keyout client.key -out client.csr\n",
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
      "-CAcreateserial -days 2 -out client.pem\n");
  WriteFile("make.sh", script);
  ok_ = std::system(absl::StrCat("bash '", Path("make.sh"), "'").c_str()) == 0;
}

TestCertificates::~TestCertificates() {
  if (!directory_.empty()) {
    (void)std::system(absl::StrCat("rm -rf '", directory_, "'").c_str());
  }
}

std::string TestCertificates::Path(const std::string& name) const {
  return absl::StrCat(directory_, "/", name);
}

std::string TestCertificates::Log() const {
  std::ifstream in(Path("openssl.log"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void TestCertificates::WriteFile(const std::string& name,
                                 const std::string& contents) const {
  std::ofstream(Path(name)) << contents;
}

}  // namespace lossd::testing
