"""PyTorch autograd over lossd: the loss and d loss / d input come from the
server, and backward() feeds the server's gradient into autograd.

    from lossd.torch import remote_loss, set_default_client
    set_default_client("localhost:50051")          # or $LOSSD_TARGET
    loss = remote_loss(logits, target, loss="cross_entropy", label_smoothing=0.1)
    loss.backward()

or as a module: `criterion = RemoteLoss("cross_entropy", label_smoothing=0.1)`.
The forward pass makes one Compute call that returns the gradient too, so
backward() costs no further call. Higher-order gradients are not available.
"""

import os
import threading

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from lossd.client import LossClient
from lossd.tensors import bfloat16_tensor

_default_client = None
_default_lock = threading.Lock()


def set_default_client(client):
    """The client remote_loss uses when none is passed: a LossClient or a
    target string."""
    global _default_client
    with _default_lock:
        _default_client = (client if isinstance(client, LossClient)
                           else LossClient(client))
    return _default_client


def default_client():
    """The default client; made from $LOSSD_TARGET (else localhost:50051)
    on first use."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = LossClient(
                os.environ.get("LOSSD_TARGET", "localhost:50051"))
        return _default_client


def _to_wire(tensor):
    """A CPU numpy array (or a BFLOAT16 Tensor message) of a torch tensor."""
    if not isinstance(tensor, torch.Tensor):
        return tensor
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        bits = tensor.contiguous().view(torch.int16).cpu().numpy()
        return bfloat16_tensor(bits.view(np.uint16), tensor.shape)
    return tensor.contiguous().cpu().numpy()


def _to_torch(array, like):
    """A writable tensor on `like`'s device and dtype from a response array."""
    return torch.from_numpy(np.array(array)).to(device=like.device,
                                                dtype=like.dtype)


class RemoteLossFunction(torch.autograd.Function):
    """autograd.Function(input, target, sample_weight, client, loss, kwargs).

    Returns the reduced loss (a 0-d tensor), or the per-example losses under
    reduction="none"."""

    @staticmethod
    def forward(ctx, input, target, sample_weight, client, loss, kwargs):
        kwargs = dict(kwargs)
        reduction = str(kwargs.get("reduction") or "mean").lower()
        unreduced = reduction in ("none", "reduction_none")
        wants_grad = ctx.needs_input_grad[0]
        kwargs["grad"] = wants_grad
        if unreduced:
            kwargs["per_example"] = True
        options = {key: _to_wire(value) for key, value in kwargs.items()}
        result = client.compute(
            loss, _to_wire(input), _to_wire(target),
            sample_weight=_to_wire(sample_weight), **options)
        if wants_grad:
            ctx.save_for_backward(_to_torch(result.grad_input, input))
        ctx.unreduced = unreduced
        ctx.class_axis = kwargs.get("class_axis")
        if unreduced:
            return _to_torch(result.per_example, input)
        return torch.tensor(result.loss, dtype=input.dtype, device=input.device)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        (grad_input,) = ctx.saved_tensors
        if not ctx.unreduced:
            grad_input = grad_input * grad_output
        elif grad_output.dim() == grad_input.dim():  # Element-wise losses.
            grad_input = grad_input * grad_output
        else:
            # Per-example losses: each example's gradient is that of its own
            # loss (the server's is of their sum), scaled by its upstream.
            axis = -1 if ctx.class_axis is None else ctx.class_axis
            axis = axis % grad_input.dim()
            grad_input = grad_input * grad_output.unsqueeze(axis)
        return grad_input, None, None, None, None, None


def remote_loss(input, target, *, loss="cross_entropy", client=None,
                sample_weight=None, **kwargs):
    """The loss `loss` of `input` against `target`, computed by lossd, as a
    tensor that autograd differentiates with the server's gradient.

    kwargs are LossClient.compute()'s keywords (reduction, class_axis,
    input_kind, ...) and the loss's options (label_smoothing, class_weight,
    ignore_index, pos_weight, ...); tensors are accepted for array options.
    """
    client = client or default_client()
    for name in ("grad_output", "grad_scale", "grad_target", "grad",
                 "per_example"):
        if name in kwargs:
            raise ValueError(
                f"remote_loss sets {name} itself: autograd supplies the "
                "upstream gradient (loss.backward(gradient)); scale the loss "
                "to scale gradients")
    return RemoteLossFunction.apply(input, target, sample_weight, client, loss,
                                    tuple(sorted(kwargs.items())))


class RemoteLoss(torch.nn.Module):
    """remote_loss as a criterion: RemoteLoss("cross_entropy", ...)(x, y)."""

    def __init__(self, loss="cross_entropy", *, client=None, **kwargs):
        super().__init__()
        self.loss = loss
        self.client = client
        self.kwargs = kwargs

    def forward(self, input, target, sample_weight=None):
        return remote_loss(input, target, loss=self.loss, client=self.client,
                           sample_weight=sample_weight, **self.kwargs)
