"""NumPy arrays to and from lossd.v1.Tensor (raw little-endian bytes)."""

import numpy as np

from lossd.v1 import tensor_pb2

_DTYPES = {
    np.dtype(np.float32): tensor_pb2.DTYPE_FLOAT32,
    np.dtype(np.float64): tensor_pb2.DTYPE_FLOAT64,
    np.dtype(np.int32): tensor_pb2.DTYPE_INT32,
    np.dtype(np.int64): tensor_pb2.DTYPE_INT64,
    np.dtype(np.uint8): tensor_pb2.DTYPE_UINT8,
    np.dtype(np.bool_): tensor_pb2.DTYPE_BOOL,
}
_NUMPY = {v: k for k, v in _DTYPES.items()}


def bfloat16_bits(values):
    """float32 values rounded to bfloat16 (nearest even), as uint16 bits."""
    values = np.asarray(values, dtype=np.float32)
    bits = np.ascontiguousarray(values).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16).reshape(values.shape)


def from_bfloat16_bits(bits):
    bits = np.asarray(bits)
    return (bits.reshape(-1).astype(np.uint32) << 16).view(
        np.float32).reshape(bits.shape)


def encode(array, out, dtype=None):
    """Fills the Tensor `out` with `array`; dtype "bfloat16"/"float16"
    sends a float32 array in that wire format."""
    array = np.asarray(array)
    out.shape[:] = list(array.shape)
    if dtype == "bfloat16":
        out.dtype = tensor_pb2.DTYPE_BFLOAT16
        out.raw = bfloat16_bits(array).astype("<u2").tobytes()
    elif dtype == "float16":
        out.dtype = tensor_pb2.DTYPE_FLOAT16
        out.raw = array.astype("<f2").tobytes()
    else:
        out.dtype = _DTYPES[array.dtype]
        out.raw = np.ascontiguousarray(array).astype(
            array.dtype.newbyteorder("<")).tobytes()
    return out


def decode(tensor):
    """A Tensor as a float64 (floating) or native (integer) array."""
    shape = tuple(tensor.shape)
    if tensor.dtype == tensor_pb2.DTYPE_BFLOAT16:
        bits = np.frombuffer(tensor.raw, dtype="<u2")
        return from_bfloat16_bits(bits).astype(np.float64).reshape(shape)
    if tensor.dtype == tensor_pb2.DTYPE_FLOAT16:
        return np.frombuffer(tensor.raw, dtype="<f2").astype(
            np.float64).reshape(shape)
    dtype = _NUMPY[tensor.dtype].newbyteorder("<")
    return np.frombuffer(tensor.raw, dtype=dtype).reshape(shape)
