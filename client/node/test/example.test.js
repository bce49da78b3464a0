'use strict';
// The example in examples/ runs and prints PyTorch's numbers.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const {execFile} = require('node:child_process');
const {promisify} = require('node:util');
const {startServer} = require('./support');

test('examples/compute.js', async () => {
  const server = await startServer();
  try {
    const {stdout} = await promisify(execFile)(
        process.execPath,
        [path.join(__dirname, '..', 'examples', 'compute.js'), server.target]);
    // torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    assert.match(stdout, /^loss 0\.34545[67]$/m);
  } finally {
    assert.equal(await server.stop(), 0);
    server.cleanup();
  }
});
