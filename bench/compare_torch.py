#!/usr/bin/python3
"""PyTorch's CPU losses on the shapes of bench/kernel_benchmark.cc.

Times forward and backward (the loss and d loss / d input) of
F.cross_entropy and F.binary_cross_entropy_with_logits on float32 batches of
the same sizes, with the same byte accounting (input + target + gradient,
each once), and prints one JSON object: {"cases": [{"name", "threads",
"seconds", "bytes", "gigabytes_per_second"}], "torch": version, ...}.

Run it with Debian's /usr/bin/python3 (which sees python3-torch) and
tcmalloc preloaded, PyTorch's best configuration on this machine:

  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 \\
      /usr/bin/python3 bench/compare_torch.py --threads 1
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# The cases of kernel_benchmark.cc: (loss, target kind, classes).
CASES = [
    ("cross_entropy", "class_index", 10),
    ("cross_entropy", "class_index", 1000),
    ("cross_entropy", "class_index", 32000),
    ("cross_entropy", "class_index", 128256),
    ("cross_entropy", "probabilities", 10),
    ("cross_entropy", "probabilities", 1000),
    ("cross_entropy", "probabilities", 32000),
    ("binary_cross_entropy", "multi_label", 10),
    ("binary_cross_entropy", "multi_label", 1000),
]
SMOKE_CASES = [
    ("cross_entropy", "class_index", 10),
    ("cross_entropy", "probabilities", 100),
    ("binary_cross_entropy", "multi_label", 100),
]


def tcmalloc_loaded():
    with open("/proc/self/maps") as maps:
        return "tcmalloc" in maps.read()


def make_case(loss, target_kind, classes, elements):
    rows = max(1, elements // classes)
    generator = torch.Generator().manual_seed(12345)
    logits = torch.randn(rows, classes, generator=generator) * 2
    if target_kind == "class_index":
        target = torch.randint(0, classes, (rows,), generator=generator)
        target_bytes = rows * 8
    elif target_kind == "probabilities":
        target = torch.rand(rows, classes, generator=generator)
        target /= target.sum(dim=1, keepdim=True)
        target_bytes = rows * classes * 4
    else:
        target = (torch.rand(rows, classes, generator=generator) < 0.5).float()
        target_bytes = rows * classes * 4
    logits.requires_grad_(True)
    if loss == "cross_entropy":
        function = F.cross_entropy
    else:
        function = F.binary_cross_entropy_with_logits

    def step():
        # The gradient as a trainer gets it (set_to_none semantics: a fresh
        # tensor, not accumulated into an old one).
        value = function(logits, target)
        (grad,) = torch.autograd.grad(value, logits)
        return value.item(), grad

    return rows, step, 2 * rows * classes * 4 + target_bytes


def time_case(step, min_seconds, repetitions):
    """Median over repetitions of the mean seconds per call."""
    step()  # Warm-up: first-call costs and allocator growth.
    step()
    results = []
    for _ in range(repetitions):
        calls = 0
        start = time.perf_counter()
        while True:
            step()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        results.append(elapsed / calls)
    return statistics.median(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--elements", type=int, default=1 << 24)
    parser.add_argument("--min_seconds", type=float, default=0.5)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    cases = CASES
    if args.smoke:
        cases, args.elements = SMOKE_CASES, 1 << 14
        args.min_seconds, args.repetitions = 0.01, 1
    if not tcmalloc_loaded():
        print("compare_torch.py: tcmalloc is not preloaded; PyTorch will be "
              "slower than at its best", file=sys.stderr)
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for loss, target_kind, classes in cases:
            rows, step, nbytes = make_case(loss, target_kind, classes,
                                           args.elements)
            loss_value, _ = step()
            seconds = time_case(step, args.min_seconds, args.repetitions)
            results.append({
                "name": f"{loss}/{target_kind}/C:{classes}/threads:{threads}",
                "threads": threads,
                "rows": rows,
                "classes": classes,
                "loss": loss_value,
                "seconds": seconds,
                "bytes": nbytes,
                "gigabytes_per_second": nbytes / seconds / 1e9,
            })
            del step
    json.dump({
        "torch": torch.__version__,
        "tcmalloc": tcmalloc_loaded(),
        "cases": results,
    }, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
