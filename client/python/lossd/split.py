"""Large batches: one Compute split into row chunks sent concurrently, and
the chunks' answers recombined into exactly what one call would return.

A batch is cut along the input's first dimension. Every per-row tensor
(target, sample_weight, mask, grad_output) is cut the same way; per-class
options (class_weight, pos_weight, weight) go whole to every chunk.

Exactness rests on the request's `normalizer`. The gradient of a mean is
grad_scale / D times each row's own term, and the server computes D from
the whole request; a chunk alone would divide by its own D. So before
sending anything the client computes the whole batch's D and sends it to
every chunk as `normalizer`. How D is counted is the loss's
`mean_denominator_rule` in ListLosses (the library's registry declares it
and computes every mean by it); the client fetches the registry once and
counts by that rule from the targets, mask and class weights alone (never
from the input): a count of examples or elements, or for class indices with
class weights a sum of float64 weights added in row order, the library's
order. The server then multiplies every gradient by the same double
grad_scale / D, so each gradient value is bitwise the one an unsplit call
gives. The reduced loss is sum(chunk loss_sum) / D, equal to the unsplit
loss up to float64 rounding (the unsplit call adds the same per-row losses
in one running sum; here each chunk has its own).

Where that cannot be done the call is not split: a mean (without a
normalizer) of a loss whose rule is unknown (not in the registry, a server
that declares no rule, or a rule newer than this client), a class axis of 0
or a 1-D input (rows are not the first dimension), tensors given as
protobuf messages (e.g. bfloat16 from lossd.torch), per-row tensors whose
first dimension is not the batch's, class indices out of range (the one
call reports the error), and a mean of nothing (D = 0, which a normalizer
cannot express).
"""

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

# About this many input bytes per chunk by default: large enough that a
# call's fixed cost (~55 us) is nothing, small enough that several calls
# overlap and that the server and client never hold a large buffer.
DEFAULT_CHUNK_BYTES = 4 << 20
DEFAULT_CONCURRENCY = 4

# The MeanDenominatorRule values (loss_service.proto) this client counts,
# by their names less MEAN_DENOMINATOR_RULE_, in lower case.
UNMASKED_ELEMENTS = "unmasked_elements"
TARGET_WEIGHT_SUM = "target_weight_sum"
NOT_IGNORED_EXAMPLES = "not_ignored_examples"
UNMASKED_EXAMPLES = "unmasked_examples"
KNOWN_RULES = frozenset({UNMASKED_ELEMENTS, TARGET_WEIGHT_SUM,
                         NOT_IGNORED_EXAMPLES, UNMASKED_EXAMPLES})
_RULE_PREFIX = "MEAN_DENOMINATOR_RULE_"

_PER_ROW = ("sample_weight", "mask", "grad_output")


@dataclass
class Plan:
    """How one call is split: row bounds and what each chunk is sent."""

    rows: int
    bounds: List[Tuple[int, int]]
    # Sent as every chunk's `normalizer` (None for SUM and NONE).
    normalizer: Optional[float]
    # The whole call's denominator and its kind, as the unsplit call would
    # report them in its statistics.
    denominator: float
    denominator_kind: str


def _reduction_name(reduction):
    if reduction is None:
        return "mean"
    if isinstance(reduction, int) and not isinstance(reduction, bool):
        return {0: "mean", 1: "none", 2: "sum", 3: "mean",
                4: "batch_mean"}.get(reduction, "?")
    name = str(reduction).strip().lower()
    if name.startswith("reduction_"):
        name = name[len("reduction_"):]
    return "mean" if name == "unspecified" else name


def _is_message(value):
    return hasattr(value, "SerializeToString")


def _is_class_index(target, input_shape):
    """The server's rule (server/conversion.cc): int32/int64 targets are
    class indices, and uint8 ones whose shape is not the input's."""
    kind, size = target.dtype.kind, target.dtype.itemsize
    if kind in "iu" and size in (4, 8):
        return True
    return kind == "u" and size == 1 and target.shape != input_shape


def _row_sum_in_order(values):
    """sum(values) in float64, added left to right as the library does."""
    if values.size == 0:
        return 0.0
    return float(np.cumsum(values, dtype=np.float64)[-1])


def mean_rule(descriptor):
    """The short name of `descriptor`'s mean_denominator_rule (a
    lossd.v1.LossDescriptor from ListLosses), or None when there is no
    descriptor, it declares no rule, or the rule is not one this client
    counts."""
    if descriptor is None:
        return None
    field = descriptor.DESCRIPTOR.fields_by_name.get("mean_denominator_rule")
    if field is None:  # Stubs generated before the field existed.
        return None
    value = field.enum_type.values_by_number.get(
        descriptor.mean_denominator_rule)
    if value is None or not value.name.startswith(_RULE_PREFIX):
        return None
    name = value.name[len(_RULE_PREFIX):].lower()
    return name if name in KNOWN_RULES else None


def _ignore_index(descriptor, options):
    """The ignore_index in effect: the call's, else the loss's default as
    ListLosses gives it; None when the loss has none (nothing is ignored).
    Raises ValueError for a default that is not a number."""
    for option in descriptor.options:
        if option.name == "ignore_index":
            value = options.get("ignore_index")
            return int(float(option.default_value) if value is None
                       else value)
    return None


def _mean_denominator(descriptor, input, target, mask, class_axis, options):
    """(D, kind) of REDUCTION_MEAN over the whole batch by the loss's
    declared rule, or None when it cannot be computed here exactly."""
    rule = mean_rule(descriptor)
    if rule is None:
        return None
    classes = input.shape[class_axis]
    example_shape = input.shape[:class_axis] + input.shape[class_axis + 1:]
    if rule == UNMASKED_ELEMENTS:
        if mask is None:
            return float(input.size), "valid_elements"
        kept = int(np.count_nonzero(mask))
        if mask.shape == input.shape:
            return float(kept), "valid_elements"
        if mask.shape != example_shape:
            return None
        return float(kept * classes), "valid_elements"
    if mask is not None and mask.shape != example_shape:
        return None
    kept = np.ones(example_shape, dtype=bool) if mask is None else mask != 0
    class_index = _is_class_index(target, input.shape)
    if class_index and rule in (TARGET_WEIGHT_SUM, NOT_IGNORED_EXAMPLES):
        if target.shape != example_shape:
            return None
        try:
            ignore_index = _ignore_index(descriptor, options)
        except ValueError:
            return None
        if ignore_index is not None:
            kept = kept & (target != ignore_index)
        labels = target[kept]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            return None  # The unsplit call names the bad index.
        if rule == TARGET_WEIGHT_SUM:
            class_weight = options.get("class_weight")
            if class_weight is not None:
                if _is_message(class_weight):
                    return None
                weight = np.asarray(class_weight).astype(np.float64)
                if weight.shape != (classes,):
                    return None
                # Rows in row-major order of the example shape: the
                # library's order (the class axis moved last).
                return (_row_sum_in_order(weight[labels.reshape(-1)]),
                        "target_weight_sum")
        return float(labels.size), "valid_examples"
    return float(np.count_nonzero(kept)), "valid_examples"


def plan(loss, input, target, kwargs, chunk_rows, chunk_bytes,
         describe=None):
    """A Plan for compute(loss, input, target, **kwargs), or None to send it
    as one call. `chunk_rows` (rows per chunk; 0 never splits) wins over
    `chunk_bytes` (input bytes per chunk). `describe(loss)` returns the
    loss's LossDescriptor (ListLosses) or None; it is called only for a
    mean that needs the loss's denominator rule."""
    if chunk_rows is not None and chunk_rows <= 0:
        return None
    if _is_message(input) or _is_message(target):
        return None
    if any(_is_message(kwargs.get(name)) for name in _PER_ROW):
        return None
    input = np.asarray(input)
    if input.ndim < 2 or input.dtype.kind != "f" or input.shape[0] < 2:
        return None
    class_axis = kwargs.get("class_axis")
    class_axis = -1 if class_axis is None else int(class_axis)
    if not -input.ndim <= class_axis < input.ndim:
        return None
    class_axis %= input.ndim
    if class_axis == 0:
        return None
    rows = input.shape[0]
    if chunk_rows is None:
        row_bytes = input.itemsize * (input.size // rows)
        chunk_rows = max(1, chunk_bytes // max(1, row_bytes))
    if rows <= chunk_rows:
        return None
    target = np.asarray(target)
    per_row = {name: np.asarray(kwargs[name]) for name in _PER_ROW
               if kwargs.get(name) is not None}
    for array in [target, *per_row.values()]:
        if array.ndim < 1 or array.shape[0] != rows:
            return None

    reduction = _reduction_name(kwargs.get("reduction"))
    normalizer = kwargs.get("normalizer")
    if reduction in ("none", "sum"):
        denominator, kind, normalizer = 1.0, "one", None
    elif reduction not in ("mean", "batch_mean"):
        return None  # The one call names the bad value.
    elif normalizer is not None:
        # The caller's own denominator (e.g. of micro-batches): unchanged.
        denominator, kind = float(normalizer), "normalizer"
    else:
        if reduction == "batch_mean":
            found = float(rows), "batch_size"
        else:
            descriptor = None if describe is None else describe(loss)
            found = _mean_denominator(descriptor, input, target,
                                      per_row.get("mask"), class_axis, kwargs)
        if found is None or not found[0] > 0:
            return None
        denominator, kind = found
        normalizer = denominator
    bounds = [(start, min(start + chunk_rows, rows))
              for start in range(0, rows, chunk_rows)]
    return Plan(rows=rows, bounds=bounds, normalizer=normalizer,
                denominator=denominator, denominator_kind=kind)


def chunk_kwargs(kwargs, plan, start, stop):
    """compute()'s keywords for rows [start, stop)."""
    out = dict(kwargs)
    for name in _PER_ROW:
        if out.get(name) is not None:
            out[name] = np.asarray(out[name])[start:stop]
    if plan.normalizer is not None:
        out["normalizer"] = plan.normalizer
    return out


def combine_loss(plan, chunk_sums, reduction):
    """The reduced loss and loss_sum of the whole call from the chunks'
    loss_sum statistics (math.fsum: the correctly rounded total)."""
    loss_sum = math.fsum(chunk_sums)
    if reduction in ("none", "sum"):
        return loss_sum, loss_sum
    return loss_sum / plan.denominator, loss_sum
