"""Checks beyond value comparison: finite differences of lossd's own loss,
expected INVALID_ARGUMENT errors naming the field, and the registry
(ListLosses) against the contract's options messages."""

import math
import re

import numpy as np

from . import wire
from .case import Case, to_request


def finite_differences(stub, case, pb, to_request_fn):
    """Central differences of lossd's reduced loss against its gradient,
    every input element, float64."""
    case.input = case.input.astype(np.float64)
    if case.target.dtype.kind == "f":
        case.target = case.target.astype(np.float64)
    for name in ("sample_weight", "grad_output"):
        if getattr(case, name) is not None:
            setattr(case, name, None)
    case.grad_scale = case.input_wire = case.grad_dtype = None
    case.want_grad_target = False
    base = stub.Compute(to_request_fn(case, True), timeout=60)
    if not math.isfinite(base.loss):
        return []
    grad = wire.decode(base.grad_input)
    x = case.input
    probes, where = [], []
    for index in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(float(x[index])))
        if case.input_kind == "probabilities":
            # Relative steps: the loss has log p in it.
            h = 1e-5 * min(float(x[index]), 1 - float(x[index]))
            if h <= 0:
                continue
        for sign in (1, -1):
            moved = x.copy()
            moved[index] += sign * h
            probe = Case(**{**case.__dict__, "input": moved})
            probes.append(to_request_fn(probe, True))
        where.append((index, h))
    responses = list(stub.ComputeStream(iter(probes), timeout=300))
    problems = []
    tolerance = 1e-6 * max(1.0, float(np.abs(grad).max()) if grad.size else 1)
    for k, (index, h) in enumerate(where):
        numeric = (responses[2 * k].loss - responses[2 * k + 1].loss) / (2 * h)
        if not abs(numeric - grad[index]) <= tolerance:
            problems.append(f"d loss / d input{list(index)}: lossd "
                            f"{grad[index]!r}, central difference {numeric!r}")
    return problems


def _upper_snake(camel):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()


def check_registry(listing, pb):
    """Every option in ListLosses is a field of the loss's options message
    with a matching type (choices = the enum's values), and back; every loss
    declares its mean's denominator rule, by elements exactly when it is
    element-wise."""
    problems = []
    for name, loss in listing.items():
        rule = loss.mean_denominator_rule
        if rule == pb.MEAN_DENOMINATOR_RULE_UNSPECIFIED:
            problems.append(f"{name}: no mean_denominator_rule")
        elif loss.element_wise != (
                rule == pb.MEAN_DENOMINATOR_RULE_UNMASKED_ELEMENTS):
            problems.append(f"{name}: element_wise {loss.element_wise} but "
                            f"mean_denominator_rule "
                            f"{pb.MeanDenominatorRule.Name(rule)}")
    request = pb.ComputeRequest.DESCRIPTOR
    oneof = request.oneofs_by_name["options"]
    oneof_names = {field.name for field in oneof.fields}
    kinds = pb.OptionDescriptor
    for name, loss in listing.items():
        if not loss.options:
            if name in oneof_names:
                problems.append(f"{name}: options message but no options")
            continue
        if loss.options_field != name or name not in oneof_names:
            problems.append(f"{name}: no options field named {name}")
            continue
        message = request.fields_by_name[name].message_type
        declared = {option.name: option for option in loss.options}
        for field in message.fields:
            if field.name not in declared:
                problems.append(f"{name}.{field.name}: not in the registry")
        for option in loss.options:
            field = message.fields_by_name.get(option.name)
            if field is None:
                problems.append(f"{name}.{option.name}: no field")
                continue
            if option.type == kinds.TYPE_PER_CLASS:
                ok = (field.message_type is not None and
                      field.message_type.name == "Tensor")
            elif option.type == kinds.TYPE_CHOICE:
                prefix = _upper_snake(field.enum_type.name) + "_" \
                    if field.enum_type else ""
                values = [v.name[len(prefix):].lower()
                          for v in field.enum_type.values if v.number] \
                    if field.enum_type else []
                ok = values == list(option.choices)
            elif option.type == kinds.TYPE_BOOLEAN:
                ok = field.type == field.TYPE_BOOL
            elif option.type == kinds.TYPE_INTEGER:
                ok = field.type in (field.TYPE_INT64, field.TYPE_INT32)
            else:
                ok = field.type in (field.TYPE_DOUBLE, field.TYPE_FLOAT)
            if not ok:
                problems.append(f"{name}.{option.name}: wire type does not "
                                "match the registry")
    return problems


def _base(loss="cross_entropy", target=None, input=None, **fields):
    x = input if input is not None else np.array([[2.0, 1.0, 0.1, -1.0, 0.5], [0.5, 2.5, 0.3, 0.0, 1.0],
                  [1.0, -1.0, 0.0, 3.0, 2.0], [0.1, 0.2, 0.3, 0.4, 0.5]])
    if target is None:
        target = np.array([0, 2, 4, 1])
    return Case(loss=loss, dtype=np.float64, input=np.asarray(x, np.float64),
                target=target, **fields)


def _soft():
    return np.full((4, 5), 0.2)


# (description, case, expected substring of the message)
ERROR_CASES = [
    ("label out of range", _base(target=np.array([0, 2, 7, 1])),
     "target[2] = 7 is outside [0, 5)"),
    ("label_smoothing above 1", _base(options={"label_smoothing": 1.5}),
     "label_smoothing = 1.5 is outside [0, 1]"),
    ("class_weight of the wrong length",
     _base(options={"class_weight": np.ones(3)}),
     "class_weight has 3 values but the input has 5 classes"),
    ("negative z_loss", _base(options={"z_loss": -1.0}), "z_loss = -1"),
    ("z_loss on log-probabilities",
     _base(options={"z_loss": 0.1}, input_kind="log_probabilities"),
     "z_loss applies to logits only"),
    ("ignore_index with soft targets",
     _base(target=_soft(), options={"ignore_index": 1}),
     "ignore_index applies to class-index targets only"),
    ("grad_target with class indices", _base(want_grad_target=True),
     "grad_target needs a floating dense target"),
    ("grad_target of a loss without one",
     _base("kl_div", target=_soft(), input_kind="log_probabilities",
           want_grad_target=True), "kl_div has no target gradient"),
    ("mask of the wrong shape", _base(mask=np.ones(3, np.uint8)),
     "mask shape [3]"),
    ("normalizer with REDUCTION_SUM", _base(reduction="sum", normalizer=4.0),
     "normalizer applies to REDUCTION_MEAN"),
    ("normalizer 0", _base(normalizer=0.0), "normalizer = 0"),
    ("grad_output with REDUCTION_MEAN", _base(grad_output=np.ones(4)),
     "grad_output applies to REDUCTION_NONE only"),
    ("non-finite grad_scale", _base(grad_scale=math.inf), "grad_scale"),
    ("huber delta 0", _base("huber", target=_soft(), options={"delta": 0.0}),
     "delta = 0 is outside (0, inf]"),
    ("multi_margin power 3", _base("multi_margin", options={"power": 3}),
     "power = 3 is outside [1, 2]"),
    ("probabilities above 1",
     _base("binary_cross_entropy", target=_soft(),
           input_kind="probabilities"), "is not a probability in [0, 1]"),
    ("pos_weight on probabilities",
     _base("binary_cross_entropy", target=_soft(),
           input=np.full((4, 5), 0.5), input_kind="probabilities",
           options={"pos_weight": np.ones(5)}),
     "pos_weight applies to logits only"),
    ("nll on logits", _base("nll", input_kind="logits"),
     "nll does not accept input_kind logits"),
    ("focal with class indices", _base("focal"), "needs a dense target"),
    ("accuracy top_k 0",
     _base("accuracy", options={"top_k": 0}, want_grad=False),
     "top_k = 0 is outside [1, inf]"),
]


def check_errors(stub, pb):
    import grpc
    problems = []
    cases = list(ERROR_CASES)
    done = 0
    for description, case, text in cases:
        request = to_request(case, True)
        done += 1
        try:
            stub.Compute(request, timeout=30)
            problems.append(f"error case '{description}': no error")
        except grpc.RpcError as error:
            if (error.code() != grpc.StatusCode.INVALID_ARGUMENT or
                    text not in error.details()):
                problems.append(f"error case '{description}': "
                                f"{error.code().name}: {error.details()} "
                                f"(expected INVALID_ARGUMENT with '{text}')")
    # Options of another loss, and an unknown enum number.
    request = to_request(_base(), True)
    request.focal.gamma = 2
    wrong_loss = ("options of another loss", request,
                  "options focal do not apply to loss cross_entropy")
    request = to_request(_base(), True)
    request.cross_entropy.label_smoothing_rule = 7
    bad_enum = ("unknown enum value", request, "is not a LabelSmoothingRule")
    for description, request, text in (wrong_loss, bad_enum):
        done += 1
        try:
            stub.Compute(request, timeout=30)
            problems.append(f"error case '{description}': no error")
        except grpc.RpcError as error:
            if (error.code() != grpc.StatusCode.INVALID_ARGUMENT or
                    text not in error.details()):
                problems.append(f"error case '{description}': "
                                f"{error.code().name}: {error.details()}")
    return done, problems
