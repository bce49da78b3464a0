"""Shared test set-up: the package on sys.path and a lossd per test class.

The lossd binary comes from $LOSSD_BINARY (CTest passes the one it built).
"""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lossd import LocalServer, LossClient  # noqa: E402


class ServerTestCase(unittest.TestCase):
    """Starts one lossd for the class on 127.0.0.1:0 and stops it after."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = LocalServer(args=cls.server_args).start()
        cls.client = LossClient(cls.server.target, timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        code = cls.server.stop()
        cls.server.cleanup()
        if code != 0:
            raise AssertionError(f"lossd exited with {code} after SIGTERM")
