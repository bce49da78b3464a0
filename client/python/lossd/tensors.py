"""NumPy arrays <-> lossd.v1.Tensor, through the raw-bytes fast path only.

Encoding is one `tobytes()` of a C-contiguous little-endian array; decoding
is one `np.frombuffer()` over the response bytes (no per-element Python
work). Decoded arrays are read-only views of the response's bytes: call
`.copy()` before writing into one.
"""

import numpy as np

from lossd import _stubs

# Wire names, in DType enum order; the numpy type that holds each one.
# BFLOAT16 has no numpy type: it is sent from raw 16-bit patterns and decoded
# to float32 (exact: bfloat16 is the upper half of a float32).
_NUMPY_BY_NAME = {
    "DTYPE_FLOAT32": np.dtype("<f4"),
    "DTYPE_FLOAT64": np.dtype("<f8"),
    "DTYPE_BFLOAT16": np.dtype("<u2"),
    "DTYPE_FLOAT16": np.dtype("<f2"),
    "DTYPE_INT32": np.dtype("<i4"),
    "DTYPE_INT64": np.dtype("<i8"),
    "DTYPE_UINT8": np.dtype("u1"),
    "DTYPE_BOOL": np.dtype("?"),
}
_NAME_BY_KIND = {
    ("f", 4): "DTYPE_FLOAT32",
    ("f", 8): "DTYPE_FLOAT64",
    ("f", 2): "DTYPE_FLOAT16",
    ("i", 4): "DTYPE_INT32",
    ("i", 8): "DTYPE_INT64",
    ("u", 1): "DTYPE_UINT8",
    ("b", 1): "DTYPE_BOOL",
}
# Friendly spellings accepted wherever a dtype is asked for (grad_dtype).
_ALIASES = {"bfloat16": "DTYPE_BFLOAT16", "bf16": "DTYPE_BFLOAT16"}
_enum_cache = {}


def _dtype_numbers():
    """{name: number} and {number: name} of DType, looked up once (the
    protobuf enum wrappers cost microseconds a call)."""
    if not _enum_cache:
        pb = _stubs.modules().tensor_pb2
        _enum_cache["number"] = {v.name: v.number
                                 for v in pb.DType.DESCRIPTOR.values}
        _enum_cache["name"] = {v.number: v.name
                               for v in pb.DType.DESCRIPTOR.values}
    return _enum_cache["number"], _enum_cache["name"]


def dtype_value(dtype):
    """The DType enum value of a numpy dtype, a name ('float32', 'bfloat16',
    'DTYPE_FLOAT16') or an enum value."""
    pb = _stubs.modules().tensor_pb2
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        return dtype
    if isinstance(dtype, str):
        key = dtype.strip()
        if key.lower() in _ALIASES:
            return pb.DType.Value(_ALIASES[key.lower()])
        if key.upper().startswith("DTYPE_"):
            return pb.DType.Value(key.upper())
        if key.upper() in ("FLOAT32", "FLOAT64", "FLOAT16", "INT32", "INT64",
                           "UINT8", "BOOL", "BFLOAT16"):
            return pb.DType.Value("DTYPE_" + key.upper())
    numpy_dtype = np.dtype(dtype)
    name = _NAME_BY_KIND.get((numpy_dtype.kind, numpy_dtype.itemsize))
    if name is None:
        raise TypeError(f"dtype {numpy_dtype} has no lossd wire type")
    return pb.DType.Value(name)


def to_tensor(value, *, dtype=None, out=None):
    """A Tensor holding `value` (array-like) as raw little-endian bytes.

    `dtype` forces the element type (e.g. float32 for Python floats, which
    numpy would make float64). A Tensor message is returned as is. With
    `out` (a Tensor field of a request) the data is written there, which
    spares the copy that assigning a finished Tensor to a field makes.
    """
    pb = _stubs.modules().tensor_pb2
    if isinstance(value, pb.Tensor):
        if out is not None:
            out.CopyFrom(value)
            return out
        return value
    array = np.asarray(value, dtype=None if dtype is None else np.dtype(dtype))
    name = _NAME_BY_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if name is None:
        raise TypeError(
            f"cannot send a {array.dtype} array: use float32, float64, "
            "float16, int32, int64, uint8 or bool")
    wire = _NUMPY_BY_NAME[name]
    if array.dtype != wire:  # Big-endian input: swap once, in numpy.
        array = array.astype(wire)
    tensor = pb.Tensor() if out is None else out
    tensor.Clear()
    tensor.dtype = _dtype_numbers()[0][name]
    tensor.shape.extend(array.shape)
    # tobytes() is the one copy: protobuf takes only `bytes`.
    tensor.raw = np.ascontiguousarray(array).tobytes()
    return tensor


def bfloat16_tensor(bits, shape):
    """A BFLOAT16 Tensor from raw 16-bit patterns (e.g. a torch.bfloat16
    tensor's `.view(torch.int16)` as numpy)."""
    pb = _stubs.modules().tensor_pb2
    bits = np.ascontiguousarray(np.asarray(bits).astype("<u2", copy=False))
    return pb.Tensor(dtype=pb.DType.Value("DTYPE_BFLOAT16"), shape=list(shape),
                     raw=bits.tobytes())


def from_tensor(tensor):
    """The numpy array of a Tensor (BFLOAT16 arrives as float32)."""
    shape = tuple(tensor.shape)
    name = _dtype_numbers()[1].get(tensor.dtype, "DTYPE_UNSPECIFIED")
    if tensor.raw or not (tensor.float_values or tensor.double_values or
                          tensor.int64_values):
        if name == "DTYPE_UNSPECIFIED":
            raise ValueError("tensor with raw data has no dtype")
        array = np.frombuffer(tensor.raw, dtype=_NUMPY_BY_NAME[name])
        if name == "DTYPE_BFLOAT16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape(shape)
    # Typed values (the JSON-friendly path); lossd answers with raw bytes,
    # this is here for responses from other implementations of the contract.
    if tensor.double_values:
        array = np.array(tensor.double_values, dtype=np.float64)
    elif tensor.float_values:
        array = np.array(tensor.float_values, dtype=np.float32)
    else:
        array = np.array(tensor.int64_values, dtype=np.int64)
        if name not in ("DTYPE_UNSPECIFIED", "DTYPE_BFLOAT16"):
            array = array.astype(_NUMPY_BY_NAME[name])
    return array.reshape(shape)
