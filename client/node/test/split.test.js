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

  const describe = (loss) => client.describe(loss);

  async function assertSplitMatches(loss, input, target, options) {
    const {chunkRows, concurrency = 3, ...rest} = options;
    assert.notEqual(await split.plan(loss, input, target, rest, chunkRows,
                                     1 << 22, describe),
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

  await t.test('the other losses under their means', async () => {
    const rows = 45;
    const logits = normal(rows * 6, Float64Array);
    const labels = labelsOf(rows, 6);
    labels[3] = -100;
    const mask = Uint8Array.from({length: rows}, () => (random() < 0.8 ? 1 : 0));
    const logProbabilities = Float64Array.from(logits);
    for (let r = 0; r < rows; ++r) {
      const row = logProbabilities.subarray(r * 6, r * 6 + 6);
      const total = Math.log(row.reduce((sum, x) => sum + Math.exp(x), 0));
      for (let c = 0; c < 6; ++c) row[c] -= total;
    }
    for (const loss of ['nll', 'poly', 'softmax_focal', 'multi_margin',
                        'accuracy', 'classification_error']) {
      const input = {data: loss === 'nll' ? logProbabilities : logits,
                     shape: [rows, 6]};
      // The losses without ignore_index take only valid classes.
      const target = ['multi_margin', 'classification_error'].includes(loss) ?
          labels.map((label) => (label < 0 ? 0 : label)) : labels;
      await assertSplitMatches(loss, input, target, {chunkRows: 7, mask});
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
    assert.equal(await split.plan('cross_entropy', logits, labelsOf(5, 4), {},
                                  5, 0, describe), null);
    assert.equal(await split.plan('cross_entropy', logits,
                                  new Int32Array(5).fill(-100), {}, 2, 0,
                                  describe),
                 null, 'a mean of nothing is not split');
  });

  await t.test('every registry loss declares a rule this client counts',
               async () => {
    // ListLosses says how each loss counts its mean: a loss added to the
    // library is split with no change here, unless it brings a new rule.
    for (const descriptor of await client.listLosses()) {
      const rule = split.meanRule(descriptor);
      assert.ok(split.KNOWN_RULES.has(rule), `${descriptor.name}: ${rule}`);
      assert.equal(descriptor.elementWise, rule === split.UNMASKED_ELEMENTS,
                   descriptor.name);
    }
  });

  await t.test('the descriptor decides the denominator', async () => {
    const logits = {data: normal(20 * 4, Float64Array), shape: [20, 4]};
    const labels = labelsOf(20, 4);
    for (const i of [2, 5, 11]) labels[i] = -100;
    const classWeight = new Float64Array([0.5, 2, 1, 3]);
    const real = await client.describe('cross_entropy');
    assert.equal(split.meanRule(real), split.TARGET_WEIGHT_SUM);
    const planned = (descriptor, options = {}, target = labels) =>
      split.plan('cross_entropy', logits, target, options, 4, 0,
                 async () => descriptor);
    let kept = 0;
    let weighted = 0;
    for (const label of labels) {
      if (label === -100) continue;
      kept += 1;
      weighted += classWeight[label];
    }
    assert.equal((await planned(real)).denominator, kept);
    assert.equal((await planned(real, {classWeight})).denominator, weighted);
    // The call's ignoreIndex; then -100 is a bad class for the one call.
    const relabeled = labels.map((label) => (label === -100 ? 3 : label));
    assert.equal((await planned(real, {ignoreIndex: 3}, relabeled)).denominator,
                 relabeled.filter((label) => label !== 3).length);
    assert.equal(await planned(real, {ignoreIndex: 3}), null);
    // The same loss described with other rules is counted by them.
    const as = (rule) => ({...real, meanDenominatorRule: rule});
    assert.equal((await planned(as('MEAN_DENOMINATOR_RULE_UNMASKED_EXAMPLES'),
                                {classWeight})).denominator, 20);
    assert.equal((await planned(as('MEAN_DENOMINATOR_RULE_NOT_IGNORED_EXAMPLES'),
                                {classWeight})).denominator, kept);
    // No rule declared, a rule newer than this client, no descriptor: a mean
    // goes whole; a sum still splits.
    for (const rule of ['MEAN_DENOMINATOR_RULE_UNSPECIFIED', 99,
                        'MEAN_DENOMINATOR_RULE_FROM_THE_FUTURE']) {
      assert.equal(split.meanRule(as(rule)), null);
      assert.equal(await planned(as(rule)), null);
      assert.notEqual(await planned(as(rule), {reduction: 'sum'}), null);
    }
    assert.equal(await planned(null), null);
    assert.equal(await split.plan('cross_entropy', logits, labels, {}, 4, 0),
                 null);
  });

  await t.test('the registry is fetched once, only when needed', async () => {
    const counting = new LossClient(server.target, {timeout: 30});
    try {
      let calls = 0;
      const listLosses = counting.listLosses.bind(counting);
      counting.listLosses = (options) => {
        calls += 1;
        return listLosses(options);
      };
      const logits = {data: normal(30 * 4, Float64Array), shape: [30, 4]};
      const labels = labelsOf(30, 4);
      // A sum, a normalizer or one chunk need no denominator rule.
      await counting.compute('cross_entropy', logits, labels,
                             {reduction: 'sum', chunkRows: 4});
      await counting.compute('cross_entropy', logits, labels,
                             {normalizer: 7, chunkRows: 4});
      await counting.compute('cross_entropy', logits, labels, {chunkRows: 30});
      assert.equal(calls, 0);
      await Promise.all([['cross_entropy', labels], ['mse', logits],
                         ['accuracy', labels]].map(async ([loss, target]) => {
        const parts = await counting.compute(loss, logits, target, {chunkRows: 4});
        const whole = await counting.compute(loss, logits, target, {chunkRows: 0});
        assert.equal(parts.statistics.denominator, whole.statistics.denominator);
      }));
      assert.equal(calls, 1);
    } finally {
      counting.close();
    }
  });

  await t.test('a failed listing sends the mean whole', async () => {
    const failing = new LossClient(server.target, {timeout: 30});
    try {
      const listLosses = failing.listLosses.bind(failing);
      failing.listLosses = async () => {
        throw new LossdError(grpc.status.UNAVAILABLE, 'down');
      };
      const logits = {data: normal(30 * 4), shape: [30, 4]};
      const labels = labelsOf(30, 4);
      assert.equal(await failing.describeForSplit('cross_entropy'), null);
      const whole = await client.compute('cross_entropy', logits, labels,
                                         {chunkRows: 0});
      const result = await failing.compute('cross_entropy', logits, labels,
                                           {chunkRows: 4, grad: true});
      sameBits(result.gradInput, whole.gradInput, 'gradInput');
      assert.equal(result.statistics.denominatorKind, 'valid_examples');
      // The next call asks again, and splits.
      failing.listLosses = listLosses;
      assert.notEqual(await split.plan('cross_entropy', logits, labels, {}, 4, 0,
                                       (loss) => failing.describeForSplit(loss)),
                      null);
    } finally {
      failing.close();
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
