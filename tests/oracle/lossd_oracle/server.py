"""Starts the lossd under test on a free loopback port and stops it."""

import signal
import subprocess
import tempfile
import time
from pathlib import Path


class Server:
    """A lossd child process on 127.0.0.1, port chosen by the kernel."""

    def __init__(self, binary, work_dir):
        self.binary = binary
        self.work_dir = Path(work_dir)
        self.process = None
        self.address = None

    def __enter__(self):
        self.work_dir.mkdir(parents=True, exist_ok=True)
        port_file = Path(tempfile.mktemp(prefix="port-", dir=self.work_dir))
        self.log = open(self.work_dir / "lossd.log", "w")
        self.process = subprocess.Popen(
            [self.binary, "--address=127.0.0.1:0", f"--port_file={port_file}",
             "--log_level=warn", "--max_request_bytes=268435456"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"lossd exited with {self.process.returncode}; see "
                    f"{self.work_dir / 'lossd.log'}")
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.isdigit() and int(text) > 0:
                self.address = f"127.0.0.1:{text}"
                port_file.unlink()
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("lossd did not write its port within 60 s")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Exactly our child.
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()

    def __exit__(self, *exc):
        self.stop()
