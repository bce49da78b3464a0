#!/usr/bin/env node
'use strict';
// Cross-entropy with label smoothing for a batch of 2 examples of 3 classes.
//   node examples/compute.js [host:port]    (default: $LOSSD_TARGET or localhost:50051)

const {LossClient} = require('..');

async function main() {
  const target = process.argv[2] || process.env.LOSSD_TARGET || 'localhost:50051';
  const client = new LossClient(target, {timeout: 10});
  try {
    const logits = {data: new Float32Array([2.0, 0.5, -1.0, 0.1, 0.2, 3.0]),
                    shape: [2, 3]};
    const labels = new Int32Array([0, 2]);
    const result = await client.compute('cross_entropy', logits, labels,
                                        {labelSmoothing: 0.1});
    console.log(`loss ${result.loss.toFixed(6)}`);
    console.log(`grad_input [${result.gradInput.shape}]`,
                Array.from(result.gradInput.data, (v) => v.toFixed(4)).join(' '));
    console.log('statistics', result.statistics);
  } finally {
    client.close();
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
