'use strict';
// Large batches: one compute() split into row chunks sent concurrently, and
// the chunks' answers recombined into exactly what one call would return.
//
// The batch is cut along the input's first dimension; so are the per-row
// tensors (target, sampleWeight, mask, gradOutput); per-class options go
// whole to every chunk. The gradient of a mean is gradScale / D times each
// row's own term, with D the whole batch's denominator: the client computes
// D from the targets, mask and class weights exactly as the library does
// (a count, or a sum of class weights added in row order in doubles) and
// sends it to every chunk as `normalizer`, so every gradient value is
// bitwise the unsplit call's. The loss is sum(chunk lossSum) / D, equal up
// to float64 rounding. Where that cannot be done (an unknown loss under a
// mean, class axis 0, a 1-D input, 16-bit input, per-row tensors of another
// first dimension, class indices out of range, a mean of nothing) the batch
// goes as one call. The same rules as client/python/lossd/split.py.

const DEFAULT_CHUNK_BYTES = 4 << 20;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_IGNORE_INDEX = -100;

const ELEMENT_WISE = new Set(['binary_cross_entropy', 'focal', 'kl_div', 'mse',
  'l1', 'huber', 'smooth_l1', 'poisson_nll', 'hinge']);
const TARGET_WEIGHTED = new Set(['cross_entropy', 'nll', 'poly']);
const ROWS_WITH_IGNORE = new Set(['softmax_focal', 'accuracy']);
const ROWS = new Set(['multi_margin', 'classification_error']);
const KNOWN_MEAN_LOSSES = new Set(
    [...ELEMENT_WISE, ...TARGET_WEIGHTED, ...ROWS_WITH_IGNORE, ...ROWS]);
const PER_ROW = ['sampleWeight', 'mask', 'gradOutput'];

/** {data, shape, dtype} of a tensor argument, or null if it is not one. */
function asTensor(value) {
  if (value === undefined || value === null) return null;
  const spec = ArrayBuffer.isView(value) ? {data: value} : value;
  if (typeof spec !== 'object' || spec.data === undefined) return null;
  const shape = spec.shape === undefined ? [spec.data.length] :
                                           Array.from(spec.shape, Number);
  return {data: spec.data, shape, dtype: spec.dtype};
}

const sameShape = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

function dtypeOf(tensor) {
  if (tensor.dtype !== undefined) {
    const name = String(tensor.dtype).toUpperCase();
    return name.startsWith('DTYPE_') ? name : `DTYPE_${name}`;
  }
  const name = tensor.data.constructor.name;
  return {Float32Array: 'DTYPE_FLOAT32', Float64Array: 'DTYPE_FLOAT64',
          Int32Array: 'DTYPE_INT32', BigInt64Array: 'DTYPE_INT64',
          Uint8Array: 'DTYPE_UINT8', Buffer: 'DTYPE_UINT8'}[name] ||
         (Array.isArray(tensor.data) ? 'DTYPE_FLOAT32' : 'OTHER');
}

/** The server's rule: INT32/INT64 targets are class indices, and UINT8 ones
 * whose shape is not the input's (server/conversion.cc). */
function isClassIndex(target, inputShape) {
  const dtype = dtypeOf(target);
  return dtype === 'DTYPE_INT32' || dtype === 'DTYPE_INT64' ||
         (dtype === 'DTYPE_UINT8' && !sameShape(target.shape, inputShape));
}

const option = (options, camel, snake) =>
  options[camel] !== undefined ? options[camel] : options[snake];

/** [D, kind] of REDUCTION_MEAN over the whole batch, or null. */
function meanDenominator(loss, input, target, mask, classAxis, options) {
  const classes = input.shape[classAxis];
  const exampleShape = input.shape.filter((_, i) => i !== classAxis);
  const inputSize = input.data.length;
  const countNonzero = (data) => {
    let count = 0;
    for (let i = 0; i < data.length; ++i) count += data[i] ? 1 : 0;
    return count;
  };
  if (ELEMENT_WISE.has(loss)) {
    if (mask === null) return [inputSize, 'valid_elements'];
    if (sameShape(mask.shape, input.shape)) {
      return [countNonzero(mask.data), 'valid_elements'];
    }
    if (!sameShape(mask.shape, exampleShape)) return null;
    return [countNonzero(mask.data) * classes, 'valid_elements'];
  }
  if (!KNOWN_MEAN_LOSSES.has(loss)) return null;
  if (mask !== null && !sameShape(mask.shape, exampleShape)) return null;
  const examples = exampleShape.reduce((p, s) => p * s, 1);
  const kept = (i) => mask === null || Boolean(mask.data[i]);
  if (isClassIndex(target, input.shape) &&
      (TARGET_WEIGHTED.has(loss) || ROWS_WITH_IGNORE.has(loss))) {
    if (!sameShape(target.shape, exampleShape)) return null;
    const ignore = option(options, 'ignoreIndex', 'ignore_index');
    const ignoreIndex = ignore === undefined || ignore === null ?
        DEFAULT_IGNORE_INDEX : Number(ignore);
    let weight = null;
    if (TARGET_WEIGHTED.has(loss)) {
      const classWeight = asTensor(option(options, 'classWeight', 'class_weight'));
      if (classWeight !== null) {
        if (classWeight.data.length !== classes) return null;
        weight = Array.from(classWeight.data, Number);
      }
    }
    // Rows in row-major order of the example shape, added one at a time in
    // doubles: the library's order, so D is bitwise the server's.
    let total = 0;
    for (let i = 0; i < examples; ++i) {
      const label = Number(target.data[i]);
      if (!kept(i) || label === ignoreIndex) continue;
      if (!(label >= 0 && label < classes)) return null;
      total += weight === null ? 1 : weight[label];
    }
    return [total, weight === null ? 'valid_examples' : 'target_weight_sum'];
  }
  let count = 0;
  for (let i = 0; i < examples; ++i) count += kept(i) ? 1 : 0;
  return [count, 'valid_examples'];
}

function reductionName(reduction) {
  if (reduction === undefined || reduction === null) return 'mean';
  const name = String(reduction).toLowerCase().replace(/^reduction_/, '');
  return name === 'unspecified' ? 'mean' : name;
}

/**
 * How to split compute(loss, input, target, options), or null to send it
 * whole: {rows, bounds: [[start, stop]...], normalizer, denominator,
 * denominatorKind}. chunkRows (0: never) wins over chunkBytes.
 */
function plan(loss, input, target, options, chunkRows, chunkBytes) {
  if (chunkRows !== undefined && chunkRows !== null && chunkRows <= 0) {
    return null;
  }
  const x = asTensor(input);
  const y = asTensor(target);
  if (x === null || y === null || x.shape.length < 2) return null;
  const dtype = dtypeOf(x);
  if (dtype !== 'DTYPE_FLOAT32' && dtype !== 'DTYPE_FLOAT64') return null;
  const rows = x.shape[0];
  if (!(rows >= 2) || x.data.length % rows !== 0) return null;
  let classAxis = options.classAxis === undefined ? -1 : Number(options.classAxis);
  if (classAxis < -x.shape.length || classAxis >= x.shape.length) return null;
  classAxis = (classAxis + x.shape.length) % x.shape.length;
  if (classAxis === 0) return null;
  if (chunkRows === undefined || chunkRows === null) {
    const rowBytes = (dtype === 'DTYPE_FLOAT32' ? 4 : 8) * (x.data.length / rows);
    chunkRows = Math.max(1, Math.floor(chunkBytes / Math.max(1, rowBytes)));
  }
  if (rows <= chunkRows) return null;
  const perRow = {};
  for (const name of PER_ROW) {
    if (options[name] === undefined || options[name] === null) continue;
    perRow[name] = asTensor(options[name]);
    if (perRow[name] === null) return null;
  }
  for (const tensor of [y, ...Object.values(perRow)]) {
    if (tensor.shape.length < 1 || tensor.shape[0] !== rows ||
        tensor.data.length % rows !== 0) {
      return null;
    }
  }
  const reduction = reductionName(options.reduction);
  let normalizer = options.normalizer;
  let denominator;
  let denominatorKind;
  if (reduction === 'none' || reduction === 'sum') {
    [denominator, denominatorKind, normalizer] = [1, 'one', undefined];
  } else if (reduction !== 'mean' && reduction !== 'batch_mean') {
    return null;
  } else if (normalizer !== undefined && normalizer !== null) {
    [denominator, denominatorKind] = [Number(normalizer), 'normalizer'];
  } else {
    const found = reduction === 'batch_mean' ? [rows, 'batch_size'] :
        meanDenominator(loss, x, y, perRow.mask || null, classAxis, options);
    if (found === null || !(found[0] > 0)) return null;
    [denominator, denominatorKind] = found;
    normalizer = denominator;
  }
  const bounds = [];
  for (let start = 0; start < rows; start += chunkRows) {
    bounds.push([start, Math.min(start + chunkRows, rows)]);
  }
  return {rows, bounds, normalizer, denominator, denominatorKind};
}

/** Rows [start, stop) of a tensor argument (a view, not a copy). */
function sliceRows(value, start, stop) {
  const tensor = asTensor(value);
  const rowLength = tensor.data.length / tensor.shape[0];
  const data = ArrayBuffer.isView(tensor.data) ?
      tensor.data.subarray(start * rowLength, stop * rowLength) :
      tensor.data.slice(start * rowLength, stop * rowLength);
  const sliced = {data, shape: [stop - start, ...tensor.shape.slice(1)]};
  if (tensor.dtype !== undefined) sliced.dtype = tensor.dtype;
  return sliced;
}

/** compute()'s arguments for rows [start, stop). */
function chunkArguments(input, target, options, chunkPlan, start, stop) {
  const chunkOptions = {...options};
  for (const name of PER_ROW) {
    if (options[name] !== undefined && options[name] !== null) {
      chunkOptions[name] = sliceRows(options[name], start, stop);
    }
  }
  if (chunkPlan.normalizer !== undefined) {
    chunkOptions.normalizer = chunkPlan.normalizer;
  }
  return [sliceRows(input, start, stop), sliceRows(target, start, stop),
          chunkOptions];
}

module.exports = {
  DEFAULT_CHUNK_BYTES, DEFAULT_CONCURRENCY, ELEMENT_WISE, KNOWN_MEAN_LOSSES,
  chunkArguments, plan,
};
