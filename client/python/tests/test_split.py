"""Large batches split into row chunks (lossd.split) against a real lossd:
the split answer must be the unsplit one, gradients bit for bit and the
loss up to float64 rounding."""

import unittest

import grpc
import numpy as np

import support
from lossd import LossClient, LossdError, split

REDUCTIONS = ("mean", "sum", "none")


def bits(array):
    """The array's bytes, so that equality is bitwise (-0 != 0, NaN == NaN)."""
    array = np.ascontiguousarray(array)
    return array.view(np.dtype(f"u{array.itemsize}"))


class SplitTest(support.ServerTestCase):
    def setUp(self):
        self.rng = np.random.default_rng(6)

    def assert_split_matches(self, loss, input, target, *, chunk_rows,
                             concurrency=3, **kwargs):
        """Sends the batch whole and in chunks of `chunk_rows`; asserts the
        call was split and that both answers agree."""
        self.assertIsNotNone(
            split.plan(loss, input, target, kwargs, chunk_rows, 1 << 22,
                       describe=self.client.describe),
            "the batch was expected to be split")
        whole = self.client.compute(loss, input, target, chunk_rows=0,
                                    **kwargs)
        parts = self.client.compute(loss, input, target, chunk_rows=chunk_rows,
                                    concurrency=concurrency, **kwargs)
        for name in ("grad_input", "per_example", "grad_target"):
            expected, actual = getattr(whole, name), getattr(parts, name)
            if expected is None:
                self.assertIsNone(actual, name)
                continue
            self.assertEqual(actual.dtype, expected.dtype, name)
            self.assertEqual(actual.shape, expected.shape, name)
            np.testing.assert_array_equal(bits(actual), bits(expected),
                                          err_msg=name)
        scale = max(1.0, abs(whole.statistics.loss_sum))
        self.assertLessEqual(abs(parts.loss - whole.loss),
                             1e-12 * max(1.0, abs(whole.loss)))
        self.assertLessEqual(
            abs(parts.statistics.loss_sum - whole.statistics.loss_sum),
            1e-12 * scale)
        self.assertEqual(parts.statistics.denominator,
                         whole.statistics.denominator)
        self.assertEqual(parts.statistics.denominator_kind,
                         whole.statistics.denominator_kind)
        self.assertEqual(parts.statistics.valid_count,
                         whole.statistics.valid_count)
        self.assertAlmostEqual(parts.statistics.weight_sum,
                               whole.statistics.weight_sum, places=6)
        self.assertEqual(parts.reduction, whole.reduction)
        return whole, parts

    # -- cross_entropy -------------------------------------------------------

    def test_cross_entropy_class_indices_ignore_index_and_smoothing(self):
        for dtype in (np.float32, np.float64):
            for classes in (10, 300):  # The few-class and row-by-row kernels.
                logits = self.rng.normal(size=(203, classes)).astype(dtype)
                labels = self.rng.integers(0, classes, size=203)
                labels[self.rng.random(203) < 0.2] = -1
                for reduction in REDUCTIONS:
                    with self.subTest(dtype=dtype, classes=classes,
                                      reduction=reduction):
                        whole, _ = self.assert_split_matches(
                            "cross_entropy", logits, labels, chunk_rows=32,
                            reduction=reduction, ignore_index=-1,
                            label_smoothing=0.1)
                        if reduction == "mean":
                            self.assertEqual(whole.statistics.denominator,
                                             np.count_nonzero(labels != -1))

    def test_cross_entropy_class_weights_mask_and_sample_weights(self):
        logits = self.rng.normal(size=(150, 7)).astype(np.float32)
        labels = self.rng.integers(0, 7, size=150).astype(np.int32)
        labels[::9] = -100  # The default ignore_index.
        weight = self.rng.uniform(0.1, 3.0, size=7).astype(np.float32)
        mask = self.rng.random(150) < 0.8
        sample_weight = self.rng.uniform(0.0, 2.0, size=150).astype(np.float32)
        for reduction in REDUCTIONS:
            with self.subTest(reduction=reduction):
                whole, _ = self.assert_split_matches(
                    "cross_entropy", logits, labels, chunk_rows=17,
                    reduction=reduction, class_weight=weight, mask=mask,
                    sample_weight=sample_weight, label_smoothing=0.05,
                    z_loss=1e-3)
        self.assertEqual(whole.statistics.denominator_kind, "one")
        mean = self.client.compute("cross_entropy", logits, labels,
                                   class_weight=weight, mask=mask,
                                   sample_weight=sample_weight, chunk_rows=17)
        self.assertEqual(mean.statistics.denominator_kind, "target_weight_sum")

    def test_cross_entropy_soft_targets(self):
        logits = self.rng.normal(size=(99, 12)).astype(np.float32)
        target = self.rng.dirichlet(np.ones(12), size=99).astype(np.float32)
        mask = self.rng.random(99) < 0.7
        for reduction in REDUCTIONS + ("batch_mean",):
            for with_mask in (False, True):
                with self.subTest(reduction=reduction, mask=with_mask):
                    self.assert_split_matches(
                        "cross_entropy", logits, target, chunk_rows=20,
                        reduction=reduction, label_smoothing=0.1,
                        mask=mask if with_mask else None)

    def test_cross_entropy_class_axis_one(self):
        # A PyTorch (N, C, d) layout: rows are still the first dimension.
        logits = self.rng.normal(size=(21, 5, 3))
        labels = self.rng.integers(0, 5, size=(21, 3))
        labels[0, 1] = -100
        for reduction in REDUCTIONS:
            with self.subTest(reduction=reduction):
                self.assert_split_matches("cross_entropy", logits, labels,
                                          chunk_rows=4, class_axis=1,
                                          reduction=reduction)

    # -- binary_cross_entropy and mse ----------------------------------------

    def test_binary_cross_entropy_with_sample_weights(self):
        logits = self.rng.normal(size=(131, 9)).astype(np.float32)
        target = (self.rng.random((131, 9)) < 0.3).astype(np.float32)
        pos_weight = self.rng.uniform(0.5, 4.0, size=9).astype(np.float32)
        per_row = self.rng.uniform(0.0, 2.0, size=131).astype(np.float32)
        per_element = self.rng.uniform(0.0, 2.0, size=(131, 9))
        per_element = per_element.astype(np.float32)
        element_mask = self.rng.random((131, 9)) < 0.9
        for reduction in REDUCTIONS + ("batch_mean",):
            for weights in (per_row, per_element):
                with self.subTest(reduction=reduction, weights=weights.shape):
                    self.assert_split_matches(
                        "binary_cross_entropy", logits, target, chunk_rows=16,
                        reduction=reduction, sample_weight=weights,
                        pos_weight=pos_weight, label_smoothing=0.1)
            with self.subTest(reduction=reduction, mask="elements"):
                self.assert_split_matches(
                    "binary_cross_entropy", logits, target, chunk_rows=16,
                    reduction=reduction, sample_weight=per_row,
                    mask=element_mask)
        # uint8 multi-label targets of the input's shape are dense.
        self.assert_split_matches("binary_cross_entropy", logits,
                                  target.astype(np.uint8), chunk_rows=50,
                                  sample_weight=per_row)

    def test_mse(self):
        for dtype in (np.float32, np.float64):
            prediction = self.rng.normal(size=(77, 6)).astype(dtype)
            target = self.rng.normal(size=(77, 6)).astype(dtype)
            row_mask = self.rng.random(77) < 0.6
            for reduction in REDUCTIONS + ("batch_mean",):
                with self.subTest(dtype=dtype, reduction=reduction):
                    self.assert_split_matches("mse", prediction, target,
                                              chunk_rows=8,
                                              reduction=reduction)
                    self.assert_split_matches("mse", prediction, target,
                                              chunk_rows=8, mask=row_mask,
                                              reduction=reduction)

    # -- options that pass through ------------------------------------------

    def test_user_normalizer_grad_scale_and_grad_output(self):
        logits = self.rng.normal(size=(64, 8)).astype(np.float32)
        labels = self.rng.integers(0, 8, size=64)
        _, parts = self.assert_split_matches(
            "cross_entropy", logits, labels, chunk_rows=10, normalizer=1000.0,
            grad_scale=128.0)
        self.assertEqual(parts.statistics.denominator, 1000.0)
        self.assertEqual(parts.statistics.denominator_kind, "normalizer")
        upstream = self.rng.normal(size=64).astype(np.float32)
        self.assert_split_matches("cross_entropy", logits, labels,
                                  chunk_rows=10, reduction="none",
                                  grad_output=upstream, grad_scale=0.5)

    def test_every_registry_loss_declares_a_rule_this_client_counts(self):
        # ListLosses says how each loss counts its mean: a loss added to the
        # library is split with no change here, unless it brings a new rule.
        for descriptor in self.client.list_losses():
            with self.subTest(loss=descriptor.name):
                rule = split.mean_rule(descriptor)
                self.assertIn(rule, split.KNOWN_RULES)
                self.assertEqual(descriptor.element_wise,
                                 rule == split.UNMASKED_ELEMENTS)

    def test_the_descriptor_decides_the_denominator(self):
        logits = self.rng.normal(size=(20, 4))
        labels = self.rng.integers(0, 4, size=20)
        labels[[2, 5, 11]] = -100
        weight = np.array([0.5, 2.0, 1.0, 3.0])
        real = self.client.describe("cross_entropy")
        self.assertEqual(split.mean_rule(real), split.TARGET_WEIGHT_SUM)

        def planned(descriptor, target=labels, **kwargs):
            return split.plan("cross_entropy", logits, target, kwargs, 4, 0,
                              describe=lambda loss: descriptor)

        kept = labels != -100
        self.assertEqual(planned(real).denominator, np.count_nonzero(kept))
        self.assertEqual(planned(real, class_weight=weight).denominator,
                         weight[labels[kept]].sum())
        # The call's ignore_index; then -100 is a bad class for the one call.
        relabeled = np.where(kept, labels, 3)
        self.assertEqual(planned(real, relabeled, ignore_index=3).denominator,
                         np.count_nonzero(relabeled != 3))
        self.assertIsNone(planned(real, ignore_index=3))
        # The same loss described with other rules is counted by them.
        pb = type(real)
        other = pb()
        other.CopyFrom(real)
        other.mean_denominator_rule = 4  # UNMASKED_EXAMPLES
        self.assertEqual(split.mean_rule(other), split.UNMASKED_EXAMPLES)
        self.assertEqual(planned(other, class_weight=weight).denominator, 20)
        other.mean_denominator_rule = 3  # NOT_IGNORED_EXAMPLES
        self.assertEqual(planned(other, class_weight=weight).denominator,
                         np.count_nonzero(kept))
        # A server that declares no rule, a rule newer than this client, no
        # descriptor: a mean is sent whole; a sum still splits.
        for rule in (0, 99):
            other.mean_denominator_rule = rule
            self.assertIsNone(split.mean_rule(other))
            self.assertIsNone(planned(other))
            self.assertIsNotNone(planned(other, reduction="sum"))
        self.assertIsNone(planned(None))
        self.assertIsNone(split.plan("cross_entropy", logits, labels, {}, 4, 0))

    def test_registry_fetched_once_and_only_when_needed(self):
        logits = self.rng.normal(size=(30, 4))
        labels = self.rng.integers(0, 4, size=30)
        with LossClient(self.server.target, timeout=30) as client:
            calls = []
            list_losses = client.list_losses

            def counted(**kwargs):
                calls.append(1)
                return list_losses(**kwargs)

            client.list_losses = counted
            # A sum, a normalizer or one chunk need no denominator rule.
            client.compute("cross_entropy", logits, labels, reduction="sum",
                           chunk_rows=4)
            client.compute("cross_entropy", logits, labels, normalizer=7.0,
                           chunk_rows=4)
            client.compute("cross_entropy", logits, labels, chunk_rows=30)
            self.assertEqual(calls, [])
            for loss, target in (("cross_entropy", labels),
                                 ("mse", logits), ("accuracy", labels)):
                parts = client.compute(loss, logits, target, chunk_rows=4)
                whole = client.compute(loss, logits, target, chunk_rows=0)
                self.assertEqual(parts.statistics.denominator,
                                 whole.statistics.denominator)
            self.assertEqual(calls, [1])

    def test_a_failed_listing_sends_the_mean_whole(self):
        logits = self.rng.normal(size=(30, 4)).astype(np.float32)
        labels = self.rng.integers(0, 4, size=30)
        with LossClient(self.server.target, timeout=30) as client:
            def unavailable(**kwargs):
                raise LossdError(grpc.StatusCode.UNAVAILABLE, "down")

            list_losses = client.list_losses
            client.list_losses = unavailable
            self.assertIsNone(client._describe_for_split("cross_entropy"))
            whole = self.client.compute("cross_entropy", logits, labels,
                                        chunk_rows=0)
            result = client.compute("cross_entropy", logits, labels,
                                    chunk_rows=4, grad=True)
            np.testing.assert_array_equal(bits(result.grad_input),
                                          bits(whole.grad_input))
            self.assertEqual(result.statistics.denominator_kind,
                             "valid_examples")
            # The next call asks again, and splits.
            client.list_losses = list_losses
            self.assertIsNotNone(split.plan(
                "cross_entropy", logits, labels, {}, 4, 0,
                describe=client._describe_for_split))

    def test_other_losses_under_their_means(self):
        logits = self.rng.normal(size=(45, 6))
        labels = self.rng.integers(0, 6, size=45)
        labels[3] = -100
        mask = self.rng.random(45) < 0.8
        for loss in ("nll", "poly", "softmax_focal", "multi_margin",
                     "accuracy", "classification_error"):
            with self.subTest(loss=loss):
                values = logits
                if loss == "nll":
                    values = logits - np.log(np.exp(logits).sum(1))[:, None]
                self.assert_split_matches(
                    loss, values, np.where(labels < 0, 0, labels)
                    if loss in ("multi_margin", "classification_error")
                    else labels, chunk_rows=7, mask=mask)

    # -- sizes ----------------------------------------------------------------

    def test_odd_sizes(self):
        for rows, chunk_rows, concurrency in ((37, 5, 3), (3, 1, 8), (2, 1, 1),
                                              (100, 99, 4)):
            logits = self.rng.normal(size=(rows, 4)).astype(np.float32)
            labels = self.rng.integers(0, 4, size=rows)
            with self.subTest(rows=rows, chunk_rows=chunk_rows):
                self.assert_split_matches("cross_entropy", logits, labels,
                                          chunk_rows=chunk_rows,
                                          concurrency=concurrency)
        # No more rows than a chunk: one call, the same answer.
        logits = self.rng.normal(size=(5, 4)).astype(np.float32)
        labels = self.rng.integers(0, 4, size=5)
        self.assertIsNone(split.plan("cross_entropy", logits, labels, {}, 5, 0,
                                     describe=self.client.describe))
        result = self.client.compute("cross_entropy", logits, labels,
                                     chunk_rows=5)
        self.assertEqual(result.statistics.denominator_kind, "valid_examples")

    def test_default_chunk_from_bytes(self):
        logits = np.zeros((3000, 1000), np.float32)  # 12 MB: 4 MiB chunks.
        labels = np.zeros(3000, np.int64)
        plan = split.plan("cross_entropy", logits, labels, {}, None,
                          split.DEFAULT_CHUNK_BYTES,
                          describe=self.client.describe)
        self.assertEqual(plan.bounds[0], (0, 1048))
        self.assertEqual(plan.bounds[-1], (2096, 3000))
        self.assertIsNone(split.plan("cross_entropy", logits[:1000],
                                     labels[:1000], {}, None,
                                     split.DEFAULT_CHUNK_BYTES,
                                     describe=self.client.describe))

    def test_not_split_when_it_cannot_be_exact(self):
        logits = self.rng.normal(size=(20, 4))
        labels = self.rng.integers(0, 4, size=20)
        describe = self.client.describe
        # Every row ignored: a normalizer cannot be 0, the one call says NaN.
        ignored = np.full(20, -100)
        self.assertIsNone(split.plan("cross_entropy", logits, ignored, {}, 2, 0,
                                     describe=describe))
        self.assertTrue(np.isnan(self.client.compute(
            "cross_entropy", logits, ignored, chunk_rows=2).loss))
        # The class axis first, a 1-D input, an unknown loss's mean.
        self.assertIsNone(split.plan("cross_entropy", logits.T, labels[:4],
                                     {"class_axis": 0}, 2, 0,
                                     describe=describe))
        self.assertIsNone(split.plan("mse", logits[:, 0], logits[:, 1], {},
                                     2, 0, describe=describe))
        self.assertIsNone(split.plan("no_such_loss", logits, labels, {}, 2, 0,
                                     describe=describe))
        self.assertIsNotNone(split.plan("no_such_loss", logits, labels,
                                        {"reduction": "sum"}, 2, 0,
                                        describe=describe))

    # -- errors and deadlines -------------------------------------------------

    def test_a_chunk_error_fails_the_call_with_its_rows(self):
        logits = self.rng.normal(size=(50, 4)).astype(np.float32)
        labels = self.rng.integers(0, 4, size=50)
        labels[23] = 9
        with self.assertRaises(LossdError) as caught:
            self.client.compute("cross_entropy", logits, labels,
                                reduction="sum", chunk_rows=10)
        error = caught.exception
        self.assertEqual(error.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(error.rows, (20, 30))
        self.assertTrue(error.message.startswith("rows [20, 30) of 50: "),
                        error.message)
        self.assertIn("target[3] = 9", error.message)
        # Under a mean the bad index stops the split: one call reports it.
        with self.assertRaises(LossdError) as caught:
            self.client.compute("cross_entropy", logits, labels, chunk_rows=10)
        self.assertIsNone(caught.exception.rows)
        self.assertIn("target[23] = 9", caught.exception.message)

    def test_deadline_covers_the_whole_call(self):
        logits = self.rng.normal(size=(64, 4)).astype(np.float32)
        labels = self.rng.integers(0, 4, size=64)
        with self.assertRaises(LossdError) as caught:
            self.client.compute("cross_entropy", logits, labels, chunk_rows=4,
                                concurrency=2, timeout=1e-6)
        self.assertEqual(caught.exception.code,
                         grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertIsNotNone(caught.exception.rows)

    def test_client_wide_chunk_settings_and_torch(self):
        import torch
        from lossd.torch import remote_loss
        with LossClient(self.server.target, timeout=30, chunk_rows=6,
                        concurrency=2) as client:
            logits = torch.randn(40, 5, dtype=torch.float64, requires_grad=True)
            labels = torch.randint(0, 5, (40,))
            loss = remote_loss(logits, labels, client=client,
                               label_smoothing=0.2)
            loss.backward()
            split_grad = logits.grad.clone()
            logits.grad = None
            whole = remote_loss(logits, labels, client=client, chunk_rows=0,
                                label_smoothing=0.2)
            whole.backward()
            self.assertTrue(torch.equal(split_grad, logits.grad))
            self.assertAlmostEqual(loss.item(), whole.item(), places=13)


if __name__ == "__main__":
    unittest.main()
