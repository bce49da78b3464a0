#!/usr/bin/python3
"""The proof: train the same MLP twice, once with PyTorch's loss and once with
the loss and gradients from lossd, and check that the two runs end in the
same place.

    /usr/bin/python3 client/python/examples/train_digits.py --target localhost:50051
    /usr/bin/python3 client/python/examples/train_digits.py --server build/server/lossd

Data: scikit-learn's bundled 8x8 digits (1797 images, 10 classes; shipped
with python3-sklearn, no download). Model: 64-64-10 MLP, SGD with momentum,
a few epochs. For each configuration (plain cross-entropy; label smoothing
with class weights) the script trains from one seed with
torch.nn.functional.cross_entropy and with lossd.torch.remote_loss, then
requires every final weight to agree within --tolerance (1e-5) and both test
accuracies to pass --min-accuracy (0.90). Exit status 0 when all hold.

The gated runs train in float64 (--dtype). In float32 the two runs agree to
a few 1e-7 for short runs, but training amplifies rounding differences in
the loss gradient (a ReLU that flips for one example is enough), so the gap
grows with epochs whatever computes the loss: PyTorch against PyTorch with
its loss evaluated in float64 diverges exactly as much. The float32 runs are
therefore reported, next to that PyTorch-vs-PyTorch yardstick, and not gated
(unless --dtype float32).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# Runs from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lossd import LocalServer, LossClient  # noqa: E402
from lossd.torch import remote_loss  # noqa: E402

CLASSES = 10


def load_data(seed, dtype):
    digits = load_digits()
    features = digits.data / 16.0
    train_x, test_x, train_y, test_y = train_test_split(
        features, digits.target.astype(np.int64), test_size=0.25,
        random_state=seed, stratify=digits.target)
    return (torch.from_numpy(train_x).to(dtype), torch.from_numpy(train_y),
            torch.from_numpy(test_x).to(dtype), torch.from_numpy(test_y))


def make_model(seed, dtype):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, CLASSES)).to(dtype)


def train(data, seed, epochs, batch_size, loss_fn):
    """Trains a fresh model; returns it. `loss_fn(logits, labels)` is the
    only thing that differs between the runs."""
    train_x, train_y, _, _ = data
    model = make_model(seed, train_x.dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        permutation = torch.randperm(len(train_x), generator=order)
        for start in range(0, len(train_x), batch_size):
            batch = permutation[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
    return model


def accuracy(model, data):
    _, _, test_x, test_y = data
    with torch.no_grad():
        return (model(test_x).argmax(dim=1) == test_y).float().mean().item()


def max_weight_difference(first, second):
    return max((a - b).abs().max().item()
               for a, b in zip(first.parameters(), second.parameters()))


def run_configuration(name, client, data, args, class_weight=None,
                      label_smoothing=0.0, gated=True):
    """Trains with PyTorch's loss and with lossd's; returns (ok, report)."""
    dtype = data[0].dtype
    if class_weight is not None:
        class_weight = class_weight.to(dtype)

    def torch_loss(logits, labels):
        return F.cross_entropy(logits, labels, weight=class_weight,
                               label_smoothing=label_smoothing)

    def torch_loss_in_float64(logits, labels):
        return F.cross_entropy(
            logits.double(), labels,
            weight=None if class_weight is None else class_weight.double(),
            label_smoothing=label_smoothing).to(logits.dtype)

    def lossd_loss(logits, labels):
        options = {}
        if class_weight is not None:
            options["class_weight"] = class_weight
        if label_smoothing:
            options["label_smoothing"] = label_smoothing
        return remote_loss(logits, labels, loss="cross_entropy", client=client,
                           **options)

    started = time.monotonic()
    reference = train(data, args.seed, args.epochs, args.batch_size, torch_loss)
    middle = time.monotonic()
    remote = train(data, args.seed, args.epochs, args.batch_size, lossd_loss)
    finished = time.monotonic()
    difference = max_weight_difference(reference, remote)
    accuracies = (accuracy(reference, data), accuracy(remote, data))
    ok = (difference <= args.tolerance and
          min(accuracies) > args.min_accuracy)
    report = (f"{str(dtype).replace('torch.', ''):<8}{name:<35}"
              f"max |w_torch - w_lossd| = {difference:.2e}  "
              f"test accuracy torch {accuracies[0]:.4f} lossd {accuracies[1]:.4f}  "
              f"({middle - started:.1f}s / {finished - middle:.1f}s)  ")
    if gated:
        return ok, report + ("OK" if ok else "FAILED")
    yardstick = max_weight_difference(
        reference,
        train(data, args.seed, args.epochs, args.batch_size, torch_loss_in_float64))
    return True, report + (f"not gated; torch vs torch with a float64 loss: "
                           f"{yardstick:.2e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", help="a running lossd, host:port")
    where.add_argument("--server", help="a lossd binary to start on a free "
                       "127.0.0.1 port for the duration of the run")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--min-accuracy", type=float, default=0.90)
    parser.add_argument("--dtype", choices=("float64", "float32"),
                        default="float64", help="dtype of the gated runs")
    parser.add_argument("--no-float32-report", action="store_true",
                        help="skip the informational float32 runs")
    args = parser.parse_args(argv)

    # One thread: the two runs then do their matrix products identically.
    torch.set_num_threads(1)
    weights = torch.linspace(0.5, 1.5, CLASSES)
    configurations = [
        ("cross_entropy", {}),
        ("label_smoothing=0.1, class_weight",
         {"class_weight": weights, "label_smoothing": 0.1}),
    ]
    runs = [(getattr(torch, args.dtype), True)]
    if args.dtype != "float32" and not args.no_float32_report:
        runs.append((torch.float32, False))
    server = LocalServer(args.server).start() if args.server else None
    try:
        client = LossClient(server.target if server else args.target, timeout=30)
        results = []
        for dtype, gated in runs:
            data = load_data(args.seed, dtype)
            for name, options in configurations:
                results.append(run_configuration(name, client, data, args,
                                                 gated=gated, **options))
        client.close()
    finally:
        if server:
            server.stop()
            server.cleanup()
    for _, report in results:
        print(report)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
