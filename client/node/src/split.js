'use strict';
// Large batches: one compute() split into row chunks sent concurrently, and
// the chunks' answers recombined into exactly what one call would return.
//
// The batch is cut along the input's first dimension; so are the per-row
// tensors (target, sampleWeight, mask, gradOutput); per-class options go
// whole to every chunk. The gradient of a mean is gradScale / D times each
// row's own term, with D the whole batch's denominator: the client counts D
// from the targets, mask and class weights by the loss's
// meanDenominatorRule, which ListLosses declares (fetched once per client),
// exactly as the library does (a count, or a sum of class weights added in
// row order in doubles), and sends it to every chunk as `normalizer`, so
// every gradient value is bitwise the unsplit call's. The loss is
// sum(chunk lossSum) / D, equal up to float64 rounding. Where that cannot be
// done (a mean of a loss whose rule is unknown: not listed, not declared by
// the server, or newer than this client; class axis 0, a 1-D input, 16-bit
// input, per-row tensors of another first dimension, class indices out of
// range, a mean of nothing) the batch goes as one call. The same rules as
// client/python/lossd/split.py.

const DEFAULT_CHUNK_BYTES = 4 << 20;
const DEFAULT_CONCURRENCY = 4;

// The MeanDenominatorRule values (loss_service.proto) this client counts, by
// their names less MEAN_DENOMINATOR_RULE_, in lower case.
const UNMASKED_ELEMENTS = 'unmasked_elements';
const TARGET_WEIGHT_SUM = 'target_weight_sum';
const NOT_IGNORED_EXAMPLES = 'not_ignored_examples';
const UNMASKED_EXAMPLES = 'unmasked_examples';
const KNOWN_RULES = new Set([UNMASKED_ELEMENTS, TARGET_WEIGHT_SUM,
  NOT_IGNORED_EXAMPLES, UNMASKED_EXAMPLES]);
const RULE_PREFIX = 'MEAN_DENOMINATOR_RULE_';
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

/**
 * The short name of a LossDescriptor's meanDenominatorRule
 * ('target_weight_sum'), or null when there is no descriptor, it declares
 * no rule, or the rule is not one this client counts.
 */
function meanRule(descriptor) {
  if (descriptor === undefined || descriptor === null) return null;
  const value = descriptor.meanDenominatorRule;
  if (typeof value !== 'string' || !value.startsWith(RULE_PREFIX)) return null;
  const name = value.slice(RULE_PREFIX.length).toLowerCase();
  return KNOWN_RULES.has(name) ? name : null;
}

/** The ignoreIndex in effect: the call's, else the loss's default as
 * ListLosses gives it; undefined when the loss has none (nothing is
 * ignored), NaN when the default is not a number. */
function ignoreIndexOf(descriptor, options) {
  const declared = (descriptor.options || []).find(
      (o) => o.name === 'ignore_index');
  if (declared === undefined) return undefined;
  const given = option(options, 'ignoreIndex', 'ignore_index');
  return given === undefined || given === null ?
      Number(declared.defaultValue) : Number(given);
}

/** [D, kind] of REDUCTION_MEAN over the whole batch by the loss's declared
 * rule, or null. */
function meanDenominator(descriptor, input, target, mask, classAxis, options) {
  const rule = meanRule(descriptor);
  if (rule === null) return null;
  const classes = input.shape[classAxis];
  const exampleShape = input.shape.filter((_, i) => i !== classAxis);
  const inputSize = input.data.length;
  const countNonzero = (data) => {
    let count = 0;
    for (let i = 0; i < data.length; ++i) count += data[i] ? 1 : 0;
    return count;
  };
  if (rule === UNMASKED_ELEMENTS) {
    if (mask === null) return [inputSize, 'valid_elements'];
    if (sameShape(mask.shape, input.shape)) {
      return [countNonzero(mask.data), 'valid_elements'];
    }
    if (!sameShape(mask.shape, exampleShape)) return null;
    return [countNonzero(mask.data) * classes, 'valid_elements'];
  }
  if (mask !== null && !sameShape(mask.shape, exampleShape)) return null;
  const examples = exampleShape.reduce((p, s) => p * s, 1);
  const kept = (i) => mask === null || Boolean(mask.data[i]);
  if (isClassIndex(target, input.shape) &&
      (rule === TARGET_WEIGHT_SUM || rule === NOT_IGNORED_EXAMPLES)) {
    if (!sameShape(target.shape, exampleShape)) return null;
    const ignoreIndex = ignoreIndexOf(descriptor, options);
    if (Number.isNaN(ignoreIndex)) return null;
    let weight = null;
    if (rule === TARGET_WEIGHT_SUM) {
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
 * How to split compute(loss, input, target, options): resolves to null to
 * send it whole, else {rows, bounds: [[start, stop]...], normalizer,
 * denominator, denominatorKind}. chunkRows (0: never) wins over chunkBytes.
 * `describe(loss)` resolves to the loss's LossDescriptor (ListLosses) or
 * null; it is called only for a mean that needs the loss's denominator
 * rule.
 */
async function plan(loss, input, target, options, chunkRows, chunkBytes,
                    describe = null) {
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
    const descriptor = reduction === 'batch_mean' || describe === null ?
        null : await describe(loss);
    const found = reduction === 'batch_mean' ? [rows, 'batch_size'] :
        meanDenominator(descriptor, x, y, perRow.mask || null, classAxis,
                        options);
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
  DEFAULT_CHUNK_BYTES, DEFAULT_CONCURRENCY, KNOWN_RULES, NOT_IGNORED_EXAMPLES,
  TARGET_WEIGHT_SUM, UNMASKED_ELEMENTS, UNMASKED_EXAMPLES, chunkArguments,
  meanRule, plan,
};
