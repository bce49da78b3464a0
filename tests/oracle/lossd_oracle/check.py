"""Comparing a lossd response with the expected answer.

Tolerance: |actual - expected| <= rtol * max(|expected|, scale) + floor,
with scale the largest finite |expected| of the tensor (for the reduced
loss: the reduced sum of |per-example losses|; for gradients at least 1e-6
of that), so that entries that are tiny next to their tensor are held to
the tensor's precision; and floor = 64 float64 epsilons of the largest
input times the largest weights, for values that are differences of much
larger ones (lse - x_y near 0, p - 1 near 0), where any float64 evaluation,
PyTorch's included, has that much rounding. Infinities must match
exactly; NaN only where NaN is expected. rtol is 2e-5 for float32 and 1e-10
for float64 (bfloat16 / float16 outputs: their own rounding).
"""

import math

import numpy as np

from . import wire

RTOL = {"float32": 2e-5, "float64": 1e-10, "bfloat16": 8e-3,
        "float16": 1e-3}


def _scale(expected):
    finite = expected[np.isfinite(expected)]
    return float(np.abs(finite).max()) if finite.size else 0.0


def _as(values, dtype):
    """Expected values rounded to the output dtype (overflow included)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        if dtype == "float16":
            return values.astype(np.float16).astype(np.float64)
        if dtype == "bfloat16":
            return wire.from_bfloat16_bits(wire.bfloat16_bits(
                values.astype(np.float32))).astype(np.float64)
        if dtype == "float32":
            return values.astype(np.float32).astype(np.float64)
    return values


def compare_arrays(name, actual, expected, rtol, scale=None, floor=0.0):
    """None when close, else a description of the first mismatch. Allowed:
    rtol * max(|expected|, scale) + floor."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return f"{name}: shape {list(actual.shape)} != {list(expected.shape)}"
    if scale is None:
        scale = _scale(expected)
    with np.errstate(invalid="ignore"):
        nan_ok = np.isnan(expected) & np.isnan(actual)
        inf_ok = np.isinf(expected) & (actual == expected)
        finite = np.isfinite(expected) & np.isfinite(actual)
        close = finite & (np.abs(actual - expected) <=
                          rtol * np.maximum(np.abs(expected), scale) + floor)
    bad = ~(nan_ok | inf_ok | close)
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    a, e = actual[index], expected[index]
    return (f"{name}{list(index)}: {a!r} != {e!r} (|diff| {abs(a - e):.3g}, "
            f"allowed {rtol * max(abs(e) if math.isfinite(e) else 0, scale) + floor:.3g}; "
            f"{int(bad.sum())} of {bad.size} differ)")


def _rounding_floor(case):
    """An absolute floor for values that are differences of much larger
    ones (lse - x_y near 0, p - 1 near 0): a few float64 roundings of the
    largest input, times the largest weight and gradient multipliers."""
    def largest(values):
        if values is None:
            return 1.0
        values = np.asarray(values, dtype=np.float64)
        finite = np.abs(values[np.isfinite(values)])
        return max(1.0, float(finite.max())) if finite.size else 1.0
    magnitude = largest(case.input) + largest(case.target if case.target.dtype.kind == "f" else None)
    for name in ("class_weight", "pos_weight", "weight", "alpha", "epsilon"):
        if name in case.options:
            magnitude *= largest(case.options[name])
    for value in (case.sample_weight, case.grad_output, case.grad_scale):
        magnitude *= largest(value)
    return 64 * np.finfo(np.float64).eps * magnitude


def compare(case, response, expected):
    """The mismatches between a response and the expected answer."""
    problems = []
    dtype = np.dtype(case.dtype).name
    rtol = RTOL[dtype]
    floor = _rounding_floor(case)
    examples = max(1, expected.per_example.size)
    # Outputs come in grad_dtype, by default the input's wire dtype.
    output_dtype = case.grad_dtype or case.input_wire or dtype
    output_rtol = max(rtol, RTOL[output_dtype])
    problem = compare_arrays("loss", response.loss, expected.loss, rtol,
                             scale=expected.loss_scale,
                             floor=floor * examples)
    if problem:
        problems.append(problem)
    if expected.denominator is not None:
        if not math.isclose(response.statistics.denominator,
                            expected.denominator, rel_tol=1e-12,
                            abs_tol=1e-12):
            problems.append(f"denominator {response.statistics.denominator} != "
                            f"{expected.denominator}")
    per_example = wire.decode(response.per_example)
    problem = compare_arrays("per_example", per_example,
                             _as(expected.per_example, output_dtype),
                             output_rtol, floor=floor)
    if problem:
        problems.append(problem)
    for name, want in (("grad_input", expected.grad_input),
                       ("grad_target", expected.grad_target)):
        if want is None:
            continue
        if not response.HasField(name):
            problems.append(f"{name} missing")
            continue
        # Gradient entries that cancel to ~0 (e.g. tied softmax classes)
        # are held to the loss's magnitude rather than to their own.
        want = _as(want, output_dtype)
        relative_floor = 1e-6 * expected.loss_scale if math.isfinite(
            expected.loss_scale) else 0.0
        problem = compare_arrays(name, wire.decode(getattr(response, name)),
                                 want, output_rtol,
                                 max(_scale(want), relative_floor), floor)
        if problem:
            problems.append(problem)
    return problems
