"""Finds (or makes) the generated code of the contract and imports it.

Generated modules live outside the source tree, in one of:
  - $LOSSD_STUBS_DIR, when set (the build and tests set it; so can you,
    after `python3 -m lossd.generate --out DIR`);
  - else a per-user cache, ~/.cache/lossd/stubs/<hash of the .proto files>,
    filled on first use from the checkout's proto/ directory, so that a
    change of the contract never meets stale code.
The generated code imports `lossd.v1.*`, so the generated `lossd/` directory
is appended to this package's __path__ and `lossd.v1` resolves into it.
"""

import hashlib
import importlib
import os
import threading
from pathlib import Path
from types import SimpleNamespace

_lock = threading.Lock()
_modules = None


def _cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lossd" / "stubs"


def default_stubs_dir():
    if os.environ.get("LOSSD_STUBS_DIR"):
        return Path(os.environ["LOSSD_STUBS_DIR"])
    from lossd import generate

    proto_dir = generate.default_proto_dir()
    digest = hashlib.sha256()
    for name in generate.PROTO_FILES:
        path = proto_dir / name
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    return _cache_root() / digest.hexdigest()[:16]


def modules():
    """The generated modules: .tensor_pb2, .service_pb2, .service_grpc."""
    global _modules
    if _modules is not None:
        return _modules
    with _lock:
        if _modules is not None:
            return _modules
        stubs_dir = default_stubs_dir()
        if not (stubs_dir / "lossd" / "v1" / "loss_service_pb2_grpc.py").is_file():
            if os.environ.get("LOSSD_STUBS_DIR"):
                raise ImportError(
                    f"LOSSD_STUBS_DIR={stubs_dir} holds no generated lossd/v1 "
                    f"code; run: python3 -m lossd.generate --out {stubs_dir}")
            from lossd import generate

            generate.generate(stubs_dir)
        import lossd

        generated_package = str(stubs_dir / "lossd")
        if generated_package not in lossd.__path__:
            lossd.__path__.append(generated_package)
        _modules = SimpleNamespace(
            tensor_pb2=importlib.import_module("lossd.v1.tensor_pb2"),
            service_pb2=importlib.import_module("lossd.v1.loss_service_pb2"),
            service_grpc=importlib.import_module("lossd.v1.loss_service_pb2_grpc"),
        )
        return _modules
