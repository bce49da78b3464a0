"""LossClient: lossd's Compute, ComputeStream and ListLosses for NumPy users."""

import itertools
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import grpc
import numpy as np

from lossd import _stubs, split
from lossd.tensors import dtype_value, from_tensor, to_tensor

_SERVICE = "lossd.v1.LossService"
_USER_AGENT = "lossd-python/0.1"
# Requests up to the server's default --max_request_bytes and beyond; the
# server enforces its own limit and says so with RESOURCE_EXHAUSTED.
_DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
# A server that answered UNAVAILABLE is passed over for this long (doubling
# while it keeps failing, up to the maximum), so that one dead server among
# several does not cost every call that lands on it gRPC's retry back-off.
_DOWN_SECONDS = 0.5
_MAX_DOWN_SECONDS = 30.0


class LossdError(Exception):
    """A failed call: the gRPC status code and the server's message.

    `code` is a grpc.StatusCode (e.g. grpc.StatusCode.INVALID_ARGUMENT),
    `message` the server's text (which names the offending field), `target`
    the server that answered. For a call split into chunks, `rows` is the
    failed chunk's row range (start, stop) and the message begins with it.
    """

    def __init__(self, code, message, target=None, rows=None):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.target = target
        self.rows = rows

    @property
    def code_name(self):
        return self.code.name


@dataclass(frozen=True)
class Statistics:
    """What the reduction was computed from: loss = loss_sum / denominator.

    Sum loss_sum and denominator over micro-batches or shards to combine
    them exactly."""

    loss_sum: float
    denominator: float
    valid_count: int
    weight_sum: float
    # Which denominator the mean used: "one", "valid_examples",
    # "target_weight_sum", "valid_elements", "batch_size" or "normalizer".
    denominator_kind: str = "unspecified"


@dataclass(frozen=True)
class ComputeResult:
    """One Compute answer. Arrays are read-only views of the response."""

    loss: float
    per_example: Optional[np.ndarray]
    grad_input: Optional[np.ndarray]
    statistics: Statistics
    reduction: str  # "none", "sum", "mean" or "batch_mean": what was applied.
    request_id: str
    grad_target: Optional[np.ndarray] = None  # When asked for (grad_target=True).

    @property
    def stats(self):
        return self.statistics


def _enum_value(enum, prefix, value, what):
    """An enum value from its short name ('mean'), full name or number."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    name = str(value).strip().upper()
    if not name.startswith(prefix):
        name = prefix + name
    try:
        return enum.Value(name)
    except ValueError:
        choices = [n[len(prefix):].lower() for n in enum.keys()
                   if not n.endswith("UNSPECIFIED")]
        raise ValueError(f"{what} {value!r} is not one of {choices}") from None


def _enum_descriptor_value(enum_descriptor, value, what):
    """The number of `value` ('other_classes', the full name or a number)
    in an enum whose values share the UNSPECIFIED value's prefix."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    prefix = enum_descriptor.values_by_number[0].name[:-len("UNSPECIFIED")]
    name = str(value).strip().upper()
    if not name.startswith(prefix):
        name = prefix + name
    if name not in enum_descriptor.values_by_name:
        choices = [v.name[len(prefix):].lower() for v in enum_descriptor.values
                   if v.number != 0]
        raise ValueError(f"{what} {value!r} is not one of {choices}")
    return enum_descriptor.values_by_name[name].number


_short_names = {}


def _short_name(enum, prefix, number):
    """'mean' for REDUCTION_MEAN; cached (enum wrappers are slow)."""
    key = (prefix, number)
    if key not in _short_names:
        _short_names[key] = enum.Name(number)[len(prefix):].lower()
    return _short_names[key]


def _service_config(retries, retry_codes):
    config = {"loadBalancingConfig": [{"round_robin": {}}]}
    if retries > 0:
        config["methodConfig"] = [{
            "name": [{"service": _SERVICE}],
            "retryPolicy": {
                # gRPC caps attempts at 5.
                "maxAttempts": min(retries + 1, 5),
                "initialBackoff": "0.05s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": list(retry_codes),
            },
        }]
    return json.dumps(config)


def _credentials(tls):
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, (str, Path)):
        return grpc.ssl_channel_credentials(
            root_certificates=Path(tls).read_bytes())
    raise TypeError("tls must be False, True, a CA bundle path or "
                    "grpc.ChannelCredentials")


def split_targets(target):
    """The list of servers in `target`.

    A list or tuple is taken as is; a string is split at commas ("a:1,b:2")
    unless it names a gRPC resolver ("dns:///svc:50051", "ipv4:...",
    "unix:..."), which gRPC balances itself.
    """
    if isinstance(target, (list, tuple)):
        targets = [str(t) for t in target]
    elif ":///" in target or target.split(":", 1)[0] in ("dns", "ipv4", "ipv6",
                                                          "unix", "unix-abstract"):
        targets = [target]
    else:
        targets = [t.strip() for t in target.split(",") if t.strip()]
    if not targets:
        raise ValueError("no target given")
    return targets


class LossClient:
    """A client of one or several lossd servers.

        client = LossClient("localhost:50051")
        result = client.compute("cross_entropy", logits, labels,
                                label_smoothing=0.1)
        result.loss, result.grad_input

    target:   "host:port"; several as a list or "a:1,b:2" (calls rotate
              round-robin over them, and a call refused as UNAVAILABLE by
              one goes to the next); or a gRPC name such as
              "dns:///lossd-headless:50051" or "ipv4:10.0.0.1:50051,10.0.0.2:50051",
              balanced by gRPC itself (round_robin) over its addresses.
              A server of a list that answered UNAVAILABLE is passed over
              for a while (0.5 s, doubling while it stays down).
    tls:      False (plaintext), True (system roots), a CA bundle path, or
              grpc.ChannelCredentials (e.g. with a client certificate).
    token:    sent as `authorization: Bearer <token>` on every call.
    timeout:  default deadline of each call, in seconds (None: no deadline).
    retries:  extra attempts of a call on each server for transient
              failures (gRPC's retry policy; Compute is idempotent).
    metadata: extra (key, value) pairs sent on every call.
    channel_options: extra gRPC channel arguments.
    chunk_bytes, chunk_rows, concurrency: compute() splits a batch of more
              rows than a chunk into chunks of `chunk_rows` rows (default:
              as many as fit in `chunk_bytes` of input, 4 MiB), at most
              `concurrency` calls in flight, and recombines them exactly
              (see lossd.split). chunk_rows=0 never splits.
    """

    def __init__(self, target, *, tls=False, token=None, timeout=None,
                 retries=3, retry_codes=("UNAVAILABLE",), metadata=(),
                 max_message_bytes=_DEFAULT_MAX_MESSAGE_BYTES,
                 channel_options=(), chunk_bytes=split.DEFAULT_CHUNK_BYTES,
                 chunk_rows=None, concurrency=split.DEFAULT_CONCURRENCY):
        self._pb = _stubs.modules().service_pb2
        self.targets = split_targets(target)
        self.timeout = timeout
        self.chunk_bytes = chunk_bytes
        self.chunk_rows = chunk_rows
        self.concurrency = concurrency
        options = [
            ("grpc.service_config", _service_config(retries, retry_codes)),
            ("grpc.enable_retries", 1 if retries > 0 else 0),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.primary_user_agent", _USER_AGENT),
            *channel_options,
        ]
        if tls:
            credentials = _credentials(tls)
            self._channels = [grpc.secure_channel(t, credentials, options)
                              for t in self.targets]
        else:
            self._channels = [grpc.insecure_channel(t, options)
                              for t in self.targets]
        stub_class = _stubs.modules().service_grpc.LossServiceStub
        self._stubs = [stub_class(channel) for channel in self._channels]
        self._metadata = tuple(metadata)
        if token:
            self._metadata += (("authorization", f"Bearer {token}"),)
        self._next = itertools.count()
        self._next_lock = threading.Lock()
        self._down_until = [0.0] * len(self.targets)
        self._failures = [0] * len(self.targets)
        self._registry = None  # ListLosses by name, fetched once.
        self._registry_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------

    def close(self):
        for channel in self._channels:
            channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- calls ---------------------------------------------------------------

    def _order(self):
        """Server indices for the next call: round-robin, servers that are
        up first, those recently UNAVAILABLE last."""
        count = len(self._stubs)
        if count == 1:
            return (0,)
        with self._next_lock:
            first = next(self._next) % count
            now = time.monotonic()
            order = [(first + k) % count for k in range(count)]
            return ([i for i in order if self._down_until[i] <= now] +
                    [i for i in order if self._down_until[i] > now])

    def _mark(self, index, available):
        with self._next_lock:
            if available:
                self._failures[index] = 0
                self._down_until[index] = 0.0
            else:
                self._failures[index] += 1
                self._down_until[index] = time.monotonic() + min(
                    _MAX_DOWN_SECONDS,
                    _DOWN_SECONDS * 2 ** (self._failures[index] - 1))

    def _call(self, method, request, timeout, metadata=()):
        """Calls `method` on the next server; on UNAVAILABLE, on the others."""
        timeout = self.timeout if timeout is None else timeout
        error = None
        for index in self._order():
            try:
                response = getattr(self._stubs[index], method)(
                    request, timeout=timeout,
                    metadata=self._metadata + tuple(metadata))
            except grpc.RpcError as rpc_error:
                error = LossdError(rpc_error.code(), rpc_error.details(),
                                   self.targets[index])
                if rpc_error.code() != grpc.StatusCode.UNAVAILABLE:
                    break
                if len(self._stubs) > 1:
                    self._mark(index, available=False)
                continue
            if self._failures[index]:
                self._mark(index, available=True)
            return response
        raise error

    def make_request(self, loss, input, target, *, sample_weight=None,
                     mask=None, reduction=None, normalizer=None,
                     empty_mean=None, input_kind=None, class_axis=None,
                     per_example=None, grad=None, grad_target=None,
                     grad_dtype=None, grad_output=None, grad_scale=None,
                     request_id=None, **options):
        """The ComputeRequest message of compute()'s arguments."""
        pb = self._pb
        request = pb.ComputeRequest(
            loss=loss,
            reduction=_enum_value(pb.Reduction, "REDUCTION_", reduction,
                                  "reduction"),
            empty_mean=_enum_value(pb.EmptyMean, "EMPTY_MEAN_", empty_mean,
                                   "empty_mean"),
            input_kind=_enum_value(pb.InputKind, "INPUT_KIND_", input_kind,
                                   "input_kind"))
        # Written in place: a Tensor passed to the constructor is copied.
        to_tensor(input, out=request.input)
        to_tensor(target, out=request.target)
        if sample_weight is not None:
            to_tensor(sample_weight, out=request.sample_weight)
        if mask is not None:
            to_tensor(mask, out=request.mask)
        if grad_output is not None:
            to_tensor(grad_output, out=request.grad_output)
        if normalizer is not None:
            request.normalizer = float(normalizer)
        if grad_scale is not None:
            request.grad_scale = float(grad_scale)
        if class_axis is not None:
            request.class_axis = class_axis
        if grad_dtype is not None:
            request.grad_dtype = dtype_value(grad_dtype)
        if request_id:
            request.request_id = request_id
        if per_example is not None or grad is not None or grad_target is not None:
            if per_example is None:
                per_example = request.reduction == pb.REDUCTION_NONE
            if grad is None:
                grad = self._has_gradient(loss)
            request.outputs.per_example = bool(per_example)
            request.outputs.grad_input = bool(grad)
            request.outputs.grad_target = bool(grad_target)
        if options:
            _set_options(request, loss, options)
        return request

    def compute(self, loss, input, target, *, timeout=None, chunk_rows=None,
                concurrency=None, **kwargs):
        """Computes `loss` over a batch; returns a ComputeResult.

        input:  model outputs, a floating array: [batch, classes], or any
                shape with the class axis at `class_axis` (default: last).
        target: class indices (integer array, input's shape less the class
                axis) or a dense target (floating/uint8/bool, input's shape).
        Keyword arguments:
          sample_weight  per-example weights
          mask           per-example (or per-element) inclusion, bool/int
          reduction      "mean" (default), "sum", "none", "batch_mean"
          normalizer     replaces the mean's denominator (micro-batches)
          empty_mean     "nan" (default) or "zero": the mean of nothing
          input_kind     "logits" (default), "probabilities", "log_probabilities"
          class_axis     axis of the classes in input (negative from the end)
          per_example    return per-example losses (default: only for "none")
          grad           return d loss / d input (default: when the loss has one)
          grad_target    return d loss / d target (losses that have it)
          grad_dtype     dtype of the gradients ("float32", "bfloat16", ...)
          grad_output    upstream gradient per example (reduction "none")
          grad_scale     multiplies the returned gradients (loss scaling)
          request_id     echoed back and logged by the server
          timeout        this call's deadline in seconds (of the whole call
                         when it is split)
          chunk_rows     rows per chunk for this call (default: the client's
                         chunk_rows, else rows of chunk_bytes); 0: one call
          concurrency    chunks in flight for this call
          **options      the loss's own options, the fields of its options
                         message (ComputeRequest's `options` member named
                         after the loss; see list_losses()): e.g.
                         cross_entropy takes class_weight, ignore_index,
                         label_smoothing, label_smoothing_rule, z_loss,
                         logit_softcap. Arrays for per-class options, short
                         names ("other_classes") for choices.
        A batch of more rows (input's first dimension) than a chunk is sent
        as concurrent calls over row chunks and recombined exactly: the same
        gradients bit for bit, the same loss up to float64 rounding (see
        lossd.split for how, and when a batch is sent whole instead).
        Raises LossdError (with .code and .message) when the server refuses.
        """
        plan = split.plan(loss, input, target, kwargs,
                          self.chunk_rows if chunk_rows is None else chunk_rows,
                          self.chunk_bytes, describe=self._describe_for_split)
        if plan is not None:
            return self._compute_split(
                plan, loss, input, target, timeout,
                self.concurrency if concurrency is None else concurrency,
                kwargs)
        request = self.make_request(loss, input, target, **kwargs)
        return _result(self._call("Compute", request, timeout))

    def _compute_split(self, plan, loss, input, target, timeout, concurrency,
                       kwargs):
        """compute() over plan.bounds, `concurrency` calls at a time; the
        outputs are copied into whole-batch arrays as chunks arrive."""
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        input = np.asarray(input)
        target = np.asarray(target)
        failed = threading.Event()
        outputs = {}
        outputs_lock = threading.Lock()

        def place(name, array, start, stop):
            if array is None:
                return
            with outputs_lock:
                if name not in outputs:
                    outputs[name] = np.empty((plan.rows,) + array.shape[1:],
                                             array.dtype)
            outputs[name][start:stop] = array

        def run(start, stop):
            if failed.is_set():
                return None
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LossdError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                     "Deadline Exceeded before the chunk "
                                     "was sent")
            request = self.make_request(
                loss, input[start:stop], target[start:stop],
                **split.chunk_kwargs(kwargs, plan, start, stop))
            result = _result(self._call("Compute", request, remaining))
            place("per_example", result.per_example, start, stop)
            place("grad_input", result.grad_input, start, stop)
            place("grad_target", result.grad_target, start, stop)
            # Drop the response's arrays: only the statistics are kept.
            return result.statistics, result.reduction, result.request_id

        workers = max(1, min(concurrency, len(plan.bounds)))
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="lossd-chunk") as pool:
            futures = [pool.submit(run, start, stop)
                       for start, stop in plan.bounds]
            answers, errors = [], []
            for index, future in enumerate(futures):
                try:
                    answers.append(future.result())
                except Exception as error:  # Raised below, lowest rows first.
                    failed.set()
                    errors.append((index, error))
        if errors:
            index, error = errors[0]
            if not isinstance(error, LossdError):
                raise error
            start, stop = plan.bounds[index]
            raise LossdError(
                error.code, f"rows [{start}, {stop}) of {plan.rows}: "
                f"{error.message}", error.target, rows=(start, stop)) from None
        statistics = [answer[0] for answer in answers]
        reduction = answers[0][1]
        loss_value, loss_sum = split.combine_loss(
            plan, [s.loss_sum for s in statistics], reduction)
        return ComputeResult(
            loss=loss_value,
            per_example=outputs.get("per_example"),
            grad_input=outputs.get("grad_input"),
            statistics=Statistics(
                loss_sum=loss_sum,
                denominator=plan.denominator,
                valid_count=sum(s.valid_count for s in statistics),
                weight_sum=math.fsum(s.weight_sum for s in statistics),
                denominator_kind=plan.denominator_kind),
            reduction=reduction,
            request_id=answers[0][2],
            grad_target=outputs.get("grad_target"))

    def compute_stream(self, calls, *, timeout=None):
        """Runs many computations over one ComputeStream; yields results in
        order. `calls` is an iterable of dicts of compute()'s arguments
        (loss, input, target and keywords). The stream goes to one server.
        """
        # gRPC consumes the iterator on its own thread and would only cancel
        # the call on a bad request: keep the error and raise it here.
        errors = []

        def requests():
            for call in calls:
                try:
                    request = self.make_request(**call)
                except Exception as error:  # Raised below, in the caller.
                    errors.append(error)
                    return
                yield request

        index = self._order()[0]
        responses = self._stubs[index].ComputeStream(
            requests(), timeout=self.timeout if timeout is None else timeout,
            metadata=self._metadata)
        try:
            for response in responses:
                yield _result(response)
        except grpc.RpcError as rpc_error:
            raise LossdError(rpc_error.code(), rpc_error.details(),
                             self.targets[index]) from None
        if errors:
            raise errors[0]

    def list_losses(self, *, timeout=None):
        """The server's loss registry: a list of lossd.v1.LossDescriptor."""
        response = self._call("ListLosses", self._pb.ListLossesRequest(), timeout)
        return list(response.losses)

    def health(self, *, service="", timeout=None):
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING", ... of one server.

        The two one-field messages are encoded by hand: Debian ships no
        grpcio-health-checking, and this is all of the protocol we need.
        """
        request = (b"\x0a" + _varint(len(service.encode())) + service.encode()
                   if service else b"")
        check = self._channels[0].unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw)
        try:
            raw = check(request, timeout=self.timeout if timeout is None
                        else timeout, metadata=self._metadata)
        except grpc.RpcError as rpc_error:
            raise LossdError(rpc_error.code(), rpc_error.details(),
                             self.targets[0]) from None
        status = raw[1] if len(raw) >= 2 and raw[0] == 0x08 else 0
        return {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING",
                3: "SERVICE_UNKNOWN"}.get(status, "UNKNOWN")

    def describe(self, loss):
        """The lossd.v1.LossDescriptor of `loss`, or None for a loss the
        server does not list. ListLosses is called once per client and its
        answer kept (several targets are assumed to run one version).
        Raises LossdError when ListLosses fails."""
        with self._registry_lock:
            if self._registry is None:
                self._registry = {d.name: d for d in self.list_losses()}
            return self._registry.get(loss)

    def _describe_for_split(self, loss):
        """describe(), or None when ListLosses fails: the call then goes
        whole (and reports its own errors); a later call asks again."""
        try:
            return self.describe(loss)
        except LossdError:
            return None

    def _has_gradient(self, loss):
        descriptor = self.describe(loss)
        return descriptor.has_gradient if descriptor is not None else True


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _set_options(request, loss, options):
    """Sets the loss's options message (the `options` oneof member named
    after the loss), field by field."""
    oneof = request.DESCRIPTOR.oneofs_by_name["options"]
    field = next((f for f in oneof.fields if f.name == loss), None)
    if field is None:
        raise ValueError(
            f"loss {loss!r} takes no options in this contract (got "
            f"{sorted(options)}); losses with options: "
            f"{[f.name for f in oneof.fields]}")
    message = getattr(request, field.name)
    message.SetInParent()
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in options.items():
        if name not in fields:
            raise ValueError(f"{loss} has no option {name!r}; its options: "
                             f"{sorted(fields)}")
        if value is None:
            continue
        if fields[name].enum_type is not None:  # A choice.
            setattr(message, name, _enum_descriptor_value(
                fields[name].enum_type, value, f"{loss}.{name}"))
        elif fields[name].message_type is not None:  # A per-class Tensor.
            array = np.asarray(value)
            if array.dtype.kind not in "f":
                array = array.astype(np.float64)
            to_tensor(array, out=getattr(message, name))
        else:
            if np.ndim(value) == 0 and hasattr(value, "item"):
                value = value.item()  # numpy or torch scalars.
            setattr(message, name, value)


def _result(response):
    pb = _stubs.modules().service_pb2
    statistics = response.statistics
    return ComputeResult(
        loss=response.loss,
        per_example=(from_tensor(response.per_example)
                     if response.HasField("per_example") else None),
        grad_input=(from_tensor(response.grad_input)
                    if response.HasField("grad_input") else None),
        statistics=Statistics(
            loss_sum=statistics.loss_sum,
            denominator=statistics.denominator,
            valid_count=statistics.valid_count,
            weight_sum=statistics.weight_sum,
            denominator_kind=_short_name(pb.DenominatorKind, "DENOMINATOR_KIND_",
                                         statistics.denominator_kind)),
        reduction=_short_name(pb.Reduction, "REDUCTION_", response.reduction),
        request_id=response.request_id,
        grad_target=(from_tensor(response.grad_target)
                     if response.HasField("grad_target") else None))
