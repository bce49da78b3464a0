#!/usr/bin/python3
"""The lossd oracle suite.

Starts the lossd under test on 127.0.0.1 (port 0), sends random cases over
every loss's option grid through one channel (batched on ComputeStream),
and compares each answer with PyTorch or a transcription of the published
formula (lossd_oracle/reference.py). Also: central finite differences of
lossd's own loss against its gradient, expected INVALID_ARGUMENT errors,
and the registry against the contract.

    /usr/bin/python3 tests/oracle/run_oracle.py --lossd build/server/lossd

Environment: LOSSD_ORACLE_SEED fixes the master seed (printed on every run
and with every failure); LOSSD_ORACLE_LOSSES limits the losses (comma list);
LOSSD_ORACLE_SCALE multiplies the case counts.
"""

import argparse
import math
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# Random cases per loss (plus the fixed scenarios, which are among them).
CASES = {
    "cross_entropy": 1200, "nll": 300, "poly": 400, "softmax_focal": 400,
    "binary_cross_entropy": 600, "focal": 400, "kl_div": 400, "mse": 250,
    "l1": 250, "huber": 250, "smooth_l1": 250, "poisson_nll": 300,
    "hinge": 250, "multi_margin": 300, "accuracy": 250,
    "classification_error": 200,
}
FINITE_DIFFERENCE_CASES = 3
CHUNK = 48


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lossd", required=True, help="the lossd binary")
    parser.add_argument("--proto-dir", default=str(HERE.parents[1] / "proto"))
    parser.add_argument("--work-dir", default="/tmp/lossd-oracle")
    args = parser.parse_args()

    seed = int(os.environ.get("LOSSD_ORACLE_SEED") or
               int.from_bytes(os.urandom(4), "little"))
    scale = float(os.environ.get("LOSSD_ORACLE_SCALE", "1"))
    only = [s for s in os.environ.get("LOSSD_ORACLE_LOSSES", "").split(",") if s]
    print(f"oracle seed {seed} (reproduce with LOSSD_ORACLE_SEED={seed})",
          flush=True)

    from lossd_oracle import stubs
    stubs.generate(args.proto_dir, Path(args.work_dir) / "stubs")
    import grpc
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from lossd.v1 import loss_service_pb2 as pb
    from lossd.v1 import loss_service_pb2_grpc as pb_grpc
    from lossd_oracle import check, errors, generators, reference
    from lossd_oracle.case import to_request
    from lossd_oracle.server import Server

    started = time.monotonic()
    failures = []
    counts = {}
    with Server(args.lossd, args.work_dir) as server:
        channel = grpc.insecure_channel(server.address, options=[
            ("grpc.max_send_message_length", 256 << 20),
            ("grpc.max_receive_message_length", 256 << 20)])
        stub = pb_grpc.LossServiceStub(channel)
        listing = {loss.name: loss for loss in
                   stub.ListLosses(pb.ListLossesRequest(), timeout=30).losses}
        failures += errors.check_registry(listing, pb)
        losses = sorted(listing)
        for name in losses:
            if name not in generators.GENERATORS:
                failures.append(f"{name}: registered but the oracle has no "
                                "generator for it")
        if only:
            losses = [name for name in losses if name in only]

        for name in losses:
            if name not in generators.GENERATORS:
                continue
            loss_started = time.monotonic()
            has_gradient = listing[name].has_gradient
            total = max(1, int(CASES.get(name, 100) * scale))
            cases = [generators.make_case(name, i, seed) for i in range(total)]
            done = bad = 0
            torch32 = [0, 0]  # float32 cases; PyTorch float32 misses.
            rule = pb.MeanDenominatorRule.Name(
                listing[name].mean_denominator_rule)[
                    len("MEAN_DENOMINATOR_RULE_"):]
            rule_checks = 0
            for case in cases:
                if case.reduction != "mean" or case.normalizer is not None:
                    continue
                rule_checks += 1
                declared = reference.declared_denominator(
                    rule, listing[name], case)
                wanted = reference.mean_denominator(case)
                if declared is None or not math.isclose(
                        declared, wanted, rel_tol=1e-12, abs_tol=1e-12):
                    failures.append(
                        f"{name} case seed {case.seed}: {case.describe()}\n"
                        f"    ListLosses' mean_denominator_rule {rule} gives "
                        f"{declared}, the reference denominator is {wanted}")
            for start in range(0, total, CHUNK):
                chunk = cases[start:start + CHUNK]
                requests = [to_request(c, has_gradient) for c in chunk]
                responses = _send(stub, requests)
                for case, response in zip(chunk, responses):
                    done += 1
                    problems = _check_one(case, response, check, reference)
                    if (not problems and case.dtype == np.float32 and
                            not reference.LOSSES[name].float64):
                        torch32[0] += 1
                        torch32[1] += bool(check.compare(
                            case, response, reference.expected(case, False)))
                    if problems:
                        bad += 1
                        failures.append(
                            f"{name} case seed {case.seed}: {case.describe()}\n"
                            + "\n".join("    " + p for p in problems[:4]))
            fd_done = fd_bad = 0
            if has_gradient:
                for i in range(FINITE_DIFFERENCE_CASES):
                    case = generators.make_case(name, i, seed, small=True)
                    case.dtype = np.float64
                    problems = errors.finite_differences(stub, case, pb,
                                                         to_request)
                    fd_done += 1
                    if problems:
                        fd_bad += 1
                        failures.append(
                            f"{name} finite differences, case seed "
                            f"{case.seed}: {case.describe()}\n" +
                            "\n".join("    " + p for p in problems[:4]))
            counts[name] = (done, bad, fd_done, fd_bad,
                            time.monotonic() - loss_started, torch32)
            print(f"  {name:22s} {done:5d} cases, {bad} mismatches; "
                  f"{fd_done} finite-difference checks, {fd_bad} failed; "
                  f"mean rule {rule.lower()} on {rule_checks} means "
                  f"({counts[name][4]:.1f} s)", flush=True)

        error_done, error_failures = errors.check_errors(stub, pb)
        failures += error_failures
        channel.close()

    elapsed = time.monotonic() - started
    print("\nOracle summary (seed %d):" % seed)
    print(f"  {'loss':22s} {'cases':>6s} {'mismatch':>8s} {'fd':>4s}  "
          "PyTorch float32 outside 2e-5 of the exact answer")
    for name, (done, bad, fd_done, fd_bad, _, torch32) in counts.items():
        note = f"{torch32[1]} of {torch32[0]}" if torch32[0] else "-"
        print(f"  {name:22s} {done:6d} {bad:8d} {fd_done:4d}  {note}")
    print(f"  {'total':22s} {sum(c[0] for c in counts.values()):6d} "
          f"{sum(c[1] for c in counts.values()):8d} "
          f"{sum(c[2] for c in counts.values()):4d}")
    print(f"  expected-error requests: {error_done}; {elapsed:.1f} s")
    if failures:
        print(f"\n{len(failures)} FAILURES (seed {seed}):")
        for failure in failures[:40]:
            print("- " + failure)
        return 1
    print("all cases match")
    return 0


def _send(stub, requests):
    """Responses in order over one ComputeStream; a request that fails ends
    the stream, so the chunk is then resent one by one to name it."""
    import grpc
    try:
        return list(stub.ComputeStream(iter(requests), timeout=600))
    except grpc.RpcError:
        responses = []
        for request in requests:
            try:
                responses.append(stub.Compute(request, timeout=120))
            except grpc.RpcError as error:
                responses.append(error)
        return responses


def _check_one(case, response, check, reference):
    import grpc
    if isinstance(response, grpc.RpcError):
        return [f"lossd answered {response.code().name}: {response.details()}"]
    try:
        return check.compare(case, response, reference.expected(case))
    except Exception:  # A broken reference is a failure too, with its trace.
        return ["the reference or comparison raised:\n" +
                traceback.format_exc(limit=4)]


if __name__ == "__main__":
    sys.exit(main())
