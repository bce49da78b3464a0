#!/usr/bin/python3
"""Small requests, several lossd builds or flag sets against the echoes.

make bench's small-request case (32 x 10 float32 cross_entropy, 32 calls in
flight, bench/run_bench.py) for a before/after comparison on a noisy host:
each round runs every lossd variant and both echoes (sync and callback API)
one after the other, so that a burst of load from elsewhere hits all of
them, and the summary gives medians over rounds: requests/s, the server's
CPU per request, and the fraction of the round's better echo.

  /usr/bin/python3 bench/compare_small_requests.py --build_dir build-bench \\
      --rounds 5 before=/tmp/lossd-before after=build-bench/server/lossd \\
      quiet=build-bench/server/lossd,--log_level=warn

A variant is NAME=PATH[,--flag...]; the echo, the load client and the
servers' flags come from --build_dir as in run_bench.py. --perf adds the
server's write(2) and futex(2) calls and context switches per request
(perf stat, warm-up calls included).
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench  # noqa: E402

ROWS, CLASSES, CONCURRENCY = 32, 10, 32
WARMUP = 2 * CONCURRENCY
PERF_EVENTS = ("syscalls:sys_enter_write", "syscalls:sys_enter_futex",
               "context-switches")
PERF_KEYS = ("write", "futex", "context-switches")  # + "_per_request"


def measure(args, server, service):
    perf = None
    if args.perf:
        perf = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-p", str(server.pid), "-e",
             ",".join(PERF_EVENTS)], stderr=subprocess.PIPE, text=True)
    result = run_bench.service_call(
        args.build_dir, server, service, ROWS, CLASSES, CONCURRENCY,
        warmup=WARMUP, requests=args.requests, max_seconds=args.seconds)
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        _, err = perf.communicate()
        calls = result["requests"] + WARMUP
        for row in err.splitlines():
            fields = row.split(",")
            if len(fields) > 2 and fields[0].strip().isdigit():
                event = fields[2].split(":")[-1].replace("sys_enter_", "")
                result[event + "_per_request"] = int(fields[0]) / calls
    return result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--build_dir", default="build-bench")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40000,
                        help="measured calls per run, at most")
    parser.add_argument("--seconds", type=float, default=4,
                        help="longest measured time per run")
    parser.add_argument("--perf", action="store_true")
    parser.add_argument("--json", help="write every run's results here")
    parser.add_argument("variants", nargs="+", metavar="NAME=PATH[,--flag]")
    args = parser.parse_args()

    threads = run_bench.SERVER_THREADS
    out_dir = os.path.join(args.build_dir, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    log_path = os.path.join(out_dir, "compare_small_requests_servers.log")
    servers = {}
    try:
        for variant in args.variants:
            name, spec = variant.split("=", 1)
            path, *flags = spec.split(",")
            command = [path, "--metrics_address=127.0.0.1:0",
                       "--log_level=info", f"--threads={threads}"] + flags
            servers[name] = (run_bench.Server(command, log_path), "compute")
        echo = [os.path.join(args.build_dir, "bench", "lossd_bench_echo"),
                f"--threads={threads}"]
        servers["echo"] = (run_bench.Server(echo, log_path), "echo")
        servers["echo_callback"] = (
            run_bench.Server(echo + ["--callback"], log_path), "echo")
        runs = {name: [] for name in servers}
        for round_number in range(args.rounds):
            line = []
            for name, (server, service) in servers.items():
                result = measure(args, server, service)
                runs[name].append(result)
                extra = "".join(
                    f" {key}={result[key + '_per_request']:.2f}"
                    for key in PERF_KEYS if key + "_per_request" in result)
                line.append(f"{name} {result['requests_per_second']:.0f}/s "
                            f"{result['server_cpu_us_per_request']:.1f} us"
                            f"{extra}")
            print(f"round {round_number + 1}: " + "; ".join(line), flush=True)
    finally:
        for server, _ in servers.values():
            server.stop()

    best_echo = [max(a["requests_per_second"], b["requests_per_second"])
                 for a, b in zip(runs["echo"], runs["echo_callback"])]
    print(f"\nmedians over {args.rounds} rounds "
          f"({ROWS} x {CLASSES} float32, {CONCURRENCY} in flight):")
    print("| server | requests/s | server CPU us/request | of the better echo |")
    print("|---|---|---|---|")
    for name in servers:
        rate = [r["requests_per_second"] for r in runs[name]]
        cpu = [r["server_cpu_us_per_request"] for r in runs[name]]
        ratio = [a / b for a, b in zip(rate, best_echo)]
        print(f"| {name} | {statistics.median(rate):.0f} | "
              f"{statistics.median(cpu):.1f} | "
              f"{100 * statistics.median(ratio):.0f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
