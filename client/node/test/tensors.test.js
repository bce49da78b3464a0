'use strict';
// Typed arrays <-> Tensor messages, without a server.

const test = require('node:test');
const assert = require('node:assert/strict');
const {fromTensor, toTensor} = require('../src/tensors');

test('typed arrays go on the wire as their own bytes', () => {
  const data = new Float32Array([1, 2, 3, 4, 5, 6]);
  const tensor = toTensor({data, shape: [2, 3]}, 'input');
  assert.equal(tensor.dtype, 'DTYPE_FLOAT32');
  assert.deepEqual(tensor.shape, [2, 3]);
  assert.equal(tensor.raw.buffer, data.buffer); // no copy
  assert.deepEqual(Array.from(fromTensor(tensor).data), [1, 2, 3, 4, 5, 6]);
});

test('every array type round-trips', () => {
  const cases = [
    [new Float64Array([1.5, -2]), 'DTYPE_FLOAT64'],
    [new Int32Array([3, -4]), 'DTYPE_INT32'],
    [new BigInt64Array([5n, -6n]), 'DTYPE_INT64'],
    [new Uint8Array([0, 1]), 'DTYPE_UINT8'],
  ];
  for (const [data, dtype] of cases) {
    const tensor = toTensor(data, 'x');
    assert.equal(tensor.dtype, dtype);
    assert.deepEqual(tensor.shape, [2]);
    const back = fromTensor(tensor);
    assert.equal(back.data.constructor, data.constructor);
    assert.deepEqual(Array.from(back.data), Array.from(data));
  }
});

test('plain arrays take a dtype, float32 by default', () => {
  assert.equal(toTensor({data: [1, 2]}, 'x').dtype, 'DTYPE_FLOAT32');
  const labels = toTensor({data: [0, 2], dtype: 'int64'}, 'x');
  assert.equal(labels.dtype, 'DTYPE_INT64');
  assert.deepEqual(Array.from(fromTensor(labels).data), [0n, 2n]);
});

test('16-bit floats decode exactly to Float32Array', () => {
  // 1.0, -2.5, 65504 (max half), 2^-24 (smallest subnormal) in IEEE half.
  const half = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001]);
  const decoded = fromTensor(toTensor({data: half, dtype: 'float16'}, 'x'));
  assert.deepEqual(Array.from(decoded.data), [1, -2.5, 65504, 2 ** -24]);
  const bf16 = new Uint16Array([0x3f80, 0xc020]); // 1.0, -2.5
  const wide = fromTensor(toTensor({data: bf16, dtype: 'bfloat16'}, 'x'));
  assert.equal(wide.data.constructor, Float32Array);
  assert.deepEqual(Array.from(wide.data), [1, -2.5]);
});

test('unaligned response bytes are copied, not misread', () => {
  const bytes = Buffer.alloc(9);
  Buffer.from(new Float32Array([7, 8]).buffer).copy(bytes, 1);
  const decoded = fromTensor({dtype: 'DTYPE_FLOAT32', shape: [2],
                              raw: bytes.subarray(1)});
  assert.deepEqual(Array.from(decoded.data), [7, 8]);
});

test('shape and dtype mistakes are caught before sending', () => {
  assert.throws(() => toTensor({data: new Float32Array(5), shape: [2, 3]}, 'x'),
                /shape \[2,3\] holds 6 values, data has 5/);
  assert.throws(() => toTensor(new Uint16Array(2), 'x'), /needs a dtype/);
  assert.throws(() => toTensor({data: new Float32Array(2), dtype: 'float64'},
                               'x'), /cannot hold float64/);
  assert.throws(() => toTensor({data: [1], dtype: 'complex'}, 'x'),
                /unknown dtype/);
});
