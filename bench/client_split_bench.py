#!/usr/bin/python3
"""One large Compute against the same batch split into row chunks sent
concurrently by the Python client (lossd.split): the "Large batches" target
of issue 6.

    /usr/bin/python3 bench/client_split_bench.py --lossd build/server/lossd

Starts its own lossd (default flags but for --max_request_bytes, raised to
fit the whole call: 64 MiB of logits plus labels is more than the default
64 MiB, which the split call never comes near; 127.0.0.1:0, metrics off) unless
--target names a running one, then times, in the same run, alternating
configuration by configuration and repeated, `client.compute()` of a
float32 cross_entropy batch (default 16384 x 1024 = 64 MiB of logits, class
indices, mean, gradient returned) sent whole and split at several chunk
sizes and concurrencies. Prints medians, the speed-up over the whole call,
and checks once per configuration that the split gradient is bitwise the
whole one. Wall-clock numbers: run on an otherwise idle machine.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "client" / "python"))

from lossd import LocalServer, LossClient  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lossd", help="lossd binary to start (Release)")
    parser.add_argument("--target", help="a running lossd instead")
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--classes", type=int, default=1024)
    parser.add_argument("--chunk-mib", default="2,4,8,16",
                        help="chunk sizes in MiB of input, comma-separated")
    parser.add_argument("--concurrency", default="2,4,8")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--markdown", action="store_true",
                        help="print the table as Markdown")
    return parser.parse_args()


def main():
    args = parse_args()
    if not args.target and not args.lossd:
        sys.exit("give --lossd PATH (a Release build's server/lossd) or "
                 "--target HOST:PORT")
    server = None
    target = args.target
    if not target:
        server = LocalServer(binary=args.lossd,
                             args=("--metrics_address=",
                                   f"--max_request_bytes={256 << 20}")).start()
        target = server.target
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(args.rows, args.classes)).astype(np.float32)
    labels = rng.integers(0, args.classes, size=args.rows)
    row_bytes = 4 * args.classes
    configs = [("whole", 0, 1)]
    for mib in (float(m) for m in args.chunk_mib.split(",")):
        chunk_rows = max(1, int(mib * (1 << 20)) // row_bytes)
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            configs.append((f"{mib:g} MiB x{concurrency}", chunk_rows,
                            concurrency))
    times = {name: [] for name, _, _ in configs}
    try:
        with LossClient(target, timeout=600) as client:
            whole = client.compute("cross_entropy", logits, labels,
                                   chunk_rows=0)
            reference = whole.grad_input.copy()
            for name, chunk_rows, concurrency in configs[1:]:
                result = client.compute("cross_entropy", logits, labels,
                                        chunk_rows=chunk_rows,
                                        concurrency=concurrency)
                if not (np.array_equal(result.grad_input.view(np.uint32),
                                       reference.view(np.uint32)) and
                        abs(result.loss - whole.loss) <= 1e-12 * whole.loss):
                    sys.exit(f"{name}: the split answer differs")
            del whole, result
            for repeat in range(args.warmup + args.repeats):
                # Alternate, and rotate the order so no configuration always
                # runs after the same neighbour.
                shift = repeat % len(configs)
                for name, chunk_rows, concurrency in (configs[shift:] +
                                                      configs[:shift]):
                    start = time.perf_counter()
                    result = client.compute("cross_entropy", logits, labels,
                                            chunk_rows=chunk_rows,
                                            concurrency=concurrency)
                    elapsed = time.perf_counter() - start
                    del result
                    if repeat >= args.warmup:
                        times[name].append(elapsed)
    finally:
        if server is not None:
            server.stop()
            server.cleanup()

    megabytes = logits.nbytes / (1 << 20)
    whole_median = statistics.median(times["whole"])
    print(f"cross_entropy float32 {args.rows} x {args.classes} "
          f"({megabytes:.0f} MiB logits), mean, gradient returned; "
          f"{args.repeats} repeats (+{args.warmup} warm-up), alternating; "
          f"load average {os.getloadavg()[0]:.2f}")
    header = ("configuration", "rows/chunk", "chunks", "median ms", "min ms",
              "GB/s in", "vs whole")
    rows = []
    for name, chunk_rows, concurrency in configs:
        median = statistics.median(times[name])
        chunks = 1 if chunk_rows == 0 else -(-args.rows // chunk_rows)
        rows.append((name, str(chunk_rows or args.rows), str(chunks),
                     f"{median * 1e3:.1f}", f"{min(times[name]) * 1e3:.1f}",
                     f"{logits.nbytes / median / 1e9:.2f}",
                     f"{whole_median / median:.2f}x"))
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in rows + [header])
                  for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(cell.rjust(width)
                            for cell, width in zip(row, widths)))


if __name__ == "__main__":
    main()
