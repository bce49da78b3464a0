"""Several servers: round-robin over them and fail-over past a dead one."""

import re
import unittest

import grpc
import numpy as np

import support
from lossd import LocalServer, LossClient, LossdError
from lossd.client import split_targets


def requests_served(server, prefix):
    """How many Compute calls with request ids starting `prefix` the server
    logged (read after it stopped, so the log is complete)."""
    return len(re.findall(rf"request_id={re.escape(prefix)}\d+", server.log()))


class ChannelTest(unittest.TestCase):
    def setUp(self):
        # A short grace: lossd holds SIGTERM until idle client connections
        # go (or the grace ends), and a test here stops a server in use.
        self.servers = [LocalServer(args=["--grace_period_seconds=0.5"]).start()
                        for _ in range(2)]

    def tearDown(self):
        for server in self.servers:
            server.stop()
            server.cleanup()

    def compute(self, client, request_id):
        return client.compute("mse", np.ones(4), np.zeros(4),
                              request_id=request_id)

    def test_calls_rotate_over_a_list_of_targets(self):
        with LossClient([s.target for s in self.servers], timeout=30) as client:
            for i in range(6):
                self.assertEqual(self.compute(client, f"list-{i}").loss, 1.0)
        for server in self.servers:
            server.stop()
        self.assertEqual([requests_served(s, "list-") for s in self.servers],
                         [3, 3])

    def test_grpc_balances_a_multi_address_name(self):
        target = "ipv4:" + ",".join(s.target for s in self.servers)
        with LossClient(target, timeout=30) as client:
            self.assertEqual(client.targets, [target])
            # The channel is ready once one address is; the other joins the
            # rotation when connected. Call until both have answered (the
            # request log is written as calls finish), at most 400 times.
            calls = 0
            while calls < 400 and not all(
                    requests_served(s, "name-") for s in self.servers):
                for _ in range(8):
                    self.compute(client, f"name-{calls}")
                    calls += 1
        for server in self.servers:
            server.stop()
        served = [requests_served(s, "name-") for s in self.servers]
        self.assertEqual(sum(served), calls)
        self.assertTrue(all(count > 0 for count in served), served)

    def test_a_dead_server_is_skipped(self):
        targets = ",".join(s.target for s in self.servers)
        with LossClient(targets, timeout=30, retries=1) as client:
            self.compute(client, "warm-0")
            self.servers[0].stop()
            for i in range(4):
                self.assertEqual(self.compute(client, f"after-{i}").loss, 1.0)
            # The dead server is now tried last, so calls do not wait on it.
            self.assertEqual([client._order()[-1] for _ in range(4)], [0] * 4)
            self.servers[1].stop()
            with self.assertRaises(LossdError) as caught:
                self.compute(client, "none-left")
            self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(requests_served(self.servers[1], "after-"), 4)

    def test_errors_other_than_unavailable_are_not_retried_elsewhere(self):
        with LossClient([s.target for s in self.servers], timeout=30) as client:
            with self.assertRaises(LossdError):
                client.compute("cross_entropy", np.zeros((1, 2)), [7],
                               request_id="bad-0")
        for server in self.servers:
            server.stop()
        self.assertEqual(sum(requests_served(s, "bad-") for s in self.servers),
                         1)


class SplitTargetsTest(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(split_targets("a:1, b:2"), ["a:1", "b:2"])
        self.assertEqual(split_targets(["a:1"]), ["a:1"])
        self.assertEqual(split_targets("dns:///svc:50051"), ["dns:///svc:50051"])
        self.assertEqual(split_targets("ipv4:1.2.3.4:5,1.2.3.5:5"),
                         ["ipv4:1.2.3.4:5,1.2.3.5:5"])
        with self.assertRaises(ValueError):
            split_targets(" , ")


if __name__ == "__main__":
    unittest.main()
