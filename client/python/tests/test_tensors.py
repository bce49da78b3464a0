"""NumPy <-> Tensor encoding (no server needed)."""

import unittest

import numpy as np

import support  # noqa: F401  (sys.path)
from lossd import _stubs
from lossd.tensors import bfloat16_tensor, dtype_value, from_tensor, to_tensor


class TensorTest(unittest.TestCase):
    def setUp(self):
        self.pb = _stubs.modules().tensor_pb2

    def test_round_trip_of_every_numpy_type(self):
        for dtype, wire in [("float32", "DTYPE_FLOAT32"),
                            ("float64", "DTYPE_FLOAT64"),
                            ("float16", "DTYPE_FLOAT16"),
                            ("int32", "DTYPE_INT32"), ("int64", "DTYPE_INT64"),
                            ("uint8", "DTYPE_UINT8"), ("bool", "DTYPE_BOOL")]:
            with self.subTest(dtype=dtype):
                array = (np.arange(24).reshape(2, 3, 4) % 2).astype(dtype)
                tensor = to_tensor(array)
                self.assertEqual(self.pb.DType.Name(tensor.dtype), wire)
                self.assertEqual(list(tensor.shape), [2, 3, 4])
                self.assertEqual(len(tensor.raw), array.nbytes)
                decoded = from_tensor(tensor)
                self.assertEqual(decoded.dtype, array.dtype)
                np.testing.assert_array_equal(decoded, array)

    def test_raw_bytes_are_little_endian_row_major(self):
        array = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=">f4").T  # BE, F order
        tensor = to_tensor(array)
        expected = np.array([[1, 3], [2, 4]], dtype="<f4").tobytes()
        self.assertEqual(tensor.raw, expected)

    def test_scalar_and_empty(self):
        self.assertEqual(list(to_tensor(np.float32(2.5)).shape), [])
        empty = to_tensor(np.zeros((0, 10), np.float32))
        self.assertEqual(list(empty.shape), [0, 10])
        self.assertEqual(from_tensor(empty).shape, (0, 10))

    def test_bfloat16_is_decoded_exactly_to_float32(self):
        values = np.array([1.0, -2.5, 3.140625, 1e-3], dtype=np.float32)
        bits = (values.view(np.uint32) >> 16).astype(np.uint16)
        decoded = from_tensor(bfloat16_tensor(bits, [4]))
        np.testing.assert_array_equal(
            decoded, (bits.astype(np.uint32) << 16).view(np.float32))
        self.assertEqual(decoded[1], -2.5)

    def test_typed_values_are_read_too(self):
        tensor = self.pb.Tensor(shape=[2, 2], double_values=[1, 2, 3, 4])
        np.testing.assert_array_equal(from_tensor(tensor), [[1, 2], [3, 4]])
        tensor = self.pb.Tensor(dtype=self.pb.DTYPE_INT32, shape=[3],
                                int64_values=[7, 8, 9])
        self.assertEqual(from_tensor(tensor).dtype, np.int32)

    def test_unsupported_dtypes_are_refused(self):
        for value in (np.array(["a"]), np.array([1 + 2j]), np.array([object()])):
            with self.assertRaises(TypeError):
                to_tensor(value)

    def test_dtype_names(self):
        self.assertEqual(dtype_value("bfloat16"), self.pb.DTYPE_BFLOAT16)
        self.assertEqual(dtype_value("float16"), self.pb.DTYPE_FLOAT16)
        self.assertEqual(dtype_value(np.float64), self.pb.DTYPE_FLOAT64)
        self.assertEqual(dtype_value("DTYPE_INT32"), self.pb.DTYPE_INT32)


if __name__ == "__main__":
    unittest.main()
