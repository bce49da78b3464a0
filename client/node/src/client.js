'use strict';
// LossClient: lossd's Compute and ListLosses for Node, on @grpc/grpc-js.

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const split = require('./split');
const {dtypeName, fromTensor, toTensor} = require('./tensors');

const SERVICE = 'lossd.v1.LossService';
// A server that answered UNAVAILABLE is passed over for this long (doubling
// while it keeps failing), so that one dead server among several does not
// cost every call that lands on it the retry back-off.
const DOWN_MS = 500;
const MAX_DOWN_MS = 30000;

/** The contract: $LOSSD_PROTO_DIR, else proto/ of the source checkout. */
function defaultProtoDir() {
  return process.env.LOSSD_PROTO_DIR ||
         path.resolve(__dirname, '..', '..', '..', 'proto');
}

let loaded = null;
function contract(protoDir) {
  if (loaded && loaded.protoDir === protoDir) return loaded;
  const definition = protoLoader.loadSync(['lossd/v1/loss_service.proto'], {
    includeDirs: [protoDir],
    keepCase: false, // camelCase fields: labelSmoothing, gradInput
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const request = definition['lossd.v1.ComputeRequest'].type;
  const optionsIndex = request.oneofDecl.findIndex((o) => o.name === 'options');
  // Loss name (camelCase) -> the fields of its options message.
  const optionFields = {};
  for (const field of request.field) {
    if (field.type === 'TYPE_MESSAGE' && field.oneofIndex === optionsIndex &&
        field.typeName !== 'Tensor') {
      const message = definition[`lossd.v1.${field.typeName}`].type;
      optionFields[field.name] = new Map(message.field.map((f) => [f.name, f]));
    }
  }
  // Enum name -> its value names, for choice options given by short name.
  const enums = {};
  for (const [name, entry] of Object.entries(definition)) {
    if (entry.format === 'Protocol Buffer 3 EnumDescriptorProto') {
      enums[name.replace('lossd.v1.', '')] = entry.type.value.map((v) => v.name);
    }
  }
  const proto = grpc.loadPackageDefinition(definition);
  loaded = {protoDir, Service: proto.lossd.v1.LossService, optionFields, enums};
  return loaded;
}

/** A failed call: `code` (grpc.status number), `codeName`, `details`. */
class LossdError extends Error {
  // `rows`: for a call split into chunks, the failed chunk's [start, stop).
  constructor(code, details, target, rows = null) {
    const codeName = Object.keys(grpc.status).find(
        (name) => grpc.status[name] === code) || String(code);
    super(`${codeName}: ${details}`);
    this.name = 'LossdError';
    this.code = code;
    this.codeName = codeName;
    this.details = details;
    this.target = target;
    this.rows = rows;
  }
}

const camelCase = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** 'mean' or 'REDUCTION_MEAN' -> 'REDUCTION_MEAN', checked against `names`. */
function enumName(prefix, value, what, names) {
  if (value === undefined || value === null) return `${prefix}UNSPECIFIED`;
  const upper = String(value).toUpperCase();
  const name = upper.startsWith(prefix) ? upper : `${prefix}${upper}`;
  if (names && !names.includes(name)) {
    const choices = names.filter((n) => !n.endsWith('_UNSPECIFIED'))
                        .map((n) => n.slice(prefix.length).toLowerCase());
    throw new TypeError(`${what} ${value} is not one of ${choices.join(', ')}`);
  }
  return name;
}

/** The common prefix of an enum's value names: that of its UNSPECIFIED. */
const enumPrefix = (names) => names[0].slice(0, -'UNSPECIFIED'.length);
const shortName = (name) => (typeof name === 'string' ?
    name.replace(/^(REDUCTION|DENOMINATOR_KIND)_/, '').toLowerCase() : name);

function serviceConfig(retries) {
  const config = {loadBalancingConfig: [{round_robin: {}}]};
  if (retries > 0) {
    config.methodConfig = [{
      name: [{service: SERVICE}],
      retryPolicy: {
        maxAttempts: Math.min(retries + 1, 5),
        initialBackoff: '0.05s',
        maxBackoff: '1s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    }];
  }
  return JSON.stringify(config);
}

/** The servers in `target`: an array, "a:1,b:2", or one gRPC name. */
function splitTargets(target) {
  let targets;
  if (Array.isArray(target)) {
    targets = target.map(String);
  } else if (/^(dns|ipv4|ipv6|unix|unix-abstract):/.test(target) ||
             target.includes(':///')) {
    targets = [target];
  } else {
    targets = target.split(',').map((t) => t.trim()).filter(Boolean);
  }
  if (targets.length === 0) throw new Error('no target given');
  return targets;
}

/**
 * A client of one or several lossd servers.
 *
 *   const client = new LossClient('localhost:50051', {timeout: 10});
 *   const result = await client.compute('cross_entropy',
 *       {data: logits, shape: [batch, classes]}, labels, {labelSmoothing: 0.1});
 *
 * options:
 *   tls       false | true (system roots) | a CA bundle (Buffer) |
 *             grpc.ChannelCredentials
 *   token     sent as `authorization: Bearer <token>`
 *   timeout   default deadline of a call, in seconds
 *   retries   extra attempts on UNAVAILABLE per server (default 3)
 *   metadata  {key: value} sent with every call
 *   channelOptions  extra grpc-js channel options
 *   chunkBytes, chunkRows, concurrency  compute() splits a batch of more
 *             rows than a chunk into chunks of chunkRows rows (default: as
 *             many as fit in chunkBytes of input, 4 MiB), at most
 *             `concurrency` (4) calls in flight, and recombines them
 *             exactly (src/split.js); chunkRows 0 never splits.
 * Several targets (array or "a:1,b:2"): calls rotate round-robin and one
 * refused as UNAVAILABLE goes on to the next server, which is then passed
 * over for a while (0.5 s, doubling while it stays down). A gRPC name
 * ("dns:///svc:50051", "ipv4:a:1,b:2") is balanced by grpc-js round_robin.
 */
class LossClient {
  constructor(target, options = {}) {
    const {
      tls = false, token, timeout, retries = 3, metadata = {},
      channelOptions = {}, protoDir = defaultProtoDir(),
      chunkBytes = split.DEFAULT_CHUNK_BYTES, chunkRows = null,
      concurrency = split.DEFAULT_CONCURRENCY,
    } = options;
    this.chunkBytes = chunkBytes;
    this.chunkRows = chunkRows;
    this.concurrency = concurrency;
    const {Service, optionFields, enums} = contract(protoDir);
    this.optionFields = optionFields;
    this.enums = enums;
    this.targets = splitTargets(target);
    this.timeout = timeout;
    let credentials;
    if (tls === false || tls === undefined || tls === null) {
      credentials = grpc.credentials.createInsecure();
    } else if (tls === true) {
      credentials = grpc.credentials.createSsl();
    } else if (Buffer.isBuffer(tls)) {
      credentials = grpc.credentials.createSsl(tls);
    } else {
      credentials = tls;
    }
    const channel = {
      'grpc.service_config': serviceConfig(retries),
      'grpc.enable_retries': retries > 0 ? 1 : 0,
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
      'grpc.primary_user_agent': 'lossd-node/0.1',
      ...channelOptions,
    };
    this.stubs = this.targets.map((t) => new Service(t, credentials, channel));
    this.metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(metadata)) {
      this.metadata.add(key, String(value));
    }
    if (token) this.metadata.add('authorization', `Bearer ${token}`);
    this.next = 0;
    this.downUntil = this.targets.map(() => 0);
    this.failures = this.targets.map(() => 0);
    this.registry = null;  // A promise of ListLosses by name, fetched once.
  }

  close() {
    for (const stub of this.stubs) stub.close();
  }

  /** Server indices for the next call: round-robin, up servers first. */
  order() {
    const count = this.stubs.length;
    const first = this.next++ % count;
    const now = Date.now();
    const order = Array.from({length: count}, (_, k) => (first + k) % count);
    return order.filter((i) => this.downUntil[i] <= now)
        .concat(order.filter((i) => this.downUntil[i] > now));
  }

  /** Calls `method` on the next server; on UNAVAILABLE, on the others. */
  async call(method, request, timeout) {
    const seconds = timeout === undefined ? this.timeout : timeout;
    let error;
    for (const index of this.order()) {
      const callOptions = seconds === undefined ? {} :
          {deadline: new Date(Date.now() + seconds * 1000)};
      let response;
      try {
        response = await new Promise((resolve, reject) => {
          this.stubs[index][method](
              request, this.metadata.clone(), callOptions,
              (err, answer) => (err ? reject(err) : resolve(answer)));
        });
      } catch (err) {
        if (err.code === undefined) throw err;
        error = new LossdError(err.code, err.details, this.targets[index]);
        if (err.code !== grpc.status.UNAVAILABLE) break;
        if (this.stubs.length > 1) {
          this.failures[index] += 1;
          this.downUntil[index] = Date.now() + Math.min(
              MAX_DOWN_MS, DOWN_MS * 2 ** (this.failures[index] - 1));
        }
        continue;
      }
      this.failures[index] = 0;
      this.downUntil[index] = 0;
      return response;
    }
    throw error;
  }

  /** The ComputeRequest message of compute()'s arguments. */
  async makeRequest(loss, input, target, options = {}) {
    const {
      sampleWeight, mask, reduction, normalizer, emptyMean, inputKind,
      classAxis, perExample, grad, gradTarget, gradDtype, gradOutput,
      gradScale, requestId, timeout, ...lossOptions
    } = options;
    const request = {
      loss,
      input: toTensor(input, 'input'),
      target: toTensor(target, 'target'),
      reduction: enumName('REDUCTION_', reduction, 'reduction',
                          this.enums.Reduction),
      emptyMean: enumName('EMPTY_MEAN_', emptyMean, 'emptyMean',
                          this.enums.EmptyMean),
      inputKind: enumName('INPUT_KIND_', inputKind, 'inputKind',
                          this.enums.InputKind),
    };
    if (sampleWeight !== undefined) {
      request.sampleWeight = toTensor(sampleWeight, 'sampleWeight');
    }
    if (mask !== undefined) request.mask = toTensor(mask, 'mask');
    if (gradOutput !== undefined) {
      request.gradOutput = toTensor(gradOutput, 'gradOutput');
    }
    if (normalizer !== undefined) request.normalizer = normalizer;
    if (gradScale !== undefined) request.gradScale = gradScale;
    if (classAxis !== undefined) request.classAxis = classAxis;
    if (gradDtype !== undefined) request.gradDtype = dtypeName(gradDtype);
    if (requestId) request.requestId = requestId;
    if (perExample !== undefined || grad !== undefined ||
        gradTarget !== undefined) {
      request.outputs = {
        perExample: perExample === undefined ?
            request.reduction === 'REDUCTION_NONE' : Boolean(perExample),
        gradInput: grad === undefined ? await this.hasGradient(loss, timeout) :
                                        Boolean(grad),
        gradTarget: Boolean(gradTarget),
      };
    }
    const names = Object.keys(lossOptions);
    if (names.length > 0) {
      const field = camelCase(loss);
      const fields = this.optionFields[field];
      if (fields === undefined) {
        throw new TypeError(`loss ${loss} takes no options (got ${names}); ` +
                            `losses with options: ${
                                Object.keys(this.optionFields)}`);
      }
      const message = {};
      for (const [name, value] of Object.entries(lossOptions)) {
        const key = camelCase(name);
        const spec = fields.get(key);
        if (spec === undefined) {
          throw new TypeError(`${loss} has no option ${name}; its options: ${
              [...fields.keys()]}`);
        }
        if (value === undefined || value === null) continue;
        if (spec.type === 'TYPE_ENUM' && typeof value === 'string') {
          const names = this.enums[spec.typeName];
          message[key] = enumName(enumPrefix(names), value, `${loss}.${name}`,
                                  names);
        } else if (spec.type === 'TYPE_MESSAGE') { // A per-class Tensor.
          const tensor = ArrayBuffer.isView(value) || Array.isArray(value) ?
              {data: ArrayBuffer.isView(value) ? value : Float64Array.from(value)} :
              value;
          message[key] = toTensor(tensor, `${name}`);
        } else {
          message[key] = value;
        }
      }
      request[field] = message;
    }
    return request;
  }

  /**
   * Computes `loss` over a batch. input: {data, shape} (floating typed
   * array, [batch, classes] or the class axis at classAxis); target: class
   * indices (Int32Array / BigInt64Array) or a dense target of the input's
   * shape. options: reduction ('mean', 'sum', 'none', 'batch_mean'),
   * normalizer, emptyMean ('nan', 'zero'), inputKind, classAxis,
   * sampleWeight, mask, perExample, grad, gradTarget, gradDtype, gradOutput,
   * gradScale, requestId, timeout, and the loss's own options
   * (labelSmoothing, classWeight, ignoreIndex, labelSmoothingRule:
   * 'other_classes', ...; snake_case works too).
   * Resolves to {loss, perExample, gradInput, gradTarget, statistics,
   * reduction, requestId}; arrays as {data, shape, dtype}; statistics with
   * lossSum, denominator, validCount, weightSum, denominatorKind.
   * A batch of more rows than a chunk (options chunkRows, concurrency, else
   * the client's) goes as concurrent calls over row chunks, recombined
   * exactly: gradients bit for bit, the loss up to float64 rounding; the
   * timeout is that of the whole call.
   * Rejects with LossdError (for a chunk: `rows` and its message name them).
   */
  async compute(loss, input, target, options = {}) {
    const {chunkRows, concurrency, ...callOptions} = options;
    const chunkPlan = await split.plan(
        loss, input, target, callOptions,
        chunkRows === undefined ? this.chunkRows : chunkRows, this.chunkBytes,
        (name) => this.describeForSplit(name, callOptions.timeout));
    if (chunkPlan !== null) {
      return this.computeSplit(
          chunkPlan, loss, input, target, callOptions,
          concurrency === undefined ? this.concurrency : concurrency);
    }
    return this.computeOne(loss, input, target, callOptions);
  }

  async computeOne(loss, input, target, options, timeout = options.timeout) {
    const request = await this.makeRequest(loss, input, target, options);
    const response = await this.call('Compute', request, timeout);
    return {
      loss: response.loss,
      perExample: response.perExample ? fromTensor(response.perExample) : null,
      gradInput: response.gradInput ? fromTensor(response.gradInput) : null,
      gradTarget: response.gradTarget ? fromTensor(response.gradTarget) : null,
      statistics: {...response.statistics,
                   denominatorKind: shortName(response.statistics.denominatorKind)},
      reduction: shortName(response.reduction),
      requestId: response.requestId,
    };
  }

  /** compute() over chunkPlan.bounds, `concurrency` chunks at a time. */
  async computeSplit(chunkPlan, loss, input, target, options, concurrency) {
    const seconds = options.timeout === undefined ? this.timeout : options.timeout;
    const deadline = seconds === undefined ? undefined : Date.now() + seconds * 1000;
    const results = new Array(chunkPlan.bounds.length);
    const errors = [];
    let next = 0;
    const worker = async () => {
      while (errors.length === 0 && next < chunkPlan.bounds.length) {
        const index = next++;
        const [start, stop] = chunkPlan.bounds[index];
        try {
          let remaining;
          if (deadline !== undefined) {
            remaining = (deadline - Date.now()) / 1000;
            if (remaining <= 0) {
              throw new LossdError(grpc.status.DEADLINE_EXCEEDED,
                                   'Deadline exceeded before the chunk was sent');
            }
          }
          const [x, y, chunkOptions] = split.chunkArguments(
              input, target, options, chunkPlan, start, stop);
          results[index] = await this.computeOne(loss, x, y, chunkOptions,
                                                 remaining);
        } catch (error) {
          errors.push([index, error]);
        }
      }
    };
    const workers = Math.max(1, Math.min(concurrency, chunkPlan.bounds.length));
    await Promise.all(Array.from({length: workers}, worker));
    if (errors.length > 0) {
      errors.sort((a, b) => a[0] - b[0]);
      const [index, error] = errors[0];
      if (!(error instanceof LossdError)) throw error;
      const [start, stop] = chunkPlan.bounds[index];
      throw new LossdError(error.code,
                           `rows [${start}, ${stop}) of ${chunkPlan.rows}: ` +
                           error.details, error.target, [start, stop]);
    }
    const joined = (name) => {
      if (results[0][name] === null) return null;
      const first = results[0][name];
      const rowLength = first.data.length / first.shape[0];
      const data = new first.data.constructor(chunkPlan.rows * rowLength);
      chunkPlan.bounds.forEach(([start], i) => {
        data.set(results[i][name].data, start * rowLength);
      });
      return {data, shape: [chunkPlan.rows, ...first.shape.slice(1)],
              dtype: first.dtype};
    };
    // Chunk sums added in order; the unsplit call adds the same per-row
    // losses in one running sum, so the two agree to float64 rounding.
    let lossSum = 0;
    let validCount = 0;
    let weightSum = 0;
    for (const result of results) {
      lossSum += result.statistics.lossSum;
      validCount += Number(result.statistics.validCount);
      weightSum += result.statistics.weightSum;
    }
    const reduction = results[0].reduction;
    const reduced = reduction === 'none' || reduction === 'sum';
    return {
      loss: reduced ? lossSum : lossSum / chunkPlan.denominator,
      perExample: joined('perExample'),
      gradInput: joined('gradInput'),
      gradTarget: joined('gradTarget'),
      statistics: {lossSum, denominator: chunkPlan.denominator, validCount,
                   weightSum, denominatorKind: chunkPlan.denominatorKind},
      reduction,
      requestId: results[0].requestId,
    };
  }

  /** The server's loss registry (LossDescriptor objects). */
  async listLosses(options = {}) {
    return (await this.call('ListLosses', {}, options.timeout)).losses;
  }

  /**
   * The LossDescriptor of `loss`, or null for a loss the server does not
   * list. ListLosses is called once per client and its answer kept (several
   * targets are assumed to run one version); a failed listing rejects with
   * its LossdError and is asked again next time.
   */
  async describe(loss, timeout) {
    if (this.registry === null) {
      this.registry = this.listLosses({timeout}).then(
          (losses) => new Map(losses.map((l) => [l.name, l])),
          (error) => {
            this.registry = null;
            throw error;
          });
    }
    const descriptor = (await this.registry).get(loss);
    return descriptor === undefined ? null : descriptor;
  }

  /** describe(), or null when ListLosses fails: the call then goes whole
   * (and reports its own errors). */
  async describeForSplit(loss, timeout) {
    try {
      return await this.describe(loss, timeout);
    } catch (error) {
      if (error instanceof LossdError) return null;
      throw error;
    }
  }

  async hasGradient(loss, timeout) {
    const descriptor = await this.describe(loss, timeout);
    return descriptor === null ? true : descriptor.hasGradient;
  }
}

module.exports = {LossClient, LossdError, splitTargets};
