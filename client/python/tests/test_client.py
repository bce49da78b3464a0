"""LossClient against a real lossd, with PyTorch as the oracle."""

import unittest

import grpc
import numpy as np
import torch
import torch.nn.functional as F

import support
from lossd import LossdError


def torch_value_and_grad(function, logits, *args, **kwargs):
    """PyTorch's loss and d loss / d logits, in float64."""
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    loss = function(x, *args, **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


class ComputeTest(support.ServerTestCase):
    def setUp(self):
        self.rng = np.random.default_rng(8)

    def test_cross_entropy_matches_pytorch_with_every_option(self):
        logits = self.rng.normal(size=(32, 7))
        labels = self.rng.integers(0, 7, size=32)
        labels[[3, 9]] = -1  # ignored
        weight = self.rng.uniform(0.5, 2.0, size=7)
        result = self.client.compute(
            "cross_entropy", logits, labels, class_weight=weight,
            ignore_index=-1, label_smoothing=0.2)
        expected, expected_grad = torch_value_and_grad(
            F.cross_entropy, logits, torch.tensor(labels),
            weight=torch.tensor(weight), ignore_index=-1, label_smoothing=0.2)
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        self.assertEqual(result.grad_input.dtype, np.float64)
        np.testing.assert_allclose(result.grad_input, expected_grad,
                                   rtol=1e-10, atol=1e-14)
        self.assertIsNone(result.per_example)
        self.assertEqual(result.reduction, "mean")
        statistics = result.statistics
        self.assertEqual(statistics.valid_count, 30)
        valid = labels != -1
        self.assertAlmostEqual(statistics.weight_sum, weight[labels[valid]].sum())
        self.assertAlmostEqual(statistics.loss_sum / statistics.denominator,
                               result.loss)
        self.assertIs(result.stats, result.statistics)

    def test_float32_per_example_and_sum(self):
        logits = self.rng.normal(size=(16, 5)).astype(np.float32)
        labels = self.rng.integers(0, 5, size=16).astype(np.int32)
        result = self.client.compute("cross_entropy", logits, labels,
                                     reduction="none")
        expected, expected_grad = torch_value_and_grad(
            F.cross_entropy, logits, torch.tensor(labels).long(),
            reduction="none")
        self.assertEqual(result.per_example.dtype, np.float32)
        self.assertEqual(result.per_example.shape, (16,))
        np.testing.assert_allclose(result.per_example, expected, rtol=1e-5)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-6)
        self.assertAlmostEqual(result.loss, float(expected.sum()), places=4)
        summed = self.client.compute("cross_entropy", logits, labels,
                                     reduction="SUM", grad=False)
        self.assertIsNone(summed.grad_input)
        self.assertEqual(summed.reduction, "sum")
        self.assertAlmostEqual(summed.loss, float(expected.sum()), places=4)

    def test_soft_targets_and_class_axis(self):
        # A PyTorch (N, C, d) layout sent as is, with soft targets.
        logits = self.rng.normal(size=(4, 6, 3))
        target = self.rng.dirichlet(np.ones(6), size=(4, 3)).transpose(0, 2, 1)
        target = np.ascontiguousarray(target)
        result = self.client.compute("cross_entropy", logits, target,
                                     class_axis=1)
        expected, expected_grad = torch_value_and_grad(
            F.cross_entropy, logits, torch.tensor(target))
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-14)

    def test_binary_cross_entropy_with_pos_weight(self):
        logits = self.rng.normal(size=(8, 4))
        target = (self.rng.uniform(size=(8, 4)) > 0.5).astype(np.uint8)
        pos_weight = np.array([1.0, 2.0, 0.5, 3.0])
        result = self.client.compute("binary_cross_entropy", logits, target,
                                     pos_weight=pos_weight)
        expected, expected_grad = torch_value_and_grad(
            F.binary_cross_entropy_with_logits, logits,
            torch.tensor(target, dtype=torch.float64),
            pos_weight=torch.tensor(pos_weight))
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-14)

    def test_mse_with_sample_weight_free_sum(self):
        prediction = self.rng.normal(size=(5, 3))
        target = self.rng.normal(size=(5, 3))
        result = self.client.compute("mse", prediction, target, reduction="sum")
        expected, expected_grad = torch_value_and_grad(
            F.mse_loss, prediction, torch.tensor(target), reduction="sum")
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-14)

    def test_gradient_dtypes(self):
        logits = self.rng.normal(size=(6, 4)).astype(np.float32)
        labels = self.rng.integers(0, 4, size=6)
        full = self.client.compute("cross_entropy", logits, labels).grad_input
        half = self.client.compute("cross_entropy", logits, labels,
                                   grad_dtype="float16").grad_input
        bf16 = self.client.compute("cross_entropy", logits, labels,
                                   grad_dtype="bfloat16").grad_input
        self.assertEqual(half.dtype, np.float16)
        self.assertEqual(bf16.dtype, np.float32)  # bfloat16 decoded exactly
        np.testing.assert_allclose(half, full, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(bf16, full, rtol=1e-2, atol=1e-3)
        # bfloat16 values have 16 zero low bits.
        self.assertTrue(np.all(bf16.view(np.uint32) & 0xFFFF == 0))

    def test_mask_and_the_denominator_kind(self):
        logits = self.rng.normal(size=(10, 4))
        labels = self.rng.integers(0, 4, size=10)
        mask = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], dtype=bool)
        result = self.client.compute("cross_entropy", logits, labels, mask=mask)
        expected, expected_grad = torch_value_and_grad(
            F.cross_entropy, logits, torch.tensor(np.where(mask, labels, -100)))
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-14)
        self.assertEqual(result.statistics.valid_count, 7)
        self.assertEqual(result.statistics.denominator_kind, "valid_examples")

    def test_normalizer_grad_scale_and_empty_mean(self):
        logits = self.rng.normal(size=(6, 3))
        labels = self.rng.integers(0, 3, size=6)
        plain = self.client.compute("cross_entropy", logits, labels)
        normalized = self.client.compute("cross_entropy", logits, labels,
                                         normalizer=24, grad_scale=8)
        self.assertEqual(normalized.statistics.denominator_kind, "normalizer")
        self.assertAlmostEqual(normalized.loss, plain.loss * 6 / 24, places=14)
        np.testing.assert_allclose(normalized.grad_input,
                                   plain.grad_input * 6 / 24 * 8, rtol=1e-12)
        nothing = np.zeros(6, dtype=np.uint8)
        self.assertTrue(np.isnan(self.client.compute(
            "cross_entropy", logits, labels, mask=nothing).loss))
        self.assertEqual(self.client.compute(
            "cross_entropy", logits, labels, mask=nothing,
            empty_mean="zero").loss, 0.0)

    def test_grad_output_is_the_upstream_gradient(self):
        logits = self.rng.normal(size=(5, 4))
        labels = self.rng.integers(0, 4, size=5)
        upstream = self.rng.normal(size=5)
        result = self.client.compute("cross_entropy", logits, labels,
                                     reduction="none", grad_output=upstream)
        x = torch.tensor(logits, requires_grad=True)
        F.cross_entropy(x, torch.tensor(labels), reduction="none").backward(
            torch.tensor(upstream))
        np.testing.assert_allclose(result.grad_input, x.grad.numpy(),
                                   atol=1e-14)

    def test_gradient_with_respect_to_a_soft_target(self):
        logits = self.rng.normal(size=(4, 5))
        target = self.rng.dirichlet(np.ones(5), size=4)
        result = self.client.compute("cross_entropy", logits, target,
                                     grad_target=True)
        t = torch.tensor(target, requires_grad=True)
        F.cross_entropy(torch.tensor(logits), t).backward()
        np.testing.assert_allclose(result.grad_target, t.grad.numpy(),
                                   atol=1e-14)
        self.assertIsNotNone(result.grad_input)

    def test_choice_and_boolean_options(self):
        logits = self.rng.normal(size=(6, 4))
        labels = self.rng.integers(0, 4, size=6)
        e = 0.2
        result = self.client.compute("cross_entropy", logits, labels,
                                     label_smoothing=e,
                                     label_smoothing_rule="other_classes")
        one_hot = np.eye(4)[labels]
        smoothed = one_hot * (1 - e) + e * (1 - one_hot) / 3
        expected, expected_grad = torch_value_and_grad(
            F.cross_entropy, logits, torch.tensor(smoothed))
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-14)
        with self.assertRaisesRegex(ValueError, "'uniform', 'other_classes'"):
            self.client.compute("cross_entropy", logits, labels,
                                label_smoothing_rule="fairseq")

        log_p = np.log(self.rng.dirichlet(np.ones(4), size=6))
        log_q = np.log(self.rng.dirichlet(np.ones(4), size=6))
        result = self.client.compute("kl_div", log_p, log_q, log_target=True,
                                     reduction="batch_mean")
        expected, expected_grad = torch_value_and_grad(
            F.kl_div, log_p, torch.tensor(log_q), log_target=True,
            reduction="batchmean")
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-14)

        prediction = self.rng.normal(size=(3, 4)) * 3
        target = self.rng.normal(size=(3, 4))
        result = self.client.compute("huber", prediction, target, delta=0.5)
        expected, expected_grad = torch_value_and_grad(
            F.huber_loss, prediction, torch.tensor(target), delta=0.5)
        self.assertAlmostEqual(result.loss, float(expected), places=12)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-14)

    def test_metric_without_gradient(self):
        logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]], np.float32)
        labels = np.array([0, 0, 0])
        result = self.client.compute("classification_error", logits, labels,
                                     per_example=True)
        self.assertAlmostEqual(result.loss, 1 / 3, places=6)
        np.testing.assert_array_equal(result.per_example, [0, 1, 0])
        self.assertIsNone(result.grad_input)

    def test_large_payload(self):
        # 4 MiB of float32 logits: the raw path end to end.
        logits = self.rng.normal(size=(1024, 1024)).astype(np.float32)
        labels = self.rng.integers(0, 1024, size=1024)
        result = self.client.compute("cross_entropy", logits, labels)
        expected, expected_grad = torch_value_and_grad(
            F.cross_entropy, logits, torch.tensor(labels))
        self.assertAlmostEqual(result.loss, float(expected), places=5)
        np.testing.assert_allclose(result.grad_input, expected_grad, atol=1e-8)

    def test_request_id_is_echoed(self):
        result = self.client.compute("mse", np.zeros(3), np.ones(3),
                                     request_id="python-test-1")
        self.assertEqual(result.request_id, "python-test-1")

    def test_server_errors_carry_code_and_message(self):
        logits = np.zeros((3, 4), np.float32)
        with self.assertRaises(LossdError) as caught:
            self.client.compute("cross_entropy", logits, np.array([0, 9, 1]))
        self.assertEqual(caught.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(caught.exception.code_name, "INVALID_ARGUMENT")
        self.assertIn("target[1] = 9", caught.exception.message)
        self.assertEqual(caught.exception.target, self.server.target)
        with self.assertRaises(LossdError) as caught:
            self.client.compute("no_such_loss", logits, np.array([0, 1, 1]))
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(LossdError) as caught:
            self.client.compute("cross_entropy", logits, np.array([0, 1, 1]),
                                label_smoothing=1.5)
        self.assertEqual(caught.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("label_smoothing", caught.exception.message)

    def test_client_side_argument_errors(self):
        logits = np.zeros((2, 2))
        with self.assertRaisesRegex(ValueError, "no option 'smoothing'"):
            self.client.compute("cross_entropy", logits, [0, 1], smoothing=0.1)
        with self.assertRaisesRegex(ValueError, "takes no options"):
            self.client.compute("mse", logits, logits, label_smoothing=0.1)
        with self.assertRaisesRegex(ValueError, "empty_mean 'one'"):
            self.client.compute("mse", logits, logits, empty_mean="one")
        with self.assertRaisesRegex(ValueError, "reduction 'average'"):
            self.client.compute("mse", logits, logits, reduction="average")

    def test_deadline(self):
        logits = np.zeros((256, 1024), np.float32)
        with self.assertRaises(LossdError) as caught:
            self.client.compute("cross_entropy", logits, np.zeros(256, np.int64),
                                timeout=1e-6)
        self.assertEqual(caught.exception.code,
                         grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_stream_answers_in_order(self):
        calls = [dict(loss="mse", input=np.full(3, float(i)), target=np.zeros(3),
                      request_id=f"stream-{i}") for i in range(5)]
        results = list(self.client.compute_stream(calls))
        self.assertEqual([r.request_id for r in results],
                         [f"stream-{i}" for i in range(5)])
        self.assertEqual([r.loss for r in results], [i * i for i in range(5)])

    def test_stream_error_ends_the_stream(self):
        calls = [dict(loss="mse", input=np.zeros(2), target=np.zeros(2)),
                 dict(loss="cross_entropy", input=np.zeros((1, 2)),
                      target=np.array([5]))]
        results = []
        with self.assertRaises(LossdError) as caught:
            for result in self.client.compute_stream(calls):
                results.append(result)
        self.assertEqual(len(results), 1)
        self.assertEqual(caught.exception.code, grpc.StatusCode.INVALID_ARGUMENT)

    def test_list_losses_and_health(self):
        losses = {d.name: d for d in self.client.list_losses()}
        self.assertIn("cross_entropy", losses)
        self.assertEqual(losses["cross_entropy"].options_field, "cross_entropy")
        self.assertEqual(self.client.health(), "SERVING")
        with self.assertRaises(LossdError) as caught:
            self.client.health(service="no.such.Service")
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_tls_to_a_plaintext_server_fails_as_unavailable(self):
        # The server has no TLS yet: the handshake must fail, not hang.
        with support.LossClient(self.server.target, tls=True, retries=0,
                                timeout=10) as client:
            with self.assertRaises(LossdError) as caught:
                client.compute("mse", np.zeros(2), np.ones(2))
        self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)

    def test_token_and_metadata_are_sent(self):
        # The server does not check tokens yet; the call must still succeed
        # with the header present.
        with support.LossClient(self.server.target, token="secret",
                                metadata=[("x-request-id", "from-metadata")]
                                ) as client:
            result = client.compute("mse", np.zeros(2), np.ones(2))
        self.assertEqual(result.request_id, "from-metadata")


if __name__ == "__main__":
    unittest.main()
