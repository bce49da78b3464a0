'use strict';
// LossClient against a real lossd; expected values are PyTorch's (float64).

const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const {LossClient, LossdError} = require('..');
const {startServer} = require('./support');

const logits = {data: new Float64Array([1, 2, 3, 0, 0, 1, -1, 0.5, 2]),
                shape: [3, 3]};
const labels = new Int32Array([2, 0, 1]);

function assertClose(actual, expected, tolerance) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; ++i) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance,
              `[${i}]: ${actual[i]} != ${expected[i]}`);
  }
}

test('LossClient', async (t) => {
  const server = await startServer();
  const client = new LossClient(server.target, {timeout: 30});
  t.after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
    server.cleanup();
  });

  await t.test('cross_entropy with class weights and label smoothing',
               async () => {
    const result = await client.compute('cross_entropy', logits, labels, {
      classWeight: new Float64Array([1, 2, 3]),
      label_smoothing: 0.1, // snake_case is accepted too
    });
    assert.ok(Math.abs(result.loss - 1.0507670681436012) < 1e-12);
    assert.equal(result.gradInput.dtype, 'DTYPE_FLOAT64');
    assert.deepEqual(result.gradInput.shape, [3, 3]);
    assertClose(result.gradInput.data, [
      0.03795922147679498, 0.1071743165653744, -0.14513353804216947,
      -0.11669960332575656, 0.02774484111868788, 0.08895476220706866,
      0.007481968868006926, -0.25268098039776554, 0.24519901152975862], 1e-14);
    assert.equal(result.perExample, null);
    assert.equal(result.reduction, 'mean');
    assert.equal(result.statistics.validCount, 3);
    assert.equal(result.statistics.weightSum, 3 + 1 + 2);
  });

  await t.test('float32 in, per-example losses out', async () => {
    const result = await client.compute(
        'cross_entropy', {data: Float32Array.from(logits.data), shape: [3, 3]},
        new BigInt64Array([2n, 0n, 1n]), {reduction: 'none'});
    assert.equal(result.perExample.data.constructor, Float32Array);
    assertClose(result.perExample.data,
                [0.4076059644443804, 1.551444713932051, 1.7413112966571571],
                1e-6);
    assertClose(result.gradInput.data, [
      0.09003057317038043, 0.24472847105479764, -0.3347590442251782,
      -0.7880584423829146, 0.21194155761708544, 0.5761168847658291,
      0.03911257327068745, -0.8247096078599633, 0.7855970345892759], 1e-6);
    const half = await client.compute(
        'cross_entropy', logits, labels, {reduction: 'none', gradDtype: 'float16'});
    assert.equal(half.gradInput.dtype, 'DTYPE_FLOAT16');
    assertClose(half.gradInput.data, result.gradInput.data, 1e-3);
  });

  await t.test('a PyTorch (N, C, d) layout with classAxis 1', async () => {
    const result = await client.compute(
        'cross_entropy', {data: new Float64Array([1, 0, 2, 0, 3, 1]),
                          shape: [1, 3, 2]},
        {data: new Int32Array([2, 0]), shape: [1, 2]}, {classAxis: 1});
    assert.ok(Math.abs(result.loss - 0.9795253391882157) < 1e-12);
    assertClose(result.gradInput.data, [
      0.04501528658519022, -0.3940292211914573, 0.12236423552739882,
      0.10597077880854272, -0.1673795221125891, 0.28805844238291456], 1e-14);
  });

  await t.test('binary_cross_entropy with pos_weight', async () => {
    const result = await client.compute(
        'binary_cross_entropy', {data: new Float64Array([0.5, -1, 2, 0]),
                                 shape: [2, 2]},
        {data: new Float64Array([1, 0, 0, 1]), shape: [2, 2]},
        {posWeight: new Float64Array([2, 0.5])});
    assert.ok(Math.abs(result.loss - 0.9337293143003453) < 1e-12);
    assertClose(result.gradInput.data, [-0.1887703343990727, 0.06723535534249878,
                                        0.22019926949447058, -0.0625], 1e-14);
  });

  await t.test('choices, masks, normalizer, grad_output', async () => {
    const smoothed = await client.compute('cross_entropy', logits, labels, {
      labelSmoothing: 0.2, labelSmoothingRule: 'other_classes'});
    assert.ok(Math.abs(smoothed.loss - 1.3001206583445295) < 1e-12);
    assertClose(smoothed.gradInput.data, [
      -0.0033231422765398564, 0.048242823684932545, -0.044919681408392746,
      -0.19601948079430484, 0.037313852539028476, 0.15870562825527637,
      -0.02029580890977085, -0.2082365359533211, 0.22853234486309196], 1e-14);
    await assert.rejects(
        client.compute('cross_entropy', logits, labels,
                       {labelSmoothingRule: 'fairseq'}),
        /is not one of uniform, other_classes/);

    const upstream = await client.compute('cross_entropy', logits, labels, {
      reduction: 'none', gradOutput: new Float64Array([1, -2, 0.5])});
    assertClose(upstream.gradInput.data, [
      0.09003057317038043, 0.24472847105479764, -0.3347590442251782,
      1.5761168847658291, -0.4238831152341709, -1.1522337695316582,
      0.019556286635343725, -0.41235480392998164, 0.39279851729463794], 1e-14);

    const masked = await client.compute('cross_entropy', logits, labels, {
      mask: new Uint8Array([1, 0, 1]), normalizer: 4, gradScale: 2});
    assert.equal(masked.statistics.validCount, 2);
    assert.equal(masked.statistics.denominatorKind, 'normalizer');
    const perExample = [0.4076059644443804, 1.551444713932051, 1.7413112966571571];
    assert.ok(Math.abs(masked.loss - (perExample[0] + perExample[2]) / 4) < 1e-12);
    assert.deepEqual(Array.from(masked.gradInput.data.slice(3, 6)), [0, 0, 0]);
    const empty = await client.compute('cross_entropy', logits, labels, {
      mask: new Uint8Array(3), emptyMean: 'zero'});
    assert.equal(empty.loss, 0);
    assert.ok(Number.isNaN((await client.compute(
        'cross_entropy', logits, labels, {mask: new Uint8Array(3)})).loss));
  });

  await t.test('d loss / d target of a soft target', async () => {
    const target = {data: new Float64Array([0.2, 0.3, 0.5, 1, 0, 0, 0, 0.5, 0.5]),
                    shape: [3, 3]};
    const result = await client.compute('cross_entropy', logits, target,
                                        {gradTarget: true});
    // d/dt of mean(-sum t log_softmax(x)) = -log_softmax(x) / 3.
    const expected = [];
    for (let row = 0; row < 3; ++row) {
      const x = Array.from(logits.data.slice(3 * row, 3 * row + 3));
      const logSum = Math.log(x.reduce((sum, v) => sum + Math.exp(v), 0));
      for (const v of x) expected.push(-(v - logSum) / 3);
    }
    assertClose(result.gradTarget.data, expected, 1e-14);
  });

  await t.test('a metric without gradient', async () => {
    const result = await client.compute('classification_error', logits, labels,
                                        {perExample: true});
    assert.equal(result.gradInput, null);
    assert.deepEqual(Array.from(result.perExample.data), [0, 1, 1]);
  });

  await t.test('server errors carry the code and the message', async () => {
    await assert.rejects(
        client.compute('cross_entropy', logits, new Int32Array([2, 9, 0])),
        (error) => error instanceof LossdError &&
                   error.code === grpc.status.INVALID_ARGUMENT &&
                   error.codeName === 'INVALID_ARGUMENT' &&
                   /target\[1\] = 9/.test(error.details) &&
                   error.target === server.target);
    await assert.rejects(client.compute('nope', logits, labels),
                         (error) => error.code === grpc.status.NOT_FOUND);
    await assert.rejects(
        client.compute('cross_entropy', logits, labels, {timeout: 1e-6}),
        (error) => error.code === grpc.status.DEADLINE_EXCEEDED);
  });

  await t.test('option mistakes are caught before sending', async () => {
    await assert.rejects(
        client.compute('cross_entropy', logits, labels, {smoothing: 0.1}),
        /cross_entropy has no option smoothing/);
    await assert.rejects(
        client.compute('mse', logits, logits, {labelSmoothing: 0.1}),
        /takes no options/);
  });

  await t.test('the registry and the request id', async () => {
    const names = (await client.listLosses()).map((loss) => loss.name);
    assert.ok(names.includes('cross_entropy'), names);
    const result = await client.compute('mse', new Float64Array([1, 2]),
                                        new Float64Array([1, 0]),
                                        {requestId: 'node-1'});
    assert.equal(result.requestId, 'node-1');
    assert.equal(result.loss, 2);
  });
});

test('several servers: round-robin and fail-over', async (t) => {
  // A short grace: lossd holds SIGTERM while idle client connections stay.
  const servers = [await startServer(['--grace_period_seconds=0.5']),
                   await startServer(['--grace_period_seconds=0.5'])];
  const client = new LossClient(servers.map((s) => s.target).join(','),
                                {timeout: 30, retries: 1});
  t.after(() => {
    client.close();
    for (const server of servers) server.cleanup();
  });
  const mse = (id) => client.compute('mse', new Float64Array([1]),
                                     new Float64Array([0]), {requestId: id});
  for (let i = 0; i < 4; ++i) await mse(`rr-${i}`);
  await servers[0].stop();
  for (let i = 0; i < 3; ++i) assert.equal((await mse(`left-${i}`)).loss, 1);
  // The dead server is now tried last, so calls do not wait on it.
  assert.deepEqual([0, 1, 2].map(() => client.order().at(-1)), [0, 0, 0]);
  await servers[1].stop();
  await assert.rejects(mse('none'),
                       (error) => error.code === grpc.status.UNAVAILABLE);
  const served = servers.map((s) => (s.log().match(/request_id=rr-/g) || []).length);
  assert.deepEqual(served, [2, 2]);
  assert.equal((servers[1].log().match(/request_id=left-/g) || []).length, 3);
});
