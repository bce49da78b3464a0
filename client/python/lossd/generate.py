"""Generates the Python code of the lossd contract (proto/lossd/v1).

    python3 -m lossd.generate [--out DIR] [--proto-dir DIR]

Writes DIR/lossd/v1/{tensor,loss_service}_pb2.py and loss_service_pb2_grpc.py.
Generated code is never committed: the package generates it on first use
into a per-user cache (see lossd._stubs), or here into a directory you name,
which you then point LOSSD_STUBS_DIR at.

Two generators are tried, newest first:
  1. `python3 -m grpc_tools.protoc`, when its bundled protoc understands
     proto3 `optional` (protoc >= 3.15; grpcio-tools from PyPI does).
  2. Debian's `protoc` with `grpc_python_plugin` (packages protobuf-compiler
     and protobuf-compiler-grpc). Needed on Debian 12, whose
     python3-grpc-tools 1.14 bundles protoc 3.5, which rejects the contract.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROTO_FILES = ("lossd/v1/tensor.proto", "lossd/v1/loss_service.proto")


class GenerateError(RuntimeError):
    """No usable protoc, or protoc rejected the contract."""


def default_proto_dir():
    """The contract: $LOSSD_PROTO_DIR, else proto/ of the source checkout."""
    if os.environ.get("LOSSD_PROTO_DIR"):
        return Path(os.environ["LOSSD_PROTO_DIR"])
    # client/python/lossd/generate.py -> the repository root is 3 levels up.
    return Path(__file__).resolve().parents[3] / "proto"


def _protoc_version(command):
    try:
        out = subprocess.run(command + ["--version"], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _generators():
    """Candidate protoc command lines (without file arguments), best first."""
    candidates = []
    grpc_tools = [sys.executable, "-m", "grpc_tools.protoc"]
    version = _protoc_version(grpc_tools)
    if version is not None and version >= (3, 15):
        candidates.append(grpc_tools)
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc and plugin and (_protoc_version([protoc]) or (0, 0)) >= (3, 15):
        candidates.append([protoc, f"--plugin=protoc-gen-grpc_python={plugin}"])
    return candidates


def generate(out_dir, proto_dir=None):
    """Writes the generated modules under out_dir/lossd/v1; returns out_dir.

    The files are written to a temporary sibling directory and moved into
    place, so concurrent generators (parallel tests) never see half a tree.
    """
    proto_dir = Path(proto_dir) if proto_dir else default_proto_dir()
    out_dir = Path(out_dir)
    missing = [f for f in PROTO_FILES if not (proto_dir / f).is_file()]
    if missing:
        raise GenerateError(
            f"the contract is not in {proto_dir} (missing {', '.join(missing)});"
            " set LOSSD_PROTO_DIR or pass --proto-dir")
    generators = _generators()
    if not generators:
        raise GenerateError(
            "no protoc >= 3.15 found: install Debian's protobuf-compiler and "
            "protobuf-compiler-grpc, or grpcio-tools")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for command in generators:
        staging = Path(tempfile.mkdtemp(prefix=".lossd-stubs-", dir=out_dir.parent))
        try:
            result = subprocess.run(
                command + [f"--proto_path={proto_dir}",
                           f"--python_out={staging}",
                           f"--grpc_python_out={staging}"] +
                [str(proto_dir / f) for f in PROTO_FILES],
                capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                errors.append(f"{' '.join(command)}: {result.stderr.strip()}")
                continue
            # Generated code imports `lossd.v1.*`; lossd._stubs adds the
            # generated lossd/ to the package's __path__, and v1 needs to be
            # a regular package inside it.
            (staging / "lossd" / "v1" / "__init__.py").write_text("")
            generated = staging / "lossd"
            target = out_dir / "lossd"
            out_dir.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.replace(generated, target)
            except OSError:
                if not (target / "v1" / "loss_service_pb2_grpc.py").exists():
                    raise
            return out_dir
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise GenerateError("protoc failed:\n" + "\n".join(errors))


def main(argv=None):
    from lossd import _stubs  # Only for the default directory.

    parser = argparse.ArgumentParser(
        prog="python3 -m lossd.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="output directory (default: the cache "
                        "the package reads, %(default)s)",
                        default=str(_stubs.default_stubs_dir()))
    parser.add_argument("--proto-dir", help="directory holding lossd/v1/*.proto",
                        default=None)
    args = parser.parse_args(argv)
    try:
        out = generate(args.out, args.proto_dir)
    except GenerateError as error:
        print(f"lossd.generate: {error}", file=sys.stderr)
        return 1
    print(f"generated lossd/v1 stubs in {out}")
    if Path(args.out) != _stubs.default_stubs_dir():
        print(f"use them with: export LOSSD_STUBS_DIR={out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
