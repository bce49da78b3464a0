"""Random cases over each loss's option grid.

Every case draws from its own generator, seeded by (master seed, loss,
index), so one failing case is reproduced by its seed alone. The first
indices of each loss are fixed scenarios (large class counts, all rows
ignored, an empty batch, -inf logits); the rest are random.
"""

import numpy as np

from .case import Case

INF = np.inf


def choose(rng, options, weights=None):
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        weights = weights / weights.sum()
    return options[rng.choice(len(options), p=weights)]


def chance(rng, p):
    return rng.random() < p


class Draw:
    """Shape and request-level draws shared by all losses."""

    def __init__(self, rng, loss, index, scenario=None, small=False):
        self.rng = rng
        self.loss = loss
        self.index = index
        self.scenario = scenario
        self.small = small

    def dtype(self):
        return np.float64 if chance(self.rng, 0.5) else np.float32

    def classes(self, minimum=1):
        rng = self.rng
        if self.small:
            return int(rng.integers(max(minimum, 2), 5))
        if self.scenario == "vocabulary":
            return 32000
        if self.scenario == "wide":
            return 1000
        c = choose(rng, [1, 2, "small", "medium"], [0.05, 0.15, 0.6, 0.2])
        if c == "small":
            c = int(rng.integers(3, 13))
        elif c == "medium":
            c = int(rng.integers(13, 130))
        return max(c, minimum)

    def layout(self, classes, allow_vector=True, allow_spatial=True):
        """(input shape, class_axis)."""
        rng = self.rng
        if self.small:
            return (int(rng.integers(1, 4)), classes), None
        if self.scenario == "vocabulary":
            return (int(rng.integers(1, 5)), classes), None
        if self.scenario == "wide":
            return (int(rng.integers(1, 40)), classes), None
        if self.scenario == "empty":
            return (0, classes), None
        n = int(rng.integers(1, 9)) if chance(rng, 0.8) else int(
            rng.integers(9, 300 if classes <= 16 else 60))
        kind = choose(rng, ["rows", "spatial", "spatial_last", "vector"],
                      [0.6, 0.2 if allow_spatial else 0,
                       0.15 if allow_spatial else 0,
                       0.05 if allow_vector else 0])
        if kind == "rows":
            return (n, classes), choose(rng, [None, -1, 1])
        d = int(rng.integers(1, 6))
        n = min(n, 20)
        if kind == "spatial":  # PyTorch's (N, C, d).
            return (n, classes, d), 1
        if kind == "spatial_last":
            return (n, d, classes), choose(rng, [None, -1, 2])
        return (classes,), choose(rng, [None, 0, -1])

    def reduction(self, batch_mean=True):
        return choose(self.rng, ["none", "sum", "mean", "batch_mean"],
                      [0.25, 0.2, 0.45, 0.1 if batch_mean else 0])

    def request_fields(self, case, element_wise):
        """Sample weights, masks, normalizer, grad_output, grad_scale, empty
        mean policy and wire dtypes, each with some probability."""
        rng = self.rng
        example_shape = tuple(d for i, d in enumerate(case.input.shape)
                              if i != case.axis)
        def per_shape():
            if element_wise and chance(rng, 0.5):
                return case.input.shape
            return example_shape
        if chance(rng, 0.2):
            case.sample_weight = rng.uniform(0, 3, per_shape()).astype(
                case.dtype)
        if chance(rng, 0.2):
            case.mask = (rng.random(per_shape()) < 0.7).astype(
                choose(rng, [np.uint8, np.bool_, np.int64]))
        if case.reduction in ("mean", "batch_mean"):
            if chance(rng, 0.1):
                case.normalizer = float(rng.uniform(0.5, 50))
            if chance(rng, 0.15):
                case.empty_mean = choose(rng, ["nan", "zero"])
        if case.reduction == "none" and chance(rng, 0.3):
            shape = case.input.shape if element_wise else example_shape
            case.grad_output = rng.normal(size=shape).astype(case.dtype)
        if chance(rng, 0.1):
            case.grad_scale = float(choose(rng, [0.5, 128.0, 65536.0]))
        if self.small or case.input.size > 4096 or (
                case.want_grad_target and case.input_kind == "probabilities"):
            return  # (Rounding probabilities to 16 bits can reach 0 or 1.)
        if case.dtype == np.float32 and chance(rng, 0.04):
            case.input_wire = choose(rng, ["bfloat16", "float16"])
            if case.input_wire == "bfloat16":
                from .wire import bfloat16_bits, from_bfloat16_bits
                case.input = from_bfloat16_bits(bfloat16_bits(case.input))
            else:
                case.input = case.input.astype(np.float16).astype(np.float32)
        elif chance(rng, 0.05):
            case.grad_dtype = choose(rng, ["float64", "float32", "bfloat16",
                                           "float16"])


# Inputs and targets ---------------------------------------------------------


def logits(draw, shape, dtype, extremes=True):
    rng = draw.rng
    x = rng.normal(size=shape) * choose(rng, [1.0, 3.0, 10.0])
    if extremes and not draw.small and chance(rng, 0.1):
        spots = rng.random(shape) < 0.2
        x[spots] = rng.choice([-1e4, 1e4, -80.0, 80.0], size=spots.sum())
    return x.astype(dtype)


def softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def example_shape(shape, axis):
    return tuple(d for i, d in enumerate(shape) if i != axis)


def class_indices(draw, shape, axis, classes, ignore=None):
    rng = draw.rng
    labels = rng.integers(0, classes, example_shape(shape, axis))
    if ignore is not None:
        if draw.scenario == "all_ignored":
            labels[...] = ignore
        elif chance(draw.rng, 0.5):
            spots = rng.random(labels.shape) < 0.3
            labels[spots] = ignore
    return labels.astype(np.int64)


def distributions(draw, shape, axis, dtype, zeros=True):
    """Rows over the class axis: Dirichlet, one-hot, or not normalised."""
    rng = draw.rng
    t = rng.gamma(choose(rng, [0.3, 1.0, 3.0]), size=shape)
    if zeros and chance(rng, 0.3):
        t[rng.random(shape) < 0.3] = 0
    t = t / np.maximum(t.sum(axis=axis, keepdims=True), 1e-12)
    if chance(rng, 0.15):
        t = np.moveaxis(t, axis, -1)
        hot = np.eye(t.shape[-1])[np.argmax(t, -1)]
        t = np.moveaxis(hot, -1, axis)
    elif chance(rng, 0.15):
        t = t * rng.uniform(0.5, 2.0)
    return t.astype(dtype)


def class_weight(draw, classes, dtype, p=0.3):
    if chance(draw.rng, p):
        return draw.rng.uniform(0.1, 3.0, classes).astype(dtype)
    return None


def put_minus_infinity(draw, x, axis, protect):
    """Sets some entries of x to -inf, keeping `protect` (a mask of x's
    shape) finite and at least one class finite per example."""
    rng = draw.rng
    spots = (rng.random(x.shape) < 0.3) & ~protect
    moved = np.moveaxis(spots, axis, -1)
    moved[..., 0] &= ~moved.all(-1)  # Never all classes.
    keep_one = moved.all(-1)
    moved[keep_one, 0] = False
    x = x.copy()
    x[np.moveaxis(moved, -1, axis)] = -INF
    return x


# Losses ---------------------------------------------------------------------


def _softmax_family(draw, loss):
    """cross_entropy, nll and poly."""
    rng = draw.rng
    dtype = draw.dtype()
    classes = draw.classes()
    shape, class_axis = draw.layout(classes)
    case = Case(loss=loss, dtype=dtype, input=np.zeros(shape, dtype),
                target=np.zeros(0), class_axis=class_axis)
    axis = case.axis
    options = {}
    hard = loss == "nll" or chance(rng, 0.6) or draw.scenario in (
        "all_ignored", "empty")
    weight = class_weight(draw, classes, dtype)
    if weight is not None:
        options["class_weight"] = weight
    ignore = None
    if hard and (chance(rng, 0.4) or draw.scenario == "all_ignored"):
        if chance(rng, 0.5):
            ignore = -100
        else:
            ignore = int(choose(rng, [-1, classes, 255,
                                      int(rng.integers(0, classes))]))
            options["ignore_index"] = ignore
    if loss == "nll":
        kind = "log_probabilities"
    elif loss == "poly":
        kind = "logits"
        if chance(rng, 0.7):
            options["epsilon"] = float(choose(rng, [-1.0, -0.5, 0.0, 1.0, 2.0,
                                                    float(rng.uniform(-1, 5))]))
    else:
        kind = choose(rng, ["logits", "log_probabilities", "probabilities"],
                      [0.8, 0.1, 0.1])
    if loss != "nll" and chance(rng, 0.4):
        options["label_smoothing"] = float(
            choose(rng, [0.1, 1.0, float(rng.uniform(0, 1))]))
        if loss == "cross_entropy" and chance(rng, 0.5):
            options["label_smoothing_rule"] = choose(
                rng, ["uniform", "other_classes"])
    if loss == "cross_entropy" and kind == "logits":
        if chance(rng, 0.2):
            options["z_loss"] = float(choose(rng, [1e-4, 1e-2, 0.5]))
        if chance(rng, 0.2):
            options["logit_softcap"] = float(choose(rng, [1.0, 5.0, 30.0]))
    x = logits(draw, shape, np.float64, extremes=kind == "logits")
    if hard:
        target = class_indices(draw, shape, axis, classes, ignore)
    else:
        target = distributions(draw, shape, axis, dtype)
    # -inf logits (impossible classes) away from the target mass.
    if (kind in ("logits", "log_probabilities") and classes >= 2 and
            not draw.small and x.size <= 2000 and
            (draw.scenario == "minus_infinity" or chance(rng, 0.1))):
        if hard:
            labels = np.where((target >= 0) & (target < classes), target, 0)
            protect = np.moveaxis(np.eye(classes, dtype=bool)[labels], -1, axis)
        else:
            protect = target > 0
        x = put_minus_infinity(draw, x, axis, protect)
        if kind == "log_probabilities":
            pass  # Renormalised below.
        case.note = "-inf logits"
    if kind == "log_probabilities":
        x = log_softmax(x, axis)
    elif kind == "probabilities":
        x = softmax(x / 3, axis)
        x = np.clip(x, 1e-6, 1)
    case.input = x.astype(dtype)
    case.target = target
    case.input_kind = kind
    case.options = options
    case.reduction = draw.reduction()
    if draw.scenario in ("all_ignored", "empty"):
        case.reduction = choose(rng, ["mean", "sum", "mean"])
    draw.request_fields(case, element_wise=False)
    # (d loss / d t on an impossible class is +inf: the unit tests see to it.)
    if (not hard and loss == "cross_entropy" and not case.note and
            chance(rng, 0.3)):
        case.want_grad_target = True
    return case


def gen_cross_entropy(draw):
    return _softmax_family(draw, "cross_entropy")


def gen_nll(draw):
    return _softmax_family(draw, "nll")


def gen_poly(draw):
    return _softmax_family(draw, "poly")


def gen_softmax_focal(draw):
    rng = draw.rng
    dtype = draw.dtype()
    classes = draw.classes()
    shape, class_axis = draw.layout(classes)
    case = Case(loss="softmax_focal", dtype=dtype, input=np.zeros(shape),
                target=np.zeros(0), class_axis=class_axis)
    axis = case.axis
    options = {}
    if chance(rng, 0.5):
        options["alpha"] = float(choose(rng, [1.0, 0.25, float(rng.uniform(0, 2))]))
    if chance(rng, 0.6):
        options["gamma"] = float(choose(rng, [0.0, 0.5, 1.0, 2.0, 3.5]))
    if chance(rng, 0.3):
        options["label_smoothing"] = float(rng.uniform(0, 1))
    if chance(rng, 0.3):
        options["epsilon"] = float(choose(rng, [0.0, 1e-3, 1e-7]))
    kind = choose(rng, ["logits", "probabilities"], [0.75, 0.25])
    hard = chance(rng, 0.4) or draw.scenario in ("all_ignored", "empty")
    x = logits(draw, shape, np.float64,
               extremes=options.get("epsilon", 1e-7) > 0)
    if options.get("epsilon", 1e-7) == 0:
        # Unclipped, q = 1 exactly (one class, or saturated logits) has an
        # infinite (1 - q)^gamma slope in the transcription's autograd where
        # lossd gives the finite limit; the unit tests cover that.
        if classes == 1:
            options["epsilon"] = 1e-7
        x = np.clip(x, -8, 8)
    if hard:
        ignore = -100 if chance(rng, 0.3) or draw.scenario == "all_ignored" \
            else None
        target = class_indices(draw, shape, axis, classes, ignore)
    else:
        target = distributions(draw, shape, axis, dtype)
    if kind == "probabilities":
        x = np.clip(softmax(x / 3, axis), 1e-6, 1)
    case.input = x.astype(dtype)
    case.target = target
    case.input_kind = kind
    case.options = options
    case.reduction = draw.reduction()
    draw.request_fields(case, element_wise=False)
    return case


def gen_multi_margin(draw):
    rng = draw.rng
    dtype = draw.dtype()
    classes = draw.classes()
    shape, class_axis = draw.layout(classes, allow_vector=False,
                                    allow_spatial=False)
    case = Case(loss="multi_margin", dtype=dtype, input=np.zeros(shape),
                target=np.zeros(0), class_axis=None)
    options = {}
    if chance(rng, 0.5):
        options["power"] = int(choose(rng, [1, 2]))
    if chance(rng, 0.5):
        options["margin"] = float(choose(rng, [0.0, 0.5, 2.0, float(rng.uniform(-1, 3))]))
    weight = class_weight(draw, classes, dtype)
    if weight is not None:
        options["class_weight"] = weight
    case.input = logits(draw, shape, dtype, extremes=False)
    case.target = class_indices(draw, shape, 1, classes)
    case.options = options
    case.reduction = draw.reduction()
    draw.request_fields(case, element_wise=False)
    return case


def _rank_metric(draw, loss):
    rng = draw.rng
    dtype = draw.dtype()
    classes = draw.classes()
    shape, class_axis = draw.layout(classes)
    case = Case(loss=loss, dtype=dtype, input=np.zeros(shape),
                target=np.zeros(0), class_axis=class_axis, want_grad=False)
    axis = case.axis
    # Distinct scores in every example (ties are tested in the unit tests).
    scores = np.moveaxis(rng.random(shape), axis, -1)
    ranks = np.argsort(rng.random(scores.shape), axis=-1).astype(np.float64)
    scores = ranks + 0.5 * scores / classes
    case.input = np.moveaxis(scores, -1, axis).astype(dtype)
    case.input_kind = choose(rng, ["logits", "log_probabilities"])
    options = {}
    if chance(rng, 0.6) and draw.scenario != "empty":
        case.target = distributions(draw, shape, axis, dtype, zeros=False)
    else:
        ignore = None
        if loss == "accuracy" and chance(rng, 0.4):
            ignore = -100 if chance(rng, 0.5) else -1
            if ignore != -100:
                options["ignore_index"] = ignore
        case.target = class_indices(draw, shape, axis, classes, ignore)
    if loss == "accuracy" and chance(rng, 0.7):
        options["top_k"] = int(rng.integers(1, classes + 2))
    case.options = options
    case.reduction = choose(rng, ["none", "sum", "mean"])
    draw.request_fields(case, element_wise=False)
    case.grad_output = None
    case.grad_scale = None
    case.grad_dtype = None
    return case


def gen_accuracy(draw):
    return _rank_metric(draw, "accuracy")


def gen_classification_error(draw):
    return _rank_metric(draw, "classification_error")


def _element_case(draw, loss, allow_vector=False):
    dtype = draw.dtype()
    classes = draw.classes()
    shape, class_axis = draw.layout(classes, allow_vector=allow_vector)
    return Case(loss=loss, dtype=dtype, input=np.zeros(shape),
                target=np.zeros(0), class_axis=class_axis)


def gen_binary_cross_entropy(draw):
    rng = draw.rng
    case = _element_case(draw, "binary_cross_entropy")
    shape, dtype = case.input.shape, case.dtype
    kind = choose(rng, ["logits", "probabilities"], [0.75, 0.25])
    options = {}
    classes = case.classes
    if kind == "logits" and chance(rng, 0.3):
        options["pos_weight"] = rng.uniform(0.1, 5, classes).astype(dtype)
    weight = class_weight(draw, classes, dtype)
    if weight is not None:
        options["weight"] = weight
    if chance(rng, 0.3):
        options["label_smoothing"] = float(rng.uniform(0, 1))
        if chance(rng, 0.5):
            options["label_smoothing_rule"] = choose(rng, ["uniform",
                                                           "other_classes"])
    target_kind = choose(rng, ["binary", "soft", "uint8"])
    if target_kind == "soft":
        target = rng.random(shape).astype(dtype)
    else:
        target = (rng.random(shape) < 0.4).astype(
            np.uint8 if target_kind == "uint8" else dtype)
    if kind == "logits":
        x = logits(draw, shape, dtype)
    else:
        x = rng.uniform(1e-3, 1 - 1e-3, shape)
        if chance(rng, 0.05):
            x[rng.random(shape) < 0.2] = choose(rng, [0.0, 1.0])
        x = x.astype(dtype)
    if target_kind != "uint8" and chance(rng, 0.25):
        # PyTorch's target gradient at p = 0 or 1 is +-inf or NaN; lossd's
        # is that of its clamped logs.
        case.want_grad_target = True
        if kind == "probabilities":
            x = np.clip(x, 1e-3, 1 - 1e-3).astype(dtype)
    case.input, case.target, case.input_kind = x, target, kind
    case.options = options
    case.reduction = draw.reduction()
    draw.request_fields(case, element_wise=True)
    return case


def gen_focal(draw):
    rng = draw.rng
    case = _element_case(draw, "focal")
    shape, dtype = case.input.shape, case.dtype
    options = {}
    if chance(rng, 0.5):
        options["alpha"] = float(choose(rng, [-1.0, 0.5, float(rng.uniform(0, 1))]))
    if chance(rng, 0.6):
        options["gamma"] = float(choose(rng, [0.0, 0.25, 0.5, 1.0, 3.0]))
    x = rng.normal(size=shape) * choose(rng, [1.0, 4.0])
    if not draw.small and chance(rng, 0.15):
        spots = rng.random(shape) < 0.3
        x[spots] = rng.choice([-1e4, 1e4, -40.0, 40.0], size=spots.sum())
    target = rng.random(shape) if chance(rng, 0.3) else (
        rng.random(shape) < 0.3).astype(np.float64)
    case.input, case.target = x.astype(dtype), target.astype(dtype)
    case.options = options
    case.reduction = draw.reduction()
    draw.request_fields(case, element_wise=True)
    return case


def gen_kl_div(draw):
    rng = draw.rng
    case = _element_case(draw, "kl_div")
    shape, dtype, axis = case.input.shape, case.dtype, case.axis
    kind = choose(rng, ["log_probabilities", "logits"], [0.7, 0.3])
    t = distributions(draw, shape, axis, np.float64)
    x = logits(draw, shape, np.float64, extremes=False)
    if case.classes >= 2 and not draw.small and chance(rng, 0.15):
        x = put_minus_infinity(draw, x, axis, t > 0)
        case.note = "-inf inputs"
    if kind == "log_probabilities":
        x = log_softmax(x, axis)
    options = {}
    if chance(rng, 0.3):
        options["log_target"] = True
        with np.errstate(divide="ignore"):
            t = np.log(t)
    case.input, case.target, case.input_kind = x.astype(dtype), t.astype(dtype), kind
    case.options = options
    case.reduction = draw.reduction(batch_mean=True)
    draw.request_fields(case, element_wise=True)
    return case


def _difference(draw, loss):
    rng = draw.rng
    case = _element_case(draw, loss)
    shape, dtype = case.input.shape, case.dtype
    scale = choose(rng, [0.3, 1.0, 5.0])
    case.input = (rng.normal(size=shape) * scale).astype(dtype)
    case.target = (rng.normal(size=shape) * scale).astype(dtype)
    if loss == "huber" and chance(rng, 0.7):
        case.options["delta"] = float(choose(rng, [0.1, 1.0, 2.5, float(rng.uniform(0.05, 3))]))
    if loss == "smooth_l1" and chance(rng, 0.7):
        case.options["beta"] = float(choose(
            rng, [0.0, 0.5, 2.0, float(rng.uniform(0, 3))] if not draw.small
            else [0.5, 2.0]))
    case.input_kind = choose(rng, ["logits", "probabilities", "log_probabilities"],
                             [0.9, 0.0, 0.1])
    case.reduction = draw.reduction()
    draw.request_fields(case, element_wise=True)
    if chance(rng, 0.25):
        case.want_grad_target = True
    return case


def gen_mse(draw):
    return _difference(draw, "mse")


def gen_l1(draw):
    return _difference(draw, "l1")


def gen_huber(draw):
    return _difference(draw, "huber")


def gen_smooth_l1(draw):
    return _difference(draw, "smooth_l1")


def gen_poisson_nll(draw):
    rng = draw.rng
    case = _element_case(draw, "poisson_nll")
    shape, dtype = case.input.shape, case.dtype
    options = {}
    log_input = chance(rng, 0.7)
    if not log_input or chance(rng, 0.3):
        options["log_input"] = log_input
    if chance(rng, 0.4):
        options["full"] = bool(chance(rng, 0.7))
    if not log_input and chance(rng, 0.3):
        options["epsilon"] = float(choose(rng, [1e-3, 1e-8, 0.1]))
    t = rng.poisson(choose(rng, [0.5, 3.0, 20.0]), size=shape).astype(np.float64)
    if chance(rng, 0.2):
        t = t + rng.random(shape)  # Non-integer counts.
    if log_input:
        x = rng.normal(size=shape) * 1.5
        if not draw.small and chance(rng, 0.1):
            x[(t == 0) & (rng.random(shape) < 0.5)] = -INF
            case.note = "-inf log-rates"
    else:
        x = rng.uniform(0.01, 5, shape)
    case.input, case.target = x.astype(dtype), t.astype(dtype)
    case.options = options
    case.reduction = draw.reduction()
    draw.request_fields(case, element_wise=True)
    if chance(rng, 0.2) and case.note == "":
        case.want_grad_target = True
        if options.get("full"):
            # PyTorch's target gradient of the masked Stirling term is NaN
            # at y = 0 (0 * log 0 inside masked_fill); lossd's is finite.
            case.target = np.where(case.target == 0, 0.5,
                                   case.target).astype(dtype)
    return case


def gen_hinge(draw):
    rng = draw.rng
    case = _element_case(draw, "hinge")
    shape, dtype = case.input.shape, case.dtype
    options = {}
    if chance(rng, 0.4):
        options["margin"] = float(choose(rng, [0.0, 0.5, 2.0]))
    if chance(rng, 0.4):
        options["squared"] = bool(chance(rng, 0.7))
    if chance(rng, 0.4):
        options["target_encoding"] = "zero_one"
        target = (rng.random(shape) < 0.5).astype(
            choose(rng, [np.uint8, dtype]))
    else:
        target = np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(dtype)
    case.input = (rng.normal(size=shape) * 2).astype(dtype)
    case.target = target
    case.options = options
    case.reduction = draw.reduction()
    draw.request_fields(case, element_wise=True)
    return case


GENERATORS = {
    "cross_entropy": gen_cross_entropy,
    "nll": gen_nll,
    "poly": gen_poly,
    "softmax_focal": gen_softmax_focal,
    "multi_margin": gen_multi_margin,
    "accuracy": gen_accuracy,
    "classification_error": gen_classification_error,
    "binary_cross_entropy": gen_binary_cross_entropy,
    "focal": gen_focal,
    "kl_div": gen_kl_div,
    "mse": gen_mse,
    "l1": gen_l1,
    "huber": gen_huber,
    "smooth_l1": gen_smooth_l1,
    "poisson_nll": gen_poisson_nll,
    "hinge": gen_hinge,
}

# Fixed scenarios at the first indices of the losses they apply to.
SCENARIOS = {
    "cross_entropy": ["vocabulary", "vocabulary", "wide", "wide",
                      "all_ignored", "all_ignored", "empty", "minus_infinity",
                      "minus_infinity", "minus_infinity", "vocabulary",
                      "vocabulary", "wide", "wide"],
    "nll": ["vocabulary", "wide", "all_ignored", "empty", "minus_infinity"],
    "poly": ["vocabulary", "wide", "all_ignored", "minus_infinity"],
    "softmax_focal": ["vocabulary", "wide", "all_ignored"],
    "binary_cross_entropy": ["wide", "empty"],
    "kl_div": ["vocabulary", "wide"],
    "accuracy": ["vocabulary", "wide"],
    "classification_error": ["wide", "empty"],
    "multi_margin": ["wide"],
    "focal": ["wide"], "mse": ["wide"], "l1": ["wide"], "huber": ["wide"],
    "smooth_l1": ["wide"], "poisson_nll": ["wide"], "hinge": ["wide"],
}


def make_case(loss, index, master_seed, small=False):
    loss_id = sorted(GENERATORS).index(loss)
    seed = (master_seed, loss_id, index, int(small))
    rng = np.random.default_rng(list(seed))
    scenarios = [] if small else SCENARIOS.get(loss, [])
    scenario = scenarios[index] if index < len(scenarios) else None
    case = GENERATORS[loss](Draw(rng, loss, index, scenario, small))
    case.seed = seed
    if scenario and not case.note:
        case.note = scenario
    return case
