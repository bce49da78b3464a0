"""TLS, mutual TLS and bearer tokens against a lossd that requires them.

The certificates are made for the test with the openssl command line: a CA,
a server certificate for 127.0.0.1 and localhost, and a client certificate.
"""

import subprocess
import tempfile
import unittest
from pathlib import Path

import grpc
import numpy as np

import support
from lossd import LocalServer, LossClient, LossdError

TOKEN = "s3cret-token"


def make_certificates(directory):
    script = """
set -e
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
  -keyout ca.key -out ca.pem
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout server.key -out server.csr
echo subjectAltName=DNS:localhost,IP:127.0.0.1 > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days 2 -out server.pem -extfile server.ext
openssl req -newkey rsa:2048 -nodes -subj /CN=client \
  -keyout client.key -out client.csr
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days 2 -out client.pem
"""
    subprocess.run(["sh", "-c", script], cwd=directory, check=True,
                   capture_output=True, timeout=120)
    return Path(directory)


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="lossd-certs-")
        certs = make_certificates(cls.directory.name)
        cls.certs = certs
        (certs / "tokens").write_text(f"other-token\n{TOKEN}\n")
        common = [f"--tls_cert_file={certs / 'server.pem'}",
                  f"--tls_key_file={certs / 'server.key'}",
                  "--grace_period_seconds=0.5"]
        cls.server = LocalServer(args=common + [
            f"--auth_token_file={certs / 'tokens'}"]).start()
        cls.mutual_server = LocalServer(args=common + [
            f"--tls_client_ca_file={certs / 'ca.pem'}"]).start()

    @classmethod
    def tearDownClass(cls):
        for server in (cls.server, cls.mutual_server):
            server.stop()
            server.cleanup()
        cls.directory.cleanup()

    def compute(self, client):
        return client.compute("mse", np.ones(3), np.zeros(3))

    def test_tls_with_a_ca_file_and_the_token(self):
        with LossClient(self.server.target, tls=self.certs / "ca.pem",
                        token=TOKEN, timeout=30) as client:
            self.assertEqual(self.compute(client).loss, 1.0)
            self.assertEqual(client.health(), "SERVING")

    def test_missing_and_wrong_tokens(self):
        for token, code in [(None, grpc.StatusCode.UNAUTHENTICATED),
                            ("wrong", grpc.StatusCode.PERMISSION_DENIED)]:
            with self.subTest(token=token), LossClient(
                    self.server.target, tls=str(self.certs / "ca.pem"),
                    token=token, timeout=30) as client:
                with self.assertRaises(LossdError) as caught:
                    self.compute(client)
                self.assertEqual(caught.exception.code, code)
                # Probes stay open.
                self.assertEqual(client.health(), "SERVING")

    def test_an_unknown_ca_is_refused(self):
        # The system roots do not know the test CA.
        with LossClient(self.server.target, tls=True, token=TOKEN, retries=0,
                        timeout=30) as client:
            with self.assertRaises(LossdError) as caught:
                self.compute(client)
        self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)

    def test_mutual_tls_with_channel_credentials(self):
        credentials = grpc.ssl_channel_credentials(
            root_certificates=(self.certs / "ca.pem").read_bytes(),
            private_key=(self.certs / "client.key").read_bytes(),
            certificate_chain=(self.certs / "client.pem").read_bytes())
        with LossClient(self.mutual_server.target, tls=credentials,
                        timeout=30) as client:
            self.assertEqual(self.compute(client).loss, 1.0)
        with LossClient(self.mutual_server.target, tls=self.certs / "ca.pem",
                        retries=0, timeout=30) as client:
            with self.assertRaises(LossdError) as caught:
                self.compute(client)
        self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)

    def test_the_torch_path_sends_the_token(self):
        import torch
        from lossd.torch import remote_loss

        with LossClient(self.server.target, tls=self.certs / "ca.pem",
                        token=TOKEN, timeout=30) as client:
            logits = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
            loss = remote_loss(logits, torch.tensor([0, 1]), client=client)
            loss.backward()
        self.assertAlmostEqual(loss.item(), float(np.log(3)), places=12)


if __name__ == "__main__":
    unittest.main()
