"""lossd: a Python client of the lossd loss service.

    from lossd import LossClient
    client = LossClient("localhost:50051")
    result = client.compute("cross_entropy", logits, labels, label_smoothing=0.1)
    print(result.loss, result.grad_input.shape, result.statistics)

`lossd.torch` holds a PyTorch autograd function over the same call. The
generated gRPC code is made on first use (see lossd._stubs, lossd.generate).
"""

from lossd.client import ComputeResult, LossClient, LossdError, Statistics
from lossd.local_server import LocalServer

__all__ = ["ComputeResult", "LocalServer", "LossClient", "LossdError",
           "Statistics"]
__version__ = "0.1.0"
