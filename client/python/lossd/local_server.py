"""LocalServer: runs a lossd binary on a free 127.0.0.1 port, for tests and
examples.

    with LocalServer("build/server/lossd") as server:
        client = LossClient(server.target)

The server is started with --address=127.0.0.1:0 and --port_file, so the
kernel picks the port; stop() sends SIGTERM to exactly that process (and
SIGKILL if it has not drained within `stop_timeout` seconds).
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class LocalServer:
    def __init__(self, binary=None, *, args=(), start_timeout=30,
                 stop_timeout=15):
        binary = binary or os.environ.get("LOSSD_BINARY") or shutil.which("lossd")
        if not binary:
            raise FileNotFoundError(
                "no lossd binary: pass its path or set LOSSD_BINARY")
        # A relative path is the caller's: pin it before anyone changes cwd.
        self.binary = (os.path.abspath(binary) if os.sep in str(binary)
                       else str(binary))
        self.args = list(args)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process = None
        self.port = None
        self._directory = None

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self):
        """The server's stderr and stdout (its request log)."""
        return Path(self._directory.name) / "lossd.log"

    def log(self):
        return self.log_path.read_text(errors="replace")

    def start(self):
        self._directory = tempfile.TemporaryDirectory(prefix="lossd-server-")
        port_file = Path(self._directory.name) / "port"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "--address=127.0.0.1:0",
                 f"--port_file={port_file}", *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            # The file is complete once its line ends.
            text = port_file.read_text() if port_file.exists() else ""
            if text.endswith("\n"):
                self.port = int(text)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"lossd did not start; its log:\n{self.log()}")

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL); returns its exit code."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            code = self.process.returncode
        return code

    def cleanup(self):
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
        self.cleanup()
