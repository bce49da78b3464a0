"""Expected answers. PyTorch where it has the loss (torch.nn.functional, in
the case's dtype, with autograd gradients); otherwise a direct transcription
of the published formula (torchvision, optax, Keras, fairseq) evaluated in
float64 with autograd.

float32 cases are compared with the float64 evaluation of the same
float32 values: PyTorch's float32 arithmetic has its own rounding error,
larger than 2e-5 in ill-conditioned cases (e.g. logsumexp near 1e4); the
runner counts how often PyTorch's own float32 answer misses it.

Each loss is a function (case, x, t, reduction) -> torch tensor, where x is
the input, t the target and reduction one of the loss's native reductions
(at least "none"). Sample weights, masks, the normalizer, grad_output and
grad_scale are lossd's own request fields; the driver applies them to the
"none" output with lossd's documented rules (docs/SEMANTICS.md).
"""

import dataclasses
import math
import warnings
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore", category=UserWarning)


@dataclasses.dataclass
class LossReference:
    fn: Callable
    # "example" (class axis reduced) or "element" (input-shaped outputs).
    per: str
    # Reductions fn computes natively (PyTorch's own), besides "none".
    native: tuple = ()
    # Evaluate in the case's dtype (PyTorch) or float64 (transcriptions).
    float64: bool = False
    has_gradient: bool = True


# Helpers ---------------------------------------------------------------


def option(case, name, default):
    return case.options.get(name, default)


def per_class(case, name, dtype):
    value = case.options.get(name)
    return None if value is None else torch.tensor(value, dtype=dtype)


def class_last(tensor, axis):
    return tensor if tensor.ndim == 0 else torch.movedim(tensor, axis, -1)


def class_dim1(tensor, axis):
    """PyTorch's layout for cross_entropy and friends: classes at dim 1."""
    if tensor.ndim <= 1 or axis == 1:
        return tensor
    return torch.movedim(tensor, axis, 1)


def broadcast_at_axis(vector, ndim, axis):
    """A [C] vector shaped to broadcast along `axis` of an ndim tensor."""
    shape = [1] * ndim
    shape[axis] = -1
    return vector.reshape(shape)


def hard(t):
    return not torch.is_floating_point(t)


def one_hot_valid(case, t):
    """(one-hot targets with classes last, valid mask) for class indices."""
    ignore = option(case, "ignore_index", -100)
    valid = t != ignore
    safe = torch.where(valid, t, torch.zeros_like(t))
    return F.one_hot(safe, case.classes), valid


def smoothed(case, targets, classes):
    """The smoothed target distribution t' (classes last), lossd's rules."""
    eps = option(case, "label_smoothing", 0.0)
    if eps == 0:
        return targets
    if option(case, "label_smoothing_rule", "uniform") == "uniform":
        return targets * (1 - eps) + eps / classes
    if classes < 2:
        return targets
    return targets * (1 - eps) + eps * (1 - targets) / (classes - 1)


def weighted_count(case, t, weight):
    """PyTorch's mean denominator for class indices: sum of w_y over
    non-ignored targets (the count without weights)."""
    ignore = option(case, "ignore_index", -100)
    valid = t != ignore
    if weight is None:
        return valid.sum().to(torch.float64)
    safe = torch.where(valid, t, torch.zeros_like(t))
    return (weight[safe] * valid).sum().to(torch.float64)


def reduce(per, reduction, denominator):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / denominator


# Softmax family -----------------------------------------------------------


def _compacted(case, x, t, reduction, row_loss):
    """A softmax loss with -inf logits, row by row with the -inf classes
    removed: the framework's result on the possible classes (lossd's rule
    for impossible classes; PyTorch itself gives NaN or inf there).
    row_loss(logits [1, K], one-hot or soft target [1, K], label index or
    None, class weights [K] or None) is one row's loss."""
    axis, classes = case.axis, case.classes
    weight = per_class(case, "class_weight", x.dtype)
    ignore = option(case, "ignore_index", -100)
    rows = class_last(x, axis).reshape(-1, classes)
    targets = (t.reshape(-1) if hard(t) else
               class_last(t, axis).reshape(-1, classes))
    losses = []
    for r in range(rows.shape[0]):
        if hard(t) and int(targets[r]) == ignore:
            losses.append(rows[r][0:0].sum())  # 0, attached to the graph.
            continue
        keep = ~torch.isneginf(rows[r])
        row = rows[r][keep][None]
        w = None if weight is None else weight[keep]
        if hard(t):
            label = (torch.cumsum(keep.long(), 0)[targets[r]] - 1)[None]
            target = F.one_hot(label, row.shape[1]).to(row.dtype)
        else:
            label, target = None, targets[r][keep][None]
        losses.append(row_loss(row, target, label, w))
    shape = t.shape if hard(t) else tuple(
        d for i, d in enumerate(x.shape) if i != axis)
    per = torch.stack(losses).reshape(shape)
    if reduction == "mean":
        return per.sum() / (weighted_count(case, t, weight) if hard(t) else
                            float(per.numel()))
    return reduce(per, reduction, None)


def _compacted_cross_entropy(case, x, t, reduction):
    eps = option(case, "label_smoothing", 0.0)
    rule = option(case, "label_smoothing_rule", "uniform")
    z = option(case, "z_loss", 0.0)

    def row_loss(row, target, label, w):
        if rule == "uniform" or eps == 0:
            loss = F.cross_entropy(row, label if label is not None else target,
                                   weight=w, label_smoothing=eps,
                                   reduction="none")[0]
        else:
            a = smoothed(case, target, row.shape[1])
            if w is not None:
                a = a * w
            loss = -(a * F.log_softmax(row, -1)).sum()
        if z:
            loss = loss + z * torch.logsumexp(row[0], 0) ** 2
        return loss

    return _compacted(case, x, t, reduction, row_loss)


def cross_entropy(case, x, t, reduction):
    axis, classes = case.axis, case.classes
    weight = per_class(case, "class_weight", x.dtype)
    eps = option(case, "label_smoothing", 0.0)
    rule = option(case, "label_smoothing_rule", "uniform")
    z = option(case, "z_loss", 0.0)
    cap = option(case, "logit_softcap", 0.0)
    ignore = option(case, "ignore_index", -100)
    kind = case.input_kind
    if kind == "logits":
        if cap > 0:
            x = cap * torch.tanh(x / cap)
        elif bool(torch.isneginf(x).any()):
            return _compacted_cross_entropy(case, x, t, reduction)
    if kind == "log_probabilities" and bool(torch.isneginf(x).any()):
        def row_loss(row, target, label, w):
            a = smoothed(case, target, row.shape[1])
            return -((a if w is None else a * w) * row).sum()
        return _compacted(case, x, t, reduction, row_loss)
    if kind == "logits" and (rule == "uniform" or eps == 0):
        # PyTorch itself.
        target = t if hard(t) else class_dim1(t, axis)
        loss = F.cross_entropy(class_dim1(x, axis), target, weight=weight,
                               ignore_index=ignore, reduction=reduction,
                               label_smoothing=eps)
    else:
        # Log-probabilities (given, or log of the probabilities) take the
        # same coefficients without a softmax; fairseq's rule for logits.
        if kind == "logits":
            log_p = F.log_softmax(x, axis)
        elif kind == "probabilities":
            log_p = torch.log(x)
        else:
            log_p = x
        log_p = class_last(log_p, axis)
        if hard(t):
            targets, valid = one_hot_valid(case, t)
            targets = targets.to(x.dtype)
        else:
            targets, valid = class_last(t, axis), None
        if (kind == "logits" and hard(t) and weight is None and eps > 0 and
                classes >= 2):
            # fairseq label_smoothed_nll_loss, verbatim.
            nll = -(log_p * targets).sum(-1)
            smooth = -log_p.sum(-1)
            eps_i = eps / (classes - 1)
            per = (1.0 - eps - eps_i) * nll + eps_i * smooth
        else:
            a = smoothed(case, targets, classes)
            if weight is not None:
                a = a * weight
            per = -(a * log_p).sum(-1)
        if valid is not None:
            per = torch.where(valid, per, torch.zeros_like(per))
        if reduction == "mean":
            loss = per.sum() / (weighted_count(case, t, weight) if hard(t)
                                else float(per.numel()))
        else:
            loss = reduce(per, reduction, None)
    if z:
        lse = torch.logsumexp(x, axis)
        term = z * lse ** 2
        if hard(t):
            term = torch.where(t != ignore, term, torch.zeros_like(term))
        if reduction == "none":
            loss = loss + term
        elif reduction == "sum":
            loss = loss + term.sum()
        else:
            loss = loss + term.sum() / (weighted_count(case, t, weight)
                                        if hard(t) else float(term.numel()))
    return loss


def nll(case, x, t, reduction):
    return F.nll_loss(class_dim1(x, case.axis), t,
                      weight=per_class(case, "class_weight", x.dtype),
                      ignore_index=option(case, "ignore_index", -100),
                      reduction=reduction)


def poly(case, x, t, reduction):
    """optax poly_loss_cross_entropy, with class weights and smoothing as
    coefficients a = w t' (lossd's generalisation)."""
    axis, classes = case.axis, case.classes
    weight = per_class(case, "class_weight", x.dtype)
    epsilon = option(case, "epsilon", 2.0)
    if bool(torch.isneginf(x).any()):
        def row_loss(row, target, label, w):
            a = smoothed(case, target, row.shape[1])
            if w is not None:
                a = a * w
            return (-(a * F.log_softmax(row, -1)).sum() +
                    epsilon * (a * (1 - F.softmax(row, -1))).sum())
        return _compacted(case, x, t, reduction, row_loss)
    log_p = class_last(F.log_softmax(x, axis), axis)
    p = class_last(F.softmax(x, axis), axis)
    if hard(t):
        targets, valid = one_hot_valid(case, t)
        targets = targets.to(x.dtype)
    else:
        targets, valid = class_last(t, axis), None
    a = smoothed(case, targets, classes)
    if weight is not None:
        a = a * weight
    per = -(a * log_p).sum(-1) + epsilon * (a * (1 - p)).sum(-1)
    if valid is not None:
        per = torch.where(valid, per, torch.zeros_like(per))
    if reduction == "mean":
        return per.sum() / (weighted_count(case, t, weight) if hard(t) else
                            float(per.numel()))
    return reduce(per, reduction, None)


def softmax_focal(case, x, t, reduction):
    """Keras categorical_focal_crossentropy, transcribed."""
    axis, classes = case.axis, case.classes
    alpha = option(case, "alpha", 0.25)
    gamma = option(case, "gamma", 2.0)
    smoothing = option(case, "label_smoothing", 0.0)
    epsilon = option(case, "epsilon", 1e-7)
    y_pred = class_last(x, axis)
    if hard(t):
        y_true, valid = one_hot_valid(case, t)
        y_true = y_true.to(x.dtype)
    else:
        y_true, valid = class_last(t, axis), None
    if smoothing:
        y_true = y_true * (1.0 - smoothing) + smoothing / classes
    if case.input_kind == "logits":
        y_pred = F.softmax(y_pred, -1)
    output = y_pred / y_pred.sum(-1, keepdim=True)
    if epsilon > 0:
        output = torch.clamp(output, epsilon, 1.0 - epsilon)
    cce = -y_true * torch.log(output)
    cce = torch.where(y_true == 0, torch.zeros_like(cce), cce)
    per = (alpha * torch.pow(1.0 - output, gamma) * cce).sum(-1)
    if valid is not None:
        per = torch.where(valid, per, torch.zeros_like(per))
    if reduction == "mean":
        return per.sum() / float(valid.sum() if valid is not None else
                                 per.numel())
    return reduce(per, reduction, None)


def multi_margin(case, x, t, reduction):
    rows = class_last(x, case.axis).reshape(-1, case.classes)
    loss = F.multi_margin_loss(rows, t.reshape(-1),
                               p=option(case, "power", 1),
                               margin=option(case, "margin", 1.0),
                               weight=per_class(case, "class_weight", x.dtype),
                               reduction=reduction)
    return loss.reshape(t.shape) if reduction == "none" else loss


def _rank_metric(case, x, t, reduction, top_k):
    axis, classes = case.axis, case.classes
    scores = class_last(x, axis)
    if hard(t):
        ignore = option(case, "ignore_index", -100) if case.loss == "accuracy" \
            else None
        valid = (t != ignore) if ignore is not None else torch.ones_like(
            t, dtype=torch.bool)
        labels = torch.where(valid, t, torch.zeros_like(t))
    else:
        labels = torch.argmax(class_last(t, axis), -1)
        valid = torch.ones_like(labels, dtype=torch.bool)
    k = min(top_k, classes)
    top = torch.topk(scores, k, dim=-1).indices
    hit = (top == labels[..., None]).any(-1)
    value = hit if case.loss == "accuracy" else ~hit
    per = torch.where(valid, value.to(x.dtype), torch.zeros_like(scores[..., 0]))
    if reduction == "mean":
        return per.sum() / float(valid.sum())
    return reduce(per, reduction, None)


def accuracy(case, x, t, reduction):
    return _rank_metric(case, x, t, reduction, option(case, "top_k", 1))


def classification_error(case, x, t, reduction):
    return _rank_metric(case, x, t, reduction, 1)


# Element-wise losses --------------------------------------------------------


def binary_cross_entropy(case, x, t, reduction):
    axis = case.axis
    smoothing = option(case, "label_smoothing", 0.0)
    if smoothing:
        if option(case, "label_smoothing_rule", "uniform") == "uniform":
            t = t * (1 - smoothing) + 0.5 * smoothing  # Keras.
        else:
            t = t * (1 - smoothing) + smoothing * (1 - t)
    weight = per_class(case, "weight", x.dtype)
    if weight is not None:
        weight = broadcast_at_axis(weight, x.ndim, axis)
    if case.input_kind == "probabilities":
        return F.binary_cross_entropy(x, t, weight=weight, reduction=reduction)
    pos_weight = per_class(case, "pos_weight", x.dtype)
    if pos_weight is not None:
        pos_weight = broadcast_at_axis(pos_weight, x.ndim, axis)
    return F.binary_cross_entropy_with_logits(x, t, weight=weight,
                                              pos_weight=pos_weight,
                                              reduction=reduction)


def focal(case, x, t, reduction):
    """torchvision.ops.sigmoid_focal_loss, transcribed; beyond |x| = 20 its
    1 - p_t cancels, so optax's log-space form (same value) is used."""
    alpha = option(case, "alpha", 0.25)
    gamma = option(case, "gamma", 2.0)
    ce_loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    if float(x.abs().max()) <= 20 if x.numel() else True:
        p = torch.sigmoid(x)
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce_loss * ((1 - p_t) ** gamma)
    else:
        # optax.sigmoid_focal_loss (0.2.5+).
        y_ge = t >= 0.5
        y = torch.where(y_ge, t, 1 - t)
        xp = torch.where(y_ge, -x, x)
        log_u = (F.logsigmoid(xp) + torch.log(y) +
                 F.softplus(-xp + torch.log1p(-y) - torch.log(y)))
        loss = ce_loss * torch.exp(gamma * log_u)
    if alpha >= 0:
        alpha_t = alpha * t + (1 - alpha) * (1 - t)
        loss = alpha_t * loss
    return reduce(loss, reduction, float(loss.numel()))


def kl_div(case, x, t, reduction):
    log_target = option(case, "log_target", False)
    log_q = F.log_softmax(x, case.axis) if case.input_kind == "logits" else x
    # Terms without target mass are 0 in lossd even at log q = -inf, where
    # PyTorch's t * log q is NaN: put a finite value there (t = 0 makes it
    # irrelevant to the value and the gradient).
    empty = torch.exp(t) == 0 if log_target else t == 0
    log_q = torch.where(empty & torch.isneginf(log_q), torch.zeros_like(log_q),
                        log_q)
    torch_reduction = "batchmean" if reduction == "batch_mean" else reduction
    if not (log_target and bool(empty.any())):
        return F.kl_div(log_q, t, reduction=torch_reduction,
                        log_target=log_target)
    # With log_target, PyTorch's e^t (t - x) is 0 * -inf = NaN at t = -inf.
    per = F.kl_div(log_q, t, reduction="none", log_target=True)
    per = torch.where(empty, torch.zeros_like(per), per)
    if reduction == "batch_mean":
        return per.sum() / x.shape[0]
    return reduce(per, reduction, float(per.numel()))


def _elementwise(name):
    def fn(case, x, t, reduction):
        if name == "mse":
            return F.mse_loss(x, t, reduction=reduction)
        if name == "l1":
            return F.l1_loss(x, t, reduction=reduction)
        if name == "huber":
            return F.huber_loss(x, t, reduction=reduction,
                                delta=option(case, "delta", 1.0))
        return F.smooth_l1_loss(x, t, reduction=reduction,
                                beta=option(case, "beta", 1.0))
    return fn


def poisson_nll(case, x, t, reduction):
    log_input = option(case, "log_input", True)
    loss = F.poisson_nll_loss(x, t, log_input=log_input,
                              full=option(case, "full", False),
                              eps=option(case, "epsilon", 1e-8),
                              reduction="none")
    if log_input:
        # exp(x) - 0 * x is NaN at x = -inf in PyTorch; lossd gives exp(x).
        loss = torch.where((t == 0) & torch.isneginf(x), torch.exp(x), loss)
    return reduce(loss, reduction, float(loss.numel()))


def hinge(case, x, t, reduction):
    """optax hinge_loss / Keras Hinge and SquaredHinge, transcribed."""
    margin = option(case, "margin", 1.0)
    if option(case, "target_encoding", "signed") == "zero_one":
        t = 2 * t - 1
    loss = torch.relu(margin - t * x)
    if option(case, "squared", False):
        loss = loss ** 2
    return reduce(loss, reduction, float(loss.numel()))


LOSSES = {
    "cross_entropy": LossReference(cross_entropy, "example",
                                   ("sum", "mean")),
    "nll": LossReference(nll, "example", ("sum", "mean")),
    "poly": LossReference(poly, "example", ("sum", "mean"), float64=True),
    "softmax_focal": LossReference(softmax_focal, "example", ("sum", "mean"),
                                   float64=True),
    "multi_margin": LossReference(multi_margin, "example", ("sum", "mean")),
    "accuracy": LossReference(accuracy, "example", ("sum", "mean"),
                              float64=True, has_gradient=False),
    "classification_error": LossReference(classification_error, "example",
                                          ("sum", "mean"), float64=True,
                                          has_gradient=False),
    "binary_cross_entropy": LossReference(binary_cross_entropy, "element",
                                          ("sum", "mean")),
    "focal": LossReference(focal, "element", ("sum", "mean"), float64=True),
    "kl_div": LossReference(kl_div, "element", ("sum", "mean", "batch_mean")),
    "mse": LossReference(_elementwise("mse"), "element", ("sum", "mean")),
    "l1": LossReference(_elementwise("l1"), "element", ("sum", "mean")),
    "huber": LossReference(_elementwise("huber"), "element", ("sum", "mean")),
    "smooth_l1": LossReference(_elementwise("smooth_l1"), "element",
                               ("sum", "mean")),
    "poisson_nll": LossReference(poisson_nll, "element", ("sum", "mean")),
    "hinge": LossReference(hinge, "element", ("sum", "mean"), float64=True),
}


# lossd's mean denominators, for requests with a mask or sample weights ----


def mean_denominator(case):
    """lossd's REDUCTION_MEAN denominator (docs/SEMANTICS.md)."""
    spec = LOSSES[case.loss]
    mask = (np.ones((), bool) if case.mask is None else case.mask != 0)
    if spec.per == "element":
        included = np.broadcast_to(
            mask if case.mask is None or case.mask.shape == case.input.shape
            else np.expand_dims(mask, case.axis), case.input.shape)
        return float(included.sum())
    example_shape = tuple(d for i, d in enumerate(case.input.shape)
                          if i != case.axis)
    included = np.broadcast_to(mask, example_shape)
    if case.target.dtype.kind not in "iu" or case.target.shape != example_shape:
        return float(included.sum())
    if case.loss == "multi_margin" or case.loss == "classification_error":
        return float(included.sum())
    ignore = case.options.get("ignore_index", -100)
    valid = included & (case.target != ignore)
    weight = case.options.get("class_weight")
    if weight is None or case.loss in ("softmax_focal", "accuracy"):
        return float(valid.sum())
    labels = np.where(valid, case.target, 0)
    return float((np.asarray(weight, np.float64)[labels] * valid).sum())


def declared_denominator(rule, descriptor, case):
    """REDUCTION_MEAN's denominator of `case` by `rule`, the name of the
    MeanDenominatorRule that ListLosses declares for the loss (less its
    MEAN_DENOMINATOR_RULE_ prefix), read from the contract's comments; None
    for a rule this oracle does not know. It must equal mean_denominator():
    that is what a client splitting a batch by the rule relies on."""
    mask = (np.ones((), bool) if case.mask is None else case.mask != 0)
    if rule == "UNMASKED_ELEMENTS":
        included = np.broadcast_to(
            mask if case.mask is None or case.mask.shape == case.input.shape
            else np.expand_dims(mask, case.axis), case.input.shape)
        return float(included.sum())
    if rule not in ("TARGET_WEIGHT_SUM", "NOT_IGNORED_EXAMPLES",
                    "UNMASKED_EXAMPLES"):
        return None
    example_shape = tuple(d for i, d in enumerate(case.input.shape)
                          if i != case.axis)
    included = np.broadcast_to(mask, example_shape)
    class_index = (case.target.dtype.kind in "iu" and
                   case.target.shape == example_shape)
    if not class_index or rule == "UNMASKED_EXAMPLES":
        return float(included.sum())
    valid = included
    for option in descriptor.options:
        if option.name == "ignore_index":
            ignore = case.options.get("ignore_index",
                                      int(float(option.default_value)))
            valid = included & (case.target != ignore)
    weight = case.options.get("class_weight")
    if rule == "NOT_IGNORED_EXAMPLES" or weight is None:
        return float(valid.sum())
    labels = np.where(valid, case.target, 0)
    return float((np.asarray(weight, np.float64)[labels] * valid).sum())


def batch_size(case):
    return case.input.shape[0] if case.input.ndim >= 2 else 1


@dataclasses.dataclass
class Expected:
    loss: float
    per_example: Optional[np.ndarray]
    grad_input: Optional[np.ndarray]
    grad_target: Optional[np.ndarray]
    denominator: Optional[float]
    # A magnitude for the loss's tolerance: the reduced sum of |losses|.
    loss_scale: float


def expected(case, exact=True):
    """The expected answer. exact: evaluate in float64 (from the case's
    values, already rounded to its dtype), the answer lossd must match to
    its dtype's tolerance; else PyTorch in the case's own dtype."""
    spec = LOSSES[case.loss]
    dtype = torch.float64 if spec.float64 or exact else (
        torch.float32 if case.dtype == np.float32 else torch.float64)
    x = torch.tensor(case.input, dtype=dtype, requires_grad=spec.has_gradient)
    if case.target.dtype.kind in "iu" and case.target.shape != case.input.shape:
        t = torch.tensor(case.target, dtype=torch.int64)
    else:
        t = torch.tensor(case.target, dtype=dtype,
                         requires_grad=case.want_grad_target)
    reduction = case.reduction
    with torch.no_grad():
        per_plain = spec.fn(case, x.detach(), t.detach(), "none")
    weights = torch.ones_like(per_plain)
    if case.sample_weight is not None:
        sw = torch.tensor(case.sample_weight, dtype=dtype)
        if spec.per == "element" and sw.shape != per_plain.shape:
            sw = sw.unsqueeze(case.axis)
        weights = weights * sw
    include = torch.ones_like(per_plain, dtype=torch.bool)
    if case.mask is not None:
        m = torch.tensor(case.mask != 0)
        if spec.per == "element" and m.shape != per_plain.shape:
            m = m.unsqueeze(case.axis)
        include = include & m
    plain = (case.sample_weight is None and case.mask is None and
             case.normalizer is None and case.grad_output is None and
             reduction in spec.native)
    if reduction in ("mean", "batch_mean"):
        if case.normalizer is not None:
            denominator = case.normalizer
        elif reduction == "mean":
            denominator = mean_denominator(case)
        else:
            denominator = float(batch_size(case))
    else:
        denominator = 1.0
    per_weighted = torch.where(include, per_plain * weights,
                               torch.zeros_like(per_plain))
    loss_scale = float(per_weighted.abs().sum()) / (denominator or 1.0)

    empty = reduction in ("mean", "batch_mean") and denominator == 0
    if plain and not empty:
        out = spec.fn(case, x, t, reduction)
    else:
        per = spec.fn(case, x, t, "none")
        per = torch.where(include, per * weights, torch.zeros_like(per))
        if reduction == "none":
            out = per
        elif reduction == "sum":
            out = per.sum()
        else:
            out = per.sum() / (denominator if denominator else 1.0)
    if reduction == "none":
        loss = float(out.detach().sum())
    elif empty:
        loss = 0.0 if case.empty_mean == "zero" else math.nan
    else:
        loss = float(out.detach())

    grad_input = grad_target = None
    if spec.has_gradient and case.want_grad or case.want_grad_target:
        if empty:
            if spec.has_gradient:
                grad_input = np.zeros(case.input.shape)
            if case.want_grad_target:
                grad_target = np.zeros(case.input.shape)
        else:
            if reduction == "none":
                upstream = (torch.ones_like(out) if case.grad_output is None
                            else torch.tensor(case.grad_output, dtype=dtype))
                total = (out * upstream).sum()
            else:
                total = out
            inputs = [v for v, wanted in ((x, spec.has_gradient),
                                          (t, case.want_grad_target)) if wanted]
            grads = torch.autograd.grad(total, inputs, allow_unused=True)
            scale = 1.0 if case.grad_scale is None else case.grad_scale
            grads = [None if g is None else g.detach().numpy() * scale
                     for g in grads]
            if spec.has_gradient:
                grad_input = grads.pop(0)
            if case.want_grad_target:
                grad_target = grads.pop(0)
                if grad_target is None:
                    grad_target = np.zeros(case.input.shape)
    return Expected(
        loss=loss,
        per_example=per_weighted.detach().numpy().astype(np.float64),
        grad_input=grad_input, grad_target=grad_target,
        denominator=denominator if reduction in ("mean", "batch_mean") else None,
        loss_scale=loss_scale)
