#!/usr/bin/python3
"""Operations test of a real lossd: Prometheus metrics and health services.

Starts lossd on 127.0.0.1:0 with metrics on 127.0.0.1:0, sends a known set of
calls, scrapes /metrics and checks that each counter moved by exactly what was
sent (byte counters against the messages' serialized sizes). Then checks the
liveness and readiness health services, and that during the drain after
SIGTERM readiness turns NOT_SERVING while liveness does not, and lossd exits 0.

Run with Debian's python (python3-grpcio, python3-grpc-tools):
  /usr/bin/python3 deploy/test_server_operations.py --lossd build/server/lossd
"""

import argparse
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILURES = []
PASSES = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    (PASSES if condition else FAILURES).append(what)


def generate_stubs(out_dir):
    # Debian's protoc (not grpc_tools' older bundled one, which rejects
    # proto3 `optional`) with Debian's gRPC Python plugin.
    proto_dir = os.path.join(ROOT, "proto")
    files = ["lossd/v1/tensor.proto", "lossd/v1/loss_service.proto"]
    subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=" + shutil.which("grpc_python_plugin")]
                   + [os.path.join(proto_dir, f) for f in files], check=True)
    sys.path.insert(0, out_dir)


def wait_for_file(path, process, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"lossd exited early with {process.returncode}")
        if os.path.exists(path) and open(path).read().strip():
            return int(open(path).read())
        time.sleep(0.05)
    sys.exit(f"{path} not written within {seconds} s")


# grpc.health.v1 by hand (two one-field messages), so that the test needs no
# grpcio-health-checking package.
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def encode_health_request(service):
    data = service.encode()
    assert len(data) < 128
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def decode_health_response(data):
    return SERVING_STATUS[data[1]] if len(data) >= 2 and data[0] == 0x08 else "UNKNOWN"


def health_check(channel, service):
    call = channel.unary_unary("/grpc.health.v1.Health/Check",
                               request_serializer=encode_health_request,
                               response_deserializer=decode_health_response)
    try:
        return call(service, timeout=5)
    except grpc.RpcError as error:
        return error.code().name


def scrape_text(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


def scrape(port):
    samples = {}
    for line in scrape_text(port).splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(\w+)(\{.*\})? (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            samples[(match.group(1), frozenset(labels.items()))] = float(match.group(3))
    return samples


def value(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and wanted <= set(l))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lossd", required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lossd-operations-") as work:
        return run(args, work)


def run(args, work):
    generate_stubs(work)
    from lossd.v1 import loss_service_pb2, loss_service_pb2_grpc, tensor_pb2

    log = open(os.path.join(work, "lossd.log"), "w")
    port_file = os.path.join(work, "port")
    metrics_port_file = os.path.join(work, "metrics_port")
    process = subprocess.Popen(
        [args.lossd, "--address=127.0.0.1:0", f"--port_file={port_file}",
         "--metrics_address=127.0.0.1:0", f"--metrics_port_file={metrics_port_file}",
         "--grace_period_seconds=2"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        port = wait_for_file(port_file, process)
        metrics_port = wait_for_file(metrics_port_file, process)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = loss_service_pb2_grpc.LossServiceStub(channel)
        before = scrape(metrics_port)

        logits = [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]
        labels = [0, 2]

        def request(targets, request_id):
            return loss_service_pb2.ComputeRequest(
                loss="cross_entropy", request_id=request_id,
                input=tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[2, 3],
                                        double_values=sum(logits, [])),
                target=tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT64, shape=[2],
                                         int64_values=targets))

        good = [request(labels, "a"), request(labels, "b")]
        bad = request([0, 7], "c")  # Class 7 of 3: INVALID_ARGUMENT.
        request_bytes = response_bytes = 0
        for message in good:
            response = stub.Compute(message, timeout=10)
            request_bytes += message.ByteSize()
            response_bytes += response.ByteSize()
        expected = sum(math.log(sum(math.exp(x) for x in row)) - row[label]
                       for row, label in zip(logits, labels)) / 2
        check(abs(response.loss - expected) < 1e-12,
              f"Compute answers cross_entropy = {response.loss:.15f} (expected {expected:.15f})")
        try:
            stub.Compute(bad, timeout=10)
            check(False, "a label out of range is refused")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT,
                  f"a label out of range is refused with {error.code().name}")
        request_bytes += bad.ByteSize()
        listing = loss_service_pb2.ListLossesRequest()
        listed = stub.ListLosses(listing, timeout=10)
        check(len(listed.losses) > 0, f"ListLosses lists {len(listed.losses)} losses")
        streamed = list(stub.ComputeStream(iter([request(labels, "s1"), request(labels, "s2")]),
                                           timeout=10))
        check(len(streamed) == 2, "ComputeStream answers both requests")
        stream_request_bytes = 2 * request(labels, "s1").ByteSize()
        stream_response_bytes = sum(r.ByteSize() for r in streamed)
        unknown = request(labels, "u")
        unknown.loss = "no_such_loss"
        unknown_code = "OK"
        try:
            stub.Compute(unknown, timeout=10)
        except grpc.RpcError as error:
            unknown_code = error.code().name
        check(unknown_code != "OK", f"an unknown loss is refused with {unknown_code}")
        request_bytes += unknown.ByteSize()
        check(health_check(channel, "") == "SERVING", "health \"\" is SERVING")
        # Reflection, by hand: ServerReflectionRequest{list_services: ""}.
        reflection = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
        listing_reply = b"".join(reflection(iter([b"\x3a\x00"]), timeout=10))
        check(b"lossd.v1.LossService" in listing_reply, "reflection lists lossd.v1.LossService")
        # Made-up methods: UNIMPLEMENTED, and all under one "unknown" label.
        for made_up in ("/lossd.v1.LossService/NoSuchMethod", "/no.such.Service/Call"):
            try:
                channel.unary_unary(made_up)(b"", timeout=10)
            except grpc.RpcError as error:
                check(error.code() == grpc.StatusCode.UNIMPLEMENTED,
                      f"{made_up} is {error.code().name}")

        after = scrape(metrics_port)

        def moved(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        compute = dict(grpc_service="lossd.v1.LossService", grpc_method="Compute")
        check(moved("grpc_server_started_total", **compute) == 4, "4 Compute calls started")
        check(moved("grpc_server_handled_total", grpc_code="OK", **compute) == 2,
              "grpc_server_handled_total{Compute,OK} moved by 2")
        refused = 1 + (unknown_code == "INVALID_ARGUMENT")
        check(moved("grpc_server_handled_total", grpc_code="INVALID_ARGUMENT", **compute)
              == refused, f"grpc_server_handled_total{{Compute,INVALID_ARGUMENT}} moved by {refused}")
        check(moved("grpc_server_handled_total", grpc_code=unknown_code, **compute) >= 1,
              f"grpc_server_handled_total{{Compute,{unknown_code}}} moved")
        check(moved("grpc_server_handling_seconds_count", **compute) == 4,
              "grpc_server_handling_seconds_count{Compute} moved by 4")
        check(moved("grpc_server_handling_seconds_sum", **compute) > 0,
              "grpc_server_handling_seconds_sum{Compute} grew")
        check(moved("grpc_server_handling_seconds_bucket", le="+Inf", **compute) == 4,
              "the +Inf bucket of Compute counts 4")
        check(moved("grpc_server_handled_total", grpc_method="ListLosses", grpc_code="OK") == 1,
              "ListLosses counted once")
        check(moved("grpc_server_handled_total", grpc_method="ComputeStream",
                    grpc_type="bidi_stream", grpc_code="OK") == 1,
              "ComputeStream counted once as bidi_stream")
        check(moved("grpc_server_msg_received_total", grpc_method="ComputeStream") == 2,
              "ComputeStream received 2 messages")
        check(moved("grpc_server_msg_sent_total", grpc_method="ComputeStream") == 2,
              "ComputeStream sent 2 messages")
        check(moved("grpc_server_handled_total", grpc_service="grpc.health.v1.Health",
                    grpc_method="Check", grpc_code="OK") == 1, "the health Check is counted")
        check(moved("lossd_loss_requests_total", loss="cross_entropy") == 5,
              "lossd_loss_requests_total{cross_entropy} moved by 5 (3 unary, 2 streamed)")
        check(moved("lossd_loss_requests_total", loss="unknown") == 1,
              "an unregistered loss name counts as loss=\"unknown\"")
        got = moved("lossd_request_bytes_total", grpc_method="Compute")
        check(got == request_bytes, f"Compute request bytes {got:.0f} == {request_bytes}")
        got = moved("lossd_response_bytes_total", grpc_method="Compute")
        check(got == response_bytes, f"Compute response bytes {got:.0f} == {response_bytes}")
        got = moved("lossd_request_bytes_total", grpc_method="ComputeStream")
        check(got == stream_request_bytes,
              f"ComputeStream request bytes {got:.0f} == {stream_request_bytes}")
        got = moved("lossd_response_bytes_total", grpc_method="ComputeStream")
        check(got == stream_response_bytes,
              f"ComputeStream response bytes {got:.0f} == {stream_response_bytes}")
        check(moved("lossd_request_size_bytes_count", grpc_method="Compute") == 4,
              "lossd_request_size_bytes_count{Compute} moved by 4")
        check(moved("grpc_server_handled_total", grpc_service="grpc.reflection.v1alpha."
                    "ServerReflection", grpc_method="ServerReflectionInfo", grpc_code="OK") == 1,
              "the reflection call is counted under its own name")
        check(moved("grpc_server_handled_total", grpc_service="unknown", grpc_method="unknown",
                    grpc_code="UNIMPLEMENTED") == 2,
              "made-up methods are counted as grpc_service=grpc_method=\"unknown\"")
        check(not any("NoSuchMethod" in str(labels) or "no.such" in str(labels)
                      for _, labels in after),
              "no label carries a made-up method name")
        check(value(after, "lossd_in_flight_requests", grpc_method="Compute") == 0,
              "no Compute in flight afterwards")
        check(value(after, "lossd_build_info") == 1, "lossd_build_info is 1")

        # Health services and the drain.
        check(health_check(channel, "liveness") == "SERVING", "liveness is SERVING")
        check(health_check(channel, "readiness") == "SERVING", "readiness is SERVING")
        check(health_check(channel, "no.such.Service") == "NOT_FOUND",
              "an unknown health service is NOT_FOUND")
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch",
                                     request_serializer=encode_health_request,
                                     response_deserializer=decode_health_response)
        seen = {"readiness": [], "liveness": []}
        first_update = {name: threading.Event() for name in seen}

        def follow(name):
            try:
                for status in watch(name, timeout=20):
                    seen[name].append(status)
                    first_update[name].set()
            except grpc.RpcError:
                pass
            first_update[name].set()

        # Open Watch streams are in-flight calls, so the drain keeps the
        # server up (for --grace_period_seconds) while they report.
        watchers = [threading.Thread(target=follow, args=(n,)) for n in seen]
        for thread in watchers:
            thread.start()
        for event in first_update.values():
            event.wait(10)
        check(value(scrape(metrics_port), "lossd_in_flight_requests", grpc_method="Watch") == 2,
              "two Watch calls are in flight")
        stop_start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        stop_seconds = time.monotonic() - stop_start
        for thread in watchers:
            thread.join(10)
        print(f"watch readiness: {seen['readiness']}, liveness: {seen['liveness']}")
        check(seen["readiness"][:2] == ["SERVING", "NOT_SERVING"],
              "readiness went SERVING -> NOT_SERVING while draining")
        check(seen["liveness"][:1] == ["SERVING"],
              "liveness stayed SERVING while readiness turned NOT_SERVING")
        check(code == 0, f"lossd exited {code} after SIGTERM ({stop_seconds:.2f} s with "
              "two Watch streams held to the 2 s grace period)")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        lines = open(log.name).read().splitlines()
        print("lossd's log:", *(lines if FAILURES else lines[-3:]), sep="\n  ")
    print(f"{len(PASSES)} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
