#!/usr/bin/python3
"""How much the Python client adds to a Compute call.

    /usr/bin/python3 client/python/examples/measure_overhead.py --server build/server/lossd
    /usr/bin/python3 client/python/examples/measure_overhead.py --target host:port

For a small request (32x10 float32 logits) and a 4 MiB one (1024x1024
float32 logits, 4 MiB gradient back), sequential calls, one at a time:
  raw bytes   grpc stub sending pre-serialized bytes, response left as bytes:
              the floor of a Python gRPC call, no protobuf work at all;
  raw stub    the generated stub with a request message built once;
  LossClient  compute(): NumPy in (tobytes), message, call, NumPy out
              (frombuffer) for loss, gradient and statistics.
Prints the median and 90th percentile latency per call and the CPU time the
client process spent per call (all its threads, gRPC's included), in
microseconds. On a shared machine the latencies move with the load; the CPU
time is the steadier measure of what the client itself costs.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lossd import LocalServer, LossClient  # noqa: E402
from lossd import _stubs  # noqa: E402


def measure(call, count, warmup):
    for _ in range(warmup):
        call()
    times = []
    cpu_started = time.process_time_ns()
    for _ in range(count):
        started = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - started)
    cpu = (time.process_time_ns() - cpu_started) / count / 1e3
    times.sort()
    return (statistics.median(times) / 1e3, times[int(0.9 * len(times))] / 1e3,
            cpu)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target")
    where.add_argument("--server")
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--large-count", type=int, default=100)
    args = parser.parse_args(argv)

    server = LocalServer(args.server).start() if args.server else None
    target = server.target if server else args.target
    rng = np.random.default_rng(0)
    payloads = {
        "small 32x10": (rng.normal(size=(32, 10)).astype(np.float32),
                        rng.integers(0, 10, size=32), args.small_count),
        "4 MiB 1024x1024": (rng.normal(size=(1024, 1024)).astype(np.float32),
                            rng.integers(0, 1024, size=1024), args.large_count),
    }
    try:
        client = LossClient(target, timeout=60, retries=0)
        stub = client._stubs[0]
        raw_call = client._channels[0].unary_unary(
            "/lossd.v1.LossService/Compute",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw)
        print(f"{'payload':<17}{'path':<12}{'median us':>11}{'p90 us':>10}"
              f"{'client CPU us':>15}")
        for name, (logits, labels, count) in payloads.items():
            request = client.make_request("cross_entropy", logits, labels)
            serialized = request.SerializeToString()
            warmup = max(5, count // 20)
            rows = [
                ("raw bytes", lambda: raw_call(serialized, timeout=60)),
                ("raw stub", lambda: stub.Compute(request, timeout=60)),
                ("LossClient", lambda: client.compute(
                    "cross_entropy", logits, labels)),
            ]
            for path, call in rows:
                median, p90, cpu = measure(call, count, warmup)
                print(f"{name:<17}{path:<12}{median:>11.0f}{p90:>10.0f}"
                      f"{cpu:>15.0f}")
        client.close()
    finally:
        if server:
            server.stop()
            server.cleanup()
    return 0


if __name__ == "__main__":
    _stubs.modules()
    sys.exit(main())
