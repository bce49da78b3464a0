"""One oracle case: a request to lossd, as NumPy data, and its wire form."""

import dataclasses
import re
from typing import Optional

import numpy as np

from lossd.v1 import loss_service_pb2 as pb

from . import wire


@dataclasses.dataclass
class Case:
    loss: str
    dtype: type  # np.float32 or np.float64: the compute type.
    input: np.ndarray
    target: np.ndarray
    reduction: str = "mean"  # none | sum | mean | batch_mean
    input_kind: str = "logits"  # logits | probabilities | log_probabilities
    class_axis: Optional[int] = None
    options: dict = dataclasses.field(default_factory=dict)
    sample_weight: Optional[np.ndarray] = None
    mask: Optional[np.ndarray] = None
    grad_output: Optional[np.ndarray] = None
    normalizer: Optional[float] = None
    grad_scale: Optional[float] = None
    empty_mean: Optional[str] = None  # nan | zero
    want_grad: bool = True
    want_grad_target: bool = False
    input_wire: Optional[str] = None  # bfloat16 | float16: sent as such.
    grad_dtype: Optional[str] = None  # float32 | float64 | bfloat16 | float16
    note: str = ""
    seed: tuple = ()

    @property
    def axis(self):
        """The class axis, non-negative."""
        rank = self.input.ndim
        axis = -1 if self.class_axis is None else self.class_axis
        return axis + rank if axis < 0 else axis

    @property
    def classes(self):
        return self.input.shape[self.axis]

    def describe(self):
        parts = [self.loss, np.dtype(self.dtype).name,
                 f"input{list(self.input.shape)}", f"target:{self.target.dtype}",
                 self.reduction, self.input_kind]
        if self.class_axis is not None:
            parts.append(f"class_axis={self.class_axis}")
        for name, value in sorted(self.options.items()):
            if isinstance(value, np.ndarray):
                value = f"[{value.size} values]"
            parts.append(f"{name}={value}")
        for name in ("sample_weight", "mask", "grad_output"):
            if getattr(self, name) is not None:
                parts.append(f"{name}{list(getattr(self, name).shape)}")
        for name in ("normalizer", "grad_scale", "empty_mean", "input_wire",
                     "grad_dtype"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)}")
        if self.want_grad_target:
            parts.append("grad_target")
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)


def _upper_snake(camel):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()


def set_options(message, options, dtype):
    """Sets each option as the field of the same name, by descriptor: per-class
    tensors, enum choices (by value name), and scalars."""
    for name, value in options.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if field.message_type is not None:
            wire.encode(np.asarray(value, dtype=dtype), getattr(message, name))
        elif field.enum_type is not None:
            prefix = _upper_snake(field.enum_type.name) + "_"
            setattr(message, name,
                    field.enum_type.values_by_name[prefix + value.upper()].number)
        else:
            setattr(message, name, value)


def to_request(case, has_gradient):
    request = pb.ComputeRequest(loss=case.loss)
    wire.encode(case.input, request.input, case.input_wire)
    wire.encode(case.target, request.target)
    request.reduction = pb.Reduction.Value("REDUCTION_" + case.reduction.upper())
    request.input_kind = pb.InputKind.Value(
        "INPUT_KIND_" + case.input_kind.upper())
    if case.class_axis is not None:
        request.class_axis = case.class_axis
    request.outputs.per_example = True
    request.outputs.grad_input = case.want_grad and has_gradient
    request.outputs.grad_target = case.want_grad_target
    for name in ("sample_weight", "mask", "grad_output"):
        value = getattr(case, name)
        if value is not None:
            wire.encode(value, getattr(request, name))
    if case.normalizer is not None:
        request.normalizer = case.normalizer
    if case.grad_scale is not None:
        request.grad_scale = case.grad_scale
    if case.empty_mean is not None:
        request.empty_mean = pb.EmptyMean.Value(
            "EMPTY_MEAN_" + case.empty_mean.upper())
    if case.grad_dtype is not None:
        request.grad_dtype = wire.tensor_pb2.DType.Value(
            "DTYPE_" + case.grad_dtype.upper())
    if case.options:
        set_options(getattr(request, case.loss), case.options, case.dtype)
    return request
