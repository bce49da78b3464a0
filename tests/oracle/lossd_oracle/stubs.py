"""Generates the Python code of the contract into a build directory.

Generated code is never committed. Debian 12's python3-grpc-tools bundles a
protoc too old for proto3 `optional`, so Debian's protoc with
grpc_python_plugin is used when grpc_tools' protoc rejects the contract.
"""

import shutil
import subprocess
import sys
from pathlib import Path

PROTO_FILES = ("lossd/v1/tensor.proto", "lossd/v1/loss_service.proto")


def generate(proto_dir, out_dir):
    """Writes out_dir/lossd/v1/*_pb2*.py and puts out_dir on sys.path."""
    proto_dir, out_dir = Path(proto_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [str(proto_dir / f) for f in PROTO_FILES]
    common = [f"--proto_path={proto_dir}", f"--python_out={out_dir}",
              f"--grpc_python_out={out_dir}"] + files
    commands = [[sys.executable, "-m", "grpc_tools.protoc"] + common]
    protoc, plugin = shutil.which("protoc"), shutil.which("grpc_python_plugin")
    if protoc and plugin:
        commands.append(
            [protoc, f"--plugin=protoc-gen-grpc_python={plugin}"] + common)
    errors = []
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=120)
        if result.returncode == 0:
            for package in (out_dir / "lossd", out_dir / "lossd" / "v1"):
                (package / "__init__.py").touch()
            sys.path.insert(0, str(out_dir))
            return
        errors.append(f"{command[0]}: {result.stderr.strip()[:300]}")
    raise RuntimeError("cannot generate the stubs:\n" + "\n".join(errors))
