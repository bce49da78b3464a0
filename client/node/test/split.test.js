'use strict';
// Large batches split into row chunks (src/split.js) against a real lossd:
// gradients bitwise the unsplit call's, the loss up to float64 rounding.

const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const {LossClient, LossdError} = require('..');
const split = require('../src/split');
const {startServer} = require('./support');

// A small deterministic generator (mulberry32).
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(6);
const normal = (n, Type = Float32Array) =>
  Type.from({length: n}, () => Math.sqrt(-2 * Math.log(random() + 1e-12)) *
                               Math.cos(2 * Math.PI * random()));
const labelsOf = (n, classes) =>
  Int32Array.from({length: n}, () => Math.floor(random() * classes));

function sameBits(actual, expected, what) {
  assert.equal(actual.data.constructor, expected.data.constructor, what);
  assert.deepEqual(actual.shape, expected.shape, what);
  const a = new Uint8Array(actual.data.buffer, actual.data.byteOffset,
                           actual.data.byteLength);
  const b = new Uint8Array(expected.data.buffer, expected.data.byteOffset,
                           expected.data.byteLength);
  assert.ok(Buffer.compare(a, b) === 0, `${what}: the bits differ`);
}

const REDUCTIONS = ['mean', 'sum', 'none'];

test('split compute', async (t) => {
  const server = await startServer(['--metrics_address=']);
  const client = new LossClient(server.target, {timeout: 30});
  t.after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
    server.cleanup();
  });

  async function assertSplitMatches(loss, input, target, options) {
    const {chunkRows, concurrency = 3, ...rest} = options;
    assert.notEqual(split.plan(loss, input, target, rest, chunkRows, 1 << 22),
                    null, 'the batch was expected to be split');
    const whole = await client.compute(loss, input, target,
                                       {...rest, chunkRows: 0});
    const parts = await client.compute(loss, input, target,
                                       {...rest, chunkRows, concurrency});
    for (const name of ['gradInput', 'perExample', 'gradTarget']) {
      if (whole[name] === null) {
        assert.equal(parts[name], null, name);
      } else {
        sameBits(parts[name], whole[name], name);
      }
    }
    assert.ok(Math.abs(parts.loss - whole.loss) <=
              1e-12 * Math.max(1, Math.abs(whole.loss)),
              `loss ${parts.loss} != ${whole.loss}`);
    const a = parts.statistics;
    const b = whole.statistics;
    assert.equal(a.denominator, b.denominator);
    assert.equal(a.denominatorKind, b.denominatorKind);
    assert.equal(a.validCount, Number(b.validCount));
    assert.ok(Math.abs(a.weightSum - b.weightSum) <= 1e-9 * Math.max(1, b.weightSum));
    assert.equal(parts.reduction, whole.reduction);
    return [whole, parts];
  }

  await t.test('cross_entropy: class indices, ignoreIndex, smoothing',
               async () => {
    for (const classes of [10, 300]) {
      const rows = 203;
      const logits = {data: normal(rows * classes), shape: [rows, classes]};
      const labels = labelsOf(rows, classes);
      for (let i = 0; i < rows; i += 5) labels[i] = -1;
      for (const reduction of REDUCTIONS) {
        await assertSplitMatches('cross_entropy', logits, labels, {
          chunkRows: 32, reduction, ignoreIndex: -1, labelSmoothing: 0.1});
      }
    }
  });

  await t.test('cross_entropy: class weights, mask, sample weights',
               async () => {
    const rows = 150;
    const logits = {data: normal(rows * 7, Float64Array), shape: [rows, 7]};
    const labels = new BigInt64Array(Array.from(labelsOf(rows, 7), BigInt));
    for (let i = 0; i < rows; i += 9) labels[i] = -100n;
    const mask = Uint8Array.from({length: rows}, () => (random() < 0.8 ? 1 : 0));
    const sampleWeight = Float64Array.from({length: rows}, () => 2 * random());
    for (const reduction of REDUCTIONS) {
      await assertSplitMatches('cross_entropy', logits, labels, {
        chunkRows: 17, reduction, mask, sampleWeight,
        class_weight: Float32Array.from({length: 7}, () => 0.1 + 3 * random()),
      });
    }
    const classWeight = new Float32Array([0.3, 1.7, 2.9, 0.1, 1.1, 0.7, 2.3]);
    const [whole] = await assertSplitMatches('cross_entropy', logits, labels,
        {chunkRows: 17, mask, classWeight});
    assert.equal(whole.statistics.denominatorKind, 'target_weight_sum');
  });

  await t.test('cross_entropy: soft targets', async () => {
    const rows = 99;
    const classes = 12;
    const data = Float32Array.from({length: rows * classes}, () => random());
    for (let r = 0; r < rows; ++r) {
      let total = 0;
      for (let c = 0; c < classes; ++c) total += data[r * classes + c];
      for (let c = 0; c < classes; ++c) data[r * classes + c] /= total;
    }
    const logits = {data: normal(rows * classes), shape: [rows, classes]};
    const target = {data, shape: [rows, classes]};
    for (const reduction of [...REDUCTIONS, 'batch_mean']) {
      await assertSplitMatches('cross_entropy', logits, target,
                               {chunkRows: 20, reduction, labelSmoothing: 0.1});
    }
  });

  await t.test('binary_cross_entropy with sample weights', async () => {
    const rows = 131;
    const classes = 9;
    const logits = {data: normal(rows * classes), shape: [rows, classes]};
    const target = {data: Float32Array.from({length: rows * classes},
                                            () => (random() < 0.3 ? 1 : 0)),
                    shape: [rows, classes]};
    const perRow = Float32Array.from({length: rows}, () => 2 * random());
    const perElement = {data: Float32Array.from({length: rows * classes},
                                                () => 2 * random()),
                        shape: [rows, classes]};
    for (const reduction of [...REDUCTIONS, 'batch_mean']) {
      for (const sampleWeight of [perRow, perElement]) {
        await assertSplitMatches('binary_cross_entropy', logits, target, {
          chunkRows: 16, reduction, sampleWeight,
          posWeight: Float32Array.from({length: classes}, () => 0.5 + random()),
        });
      }
    }
  });

  await t.test('mse, with and without a row mask', async () => {
    const rows = 77;
    const prediction = {data: normal(rows * 6, Float64Array), shape: [rows, 6]};
    const target = {data: normal(rows * 6, Float64Array), shape: [rows, 6]};
    const mask = Uint8Array.from({length: rows}, () => (random() < 0.6 ? 1 : 0));
    for (const reduction of [...REDUCTIONS, 'batch_mean']) {
      await assertSplitMatches('mse', prediction, target, {chunkRows: 8, reduction});
      await assertSplitMatches('mse', prediction, target,
                               {chunkRows: 8, reduction, mask});
    }
  });

  await t.test('a user normalizer and grad_output pass through', async () => {
    const logits = {data: normal(64 * 8), shape: [64, 8]};
    const labels = labelsOf(64, 8);
    const [, parts] = await assertSplitMatches('cross_entropy', logits, labels,
        {chunkRows: 10, normalizer: 1000, gradScale: 128});
    assert.equal(parts.statistics.denominatorKind, 'normalizer');
    await assertSplitMatches('cross_entropy', logits, labels, {
      chunkRows: 10, reduction: 'none', gradOutput: normal(64), gradScale: 0.5});
  });

  await t.test('odd sizes', async () => {
    for (const [rows, chunkRows, concurrency] of [[37, 5, 3], [3, 1, 8],
                                                  [2, 1, 1], [100, 99, 4]]) {
      await assertSplitMatches('cross_entropy',
                               {data: normal(rows * 4), shape: [rows, 4]},
                               labelsOf(rows, 4), {chunkRows, concurrency});
    }
    const logits = {data: normal(20), shape: [5, 4]};
    assert.equal(split.plan('cross_entropy', logits, labelsOf(5, 4), {}, 5, 0),
                 null);
    assert.equal(split.plan('cross_entropy', logits, new Int32Array(5).fill(-100),
                            {}, 2, 0), null, 'a mean of nothing is not split');
  });

  await t.test('every registry loss has a mean rule', async () => {
    for (const descriptor of await client.listLosses()) {
      assert.ok(split.KNOWN_MEAN_LOSSES.has(descriptor.name), descriptor.name);
      assert.equal(descriptor.elementWise, split.ELEMENT_WISE.has(descriptor.name),
                   descriptor.name);
    }
  });

  await t.test('a chunk error fails the call and names its rows', async () => {
    const logits = {data: normal(50 * 4), shape: [50, 4]};
    const labels = labelsOf(50, 4);
    labels[23] = 9;
    await assert.rejects(
        client.compute('cross_entropy', logits, labels,
                       {reduction: 'sum', chunkRows: 10}),
        (error) => {
          assert.ok(error instanceof LossdError);
          assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
          assert.deepEqual(error.rows, [20, 30]);
          assert.match(error.details, /^rows \[20, 30\) of 50: .*target\[3\] = 9/);
          return true;
        });
  });

  await t.test('the deadline covers the whole call', async () => {
    const logits = {data: normal(64 * 4), shape: [64, 4]};
    await assert.rejects(
        client.compute('cross_entropy', logits, labelsOf(64, 4),
                       {chunkRows: 4, concurrency: 2, timeout: 1e-6}),
        (error) => {
          assert.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
          assert.notEqual(error.rows, null);
          return true;
        });
  });
});
