'use strict';
// Typed arrays <-> lossd.v1.Tensor through the raw-bytes path: the bytes of
// a typed array go on the wire as they are (lossd's raw format is
// little-endian row-major, which is how typed arrays lie in memory on every
// little-endian host), and responses come back as typed arrays over the
// received bytes.

const os = require('node:os');

if (os.endianness() !== 'LE') {
  throw new Error('lossd: the raw tensor path needs a little-endian host');
}

// Wire dtype -> the typed array that holds it, and its element size.
const ARRAY_OF_DTYPE = {
  DTYPE_FLOAT32: Float32Array,
  DTYPE_FLOAT64: Float64Array,
  DTYPE_FLOAT16: Uint16Array, // IEEE half bit patterns; decoded to float32
  DTYPE_BFLOAT16: Uint16Array, // upper halves of float32; decoded to float32
  DTYPE_INT32: Int32Array,
  DTYPE_INT64: BigInt64Array,
  DTYPE_UINT8: Uint8Array,
  DTYPE_BOOL: Uint8Array,
};

// Typed array constructor name -> wire dtype. Uint16Array needs an explicit
// dtype ('float16' or 'bfloat16'): it carries 16-bit floats' bit patterns.
const DTYPE_OF_ARRAY = {
  Float32Array: 'DTYPE_FLOAT32',
  Float64Array: 'DTYPE_FLOAT64',
  Int32Array: 'DTYPE_INT32',
  BigInt64Array: 'DTYPE_INT64',
  Uint8Array: 'DTYPE_UINT8',
  Buffer: 'DTYPE_UINT8',
};

/** 'float32', 'bfloat16', 'DTYPE_INT64', ... -> 'DTYPE_...'. */
function dtypeName(dtype) {
  const name = String(dtype).toUpperCase();
  const full = name.startsWith('DTYPE_') ? name : `DTYPE_${name}`;
  if (!(full in ARRAY_OF_DTYPE)) {
    throw new TypeError(`unknown dtype ${dtype}; one of ${Object.keys(
        ARRAY_OF_DTYPE).map((n) => n.slice(6).toLowerCase()).join(', ')}`);
  }
  return full;
}

/**
 * A Tensor message from a typed array or {data, shape, dtype}.
 *
 * A bare typed array is one-dimensional. Plain JS arrays are accepted in
 * {data, shape, dtype} (dtype default 'float32'; say 'int32' for labels).
 */
function toTensor(value, what) {
  const spec = ArrayBuffer.isView(value) ? {data: value} : value;
  if (spec === null || typeof spec !== 'object' || spec.data === undefined) {
    throw new TypeError(`${what} must be a typed array or {data, shape}`);
  }
  let {data} = spec;
  let dtype = spec.dtype === undefined ? undefined : dtypeName(spec.dtype);
  if (!ArrayBuffer.isView(data)) {
    if (!Array.isArray(data)) {
      throw new TypeError(`${what}.data must be a typed array or an array`);
    }
    const Type = ARRAY_OF_DTYPE[dtype || 'DTYPE_FLOAT32'];
    data = Type === BigInt64Array ? BigInt64Array.from(data, BigInt) :
                                    Type.from(data);
  }
  if (dtype === undefined) {
    dtype = DTYPE_OF_ARRAY[data.constructor.name];
    if (dtype === undefined) {
      throw new TypeError(`${what}: a ${data.constructor.name} needs a dtype` +
                          ' (Uint16Array: float16 or bfloat16)');
    }
  } else if (data.BYTES_PER_ELEMENT !==
             ARRAY_OF_DTYPE[dtype].BYTES_PER_ELEMENT) {
    throw new TypeError(`${what}: a ${data.constructor.name} cannot hold ` +
                        dtype.slice(6).toLowerCase());
  }
  const shape = spec.shape === undefined ? [data.length] : Array.from(spec.shape);
  const count = shape.reduce((product, size) => product * size, 1);
  if (count !== data.length) {
    throw new RangeError(`${what}: shape [${shape}] holds ${count} values, ` +
                         `data has ${data.length}`);
  }
  return {
    dtype,
    shape,
    raw: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  };
}

function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * {data, shape, dtype} of a Tensor message. FLOAT16 and BFLOAT16 arrive as
 * Float32Array (exactly); INT64 as BigInt64Array; BOOL as Uint8Array.
 */
function fromTensor(tensor) {
  const dtype = tensor.dtype;
  const shape = tensor.shape.map(Number);
  const Type = ARRAY_OF_DTYPE[dtype];
  if (Type === undefined) throw new Error(`tensor has dtype ${dtype}`);
  let raw = tensor.raw;
  let data;
  if (raw && raw.length > 0 || !hasTypedValues(tensor)) {
    raw = raw || Buffer.alloc(0);
    // A view when the bytes are aligned for the type, else one copy.
    if (raw.byteOffset % Type.BYTES_PER_ELEMENT !== 0) raw = Buffer.from(raw);
    data = new Type(raw.buffer, raw.byteOffset,
                    raw.byteLength / Type.BYTES_PER_ELEMENT);
  } else {
    data = tensor.doubleValues.length ? Float64Array.from(tensor.doubleValues) :
           tensor.floatValues.length ? Float32Array.from(tensor.floatValues) :
           Type === BigInt64Array ? BigInt64Array.from(tensor.int64Values, BigInt) :
                                    Type.from(tensor.int64Values);
    return {data, shape, dtype};
  }
  if (dtype === 'DTYPE_BFLOAT16') {
    const wide = new Uint32Array(data.length);
    for (let i = 0; i < data.length; ++i) wide[i] = data[i] << 16;
    data = new Float32Array(wide.buffer);
  } else if (dtype === 'DTYPE_FLOAT16') {
    const wide = new Float32Array(data.length);
    for (let i = 0; i < data.length; ++i) wide[i] = halfToFloat(data[i]);
    data = wide;
  }
  return {data, shape, dtype};
}

function hasTypedValues(tensor) {
  return Boolean((tensor.floatValues && tensor.floatValues.length) ||
                 (tensor.doubleValues && tensor.doubleValues.length) ||
                 (tensor.int64Values && tensor.int64Values.length));
}

module.exports = {dtypeName, fromTensor, toTensor};
