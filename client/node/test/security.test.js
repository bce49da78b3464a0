'use strict';
// TLS, mutual TLS and bearer tokens against a lossd that requires them; the
// certificates are made for the test with the openssl command line.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {execFileSync} = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const {LossClient} = require('..');
const {startServer} = require('./support');

const TOKEN = 's3cret-token';

function makeCertificates(directory) {
  execFileSync('sh', ['-c', `set -e
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
  -days 2 -out client.pem`], {cwd: directory, stdio: 'pipe', timeout: 120000});
  return (name) => fs.readFileSync(path.join(directory, name));
}

test('TLS and tokens', async (t) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'lossd-certs-'));
  const read = makeCertificates(directory);
  fs.writeFileSync(path.join(directory, 'tokens'), `${TOKEN}\n`);
  const common = [`--tls_cert_file=${path.join(directory, 'server.pem')}`,
                  `--tls_key_file=${path.join(directory, 'server.key')}`,
                  '--grace_period_seconds=0.5'];
  const server = await startServer(
      [...common, `--auth_token_file=${path.join(directory, 'tokens')}`]);
  const mutual = await startServer(
      [...common, `--tls_client_ca_file=${path.join(directory, 'ca.pem')}`]);
  t.after(async () => {
    for (const s of [server, mutual]) {
      await s.stop();
      s.cleanup();
    }
    fs.rmSync(directory, {recursive: true, force: true});
  });
  const mse = (client) => client.compute('mse', new Float64Array([1, 1]),
                                         new Float64Array([0, 0]));

  await t.test('a CA bundle and the token', async () => {
    const client = new LossClient(server.target,
                                  {tls: read('ca.pem'), token: TOKEN, timeout: 30});
    try {
      assert.equal((await mse(client)).loss, 1);
    } finally {
      client.close();
    }
  });

  await t.test('missing and wrong tokens', async () => {
    for (const [token, code] of [[undefined, grpc.status.UNAUTHENTICATED],
                                 ['wrong', grpc.status.PERMISSION_DENIED]]) {
      const client = new LossClient(server.target,
                                    {tls: read('ca.pem'), token, timeout: 30});
      try {
        await assert.rejects(mse(client), (error) => error.code === code);
      } finally {
        client.close();
      }
    }
  });

  await t.test('mutual TLS with channel credentials', async () => {
    const credentials = grpc.credentials.createSsl(
        read('ca.pem'), read('client.key'), read('client.pem'));
    const client = new LossClient(mutual.target, {tls: credentials, timeout: 30});
    try {
      assert.equal((await mse(client)).loss, 1);
    } finally {
      client.close();
    }
    const anonymous = new LossClient(mutual.target,
                                     {tls: read('ca.pem'), retries: 0, timeout: 30});
    try {
      await assert.rejects(mse(anonymous),
                           (error) => error.code === grpc.status.UNAVAILABLE);
    } finally {
      anonymous.close();
    }
  });
});
