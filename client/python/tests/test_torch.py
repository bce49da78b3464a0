"""lossd.torch: autograd through the server, checked against PyTorch."""

import unittest

import torch
import torch.nn.functional as F

import support
from lossd import torch as lossd_torch


class RemoteLossTest(support.ServerTestCase):
    def setUp(self):
        self.generator = torch.Generator().manual_seed(8)

    def logits(self, *shape, dtype=torch.float64):
        return torch.randn(*shape, generator=self.generator, dtype=dtype,
                           requires_grad=True)

    def labels(self, count, classes):
        return torch.randint(0, classes, (count,), generator=self.generator)

    def assert_same_as(self, reference, remote, inputs, atol=1e-12):
        self.assertEqual(remote.shape, reference.shape)
        self.assertEqual(remote.dtype, reference.dtype)
        torch.testing.assert_close(remote, reference, atol=atol, rtol=atol)
        grads_remote = torch.autograd.grad(remote.sum() * 3, inputs)
        grads_reference = torch.autograd.grad(reference.sum() * 3, inputs)
        for got, expected in zip(grads_remote, grads_reference):
            torch.testing.assert_close(got, expected, atol=atol, rtol=atol)

    def test_the_issue_example(self):
        logits = self.logits(12, 5)
        target = self.labels(12, 5)
        lossd_torch.set_default_client(self.client)
        loss = lossd_torch.remote_loss(logits, target, loss="cross_entropy",
                                       label_smoothing=0.1)
        loss.backward()
        reference = logits.detach().clone().requires_grad_()
        F.cross_entropy(reference, target, label_smoothing=0.1).backward()
        torch.testing.assert_close(loss, F.cross_entropy(
            reference, target, label_smoothing=0.1).detach())
        torch.testing.assert_close(logits.grad, reference.grad)

    def test_class_weight_tensor_and_ignore_index(self):
        logits = self.logits(10, 4)
        target = self.labels(10, 4)
        target[2] = -100
        weight = torch.tensor([0.2, 1.0, 2.0, 0.7], dtype=torch.float64)
        remote = lossd_torch.remote_loss(logits, target, client=self.client,
                                         class_weight=weight)
        reference = F.cross_entropy(logits, target, weight=weight)
        self.assert_same_as(reference, remote, [logits])

    def test_unreduced_losses_take_upstream_gradients(self):
        logits = self.logits(6, 3)
        target = self.labels(6, 3)
        upstream = torch.arange(1.0, 7.0, dtype=torch.float64)
        remote = lossd_torch.remote_loss(logits, target, client=self.client,
                                         reduction="none")
        reference = F.cross_entropy(logits, target, reduction="none")
        torch.testing.assert_close(remote, reference)
        (grad_remote,) = torch.autograd.grad((remote * upstream).sum(), logits)
        (grad_reference,) = torch.autograd.grad((reference * upstream).sum(),
                                                logits)
        torch.testing.assert_close(grad_remote, grad_reference)

    def test_unreduced_with_class_axis_one(self):
        logits = self.logits(3, 4, 5)  # (N, C, d)
        target = torch.randint(0, 4, (3, 5), generator=self.generator)
        upstream = torch.rand(3, 5, generator=self.generator, dtype=torch.float64)
        remote = lossd_torch.remote_loss(logits, target, client=self.client,
                                         reduction="none", class_axis=1)
        reference = F.cross_entropy(logits, target, reduction="none")
        torch.testing.assert_close(remote, reference)
        (grad_remote,) = torch.autograd.grad((remote * upstream).sum(), logits)
        (grad_reference,) = torch.autograd.grad((reference * upstream).sum(),
                                                logits)
        torch.testing.assert_close(grad_remote, grad_reference)

    def test_element_wise_binary_cross_entropy(self):
        logits = self.logits(5, 3)
        target = torch.rand(5, 3, generator=self.generator, dtype=torch.float64)
        pos_weight = torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
        for reduction in ("mean", "sum", "none"):
            with self.subTest(reduction=reduction):
                remote = lossd_torch.remote_loss(
                    logits, target, loss="binary_cross_entropy",
                    client=self.client, reduction=reduction,
                    pos_weight=pos_weight)
                reference = F.binary_cross_entropy_with_logits(
                    logits, target, pos_weight=pos_weight, reduction=reduction)
                self.assert_same_as(reference, remote, [logits])

    def test_float32_and_bfloat16_inputs(self):
        logits32 = self.logits(8, 6, dtype=torch.float32)
        target = self.labels(8, 6)
        remote = lossd_torch.remote_loss(logits32, target, client=self.client)
        reference = F.cross_entropy(logits32, target)
        self.assert_same_as(reference, remote, [logits32], atol=1e-6)

        logits16 = logits32.detach().to(torch.bfloat16).requires_grad_()
        remote = lossd_torch.remote_loss(logits16, target, client=self.client)
        self.assertEqual(remote.dtype, torch.bfloat16)
        remote.backward()
        self.assertEqual(logits16.grad.dtype, torch.bfloat16)
        # Computed in float32 from the bfloat16 values, like PyTorch's upcast.
        upcast = logits16.detach().float().requires_grad_()
        F.cross_entropy(upcast, target).backward()
        torch.testing.assert_close(logits16.grad.float(), upcast.grad,
                                   atol=1e-2, rtol=1e-2)

    def test_criterion_module_and_no_grad(self):
        criterion = lossd_torch.RemoteLoss("cross_entropy", client=self.client,
                                           label_smoothing=0.05)
        logits = self.logits(4, 3)
        target = self.labels(4, 3)
        with torch.no_grad():
            value = criterion(logits, target)
        self.assertFalse(value.requires_grad)
        torch.testing.assert_close(
            value, F.cross_entropy(logits.detach(), target, label_smoothing=0.05))

    def test_mask_and_refused_keywords(self):
        logits = self.logits(6, 3)
        target = self.labels(6, 3)
        mask = torch.tensor([True, False, True, True, False, True])
        remote = lossd_torch.remote_loss(logits, target, client=self.client,
                                         mask=mask)
        reference = F.cross_entropy(logits, torch.where(mask, target, -100))
        self.assert_same_as(reference, remote, [logits])
        with self.assertRaisesRegex(ValueError, "grad_scale"):
            lossd_torch.remote_loss(logits, target, client=self.client,
                                    grad_scale=2.0)

    def test_sample_weight(self):
        logits = self.logits(6, 3)
        target = self.labels(6, 3)
        weights = torch.rand(6, generator=self.generator, dtype=torch.float64)
        remote = lossd_torch.remote_loss(logits, target, client=self.client,
                                         sample_weight=weights, reduction="sum")
        reference = (F.cross_entropy(logits, target, reduction="none") *
                     weights).sum()
        self.assert_same_as(reference, remote, [logits])


if __name__ == "__main__":
    unittest.main()
