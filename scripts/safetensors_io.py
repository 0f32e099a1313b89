"""Minimal safetensors reader/writer: numpy and the standard library only.

Format: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
    {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
     "__metadata__": {str: str}}
then the data buffer (offsets are relative to its start; it must be fully indexed).

    import safetensors_io
    safetensors_io.save({"w": np.zeros((2, 3), np.float32)}, "w.safetensors")
    tensors = safetensors_io.load("w.safetensors")            # dict name -> ndarray
    tensors, meta = safetensors_io.load("w.safetensors", with_metadata=True)

Files written here are read by the C runtime (cnnrt_load_weights) and vice versa.
"""

import json
import os
import struct

import numpy as np

__all__ = ["save", "load", "SafetensorsError"]

_MAX_HEADER = 100_000_000

# safetensors dtype name <-> numpy dtype (little-endian)
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


class SafetensorsError(ValueError):
    """A malformed or unsupported safetensors file."""


def _dtype_name(dtype):
    dtype = np.dtype(dtype)
    for name, dt in _DTYPES.items():
        if dt.kind == dtype.kind and dt.itemsize == dtype.itemsize:
            return name, dt
    raise SafetensorsError(f"unsupported dtype {dtype}")


def save(tensors, path, metadata=None):
    """Writes dict name -> array-like to path atomically (temp file + fsync + rename).

    Arrays keep their dtype (float32 is what the cnnc runtime reads); tensors are
    written sorted by name with __metadata__ {"format": "pt"} plus `metadata`."""
    meta = {"format": "pt"}
    if metadata:
        meta.update({str(k): str(v) for k, v in metadata.items()})
    header = {"__metadata__": meta}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        if not isinstance(name, str) or name == "__metadata__":
            raise SafetensorsError(f"invalid tensor name {name!r}")
        arr = np.asarray(tensors[name])
        dname, dt = _dtype_name(arr.dtype)
        data = np.ascontiguousarray(arr, dtype=dt).tobytes()
        header[name] = {
            "dtype": dname,
            "shape": [int(d) for d in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hbytes += b" " * (-(8 + len(hbytes)) % 8)  # align the data buffer to 8 bytes

    path = os.fspath(path)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hbytes)))
            f.write(hbytes)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(path, with_metadata=False):
    """Reads a safetensors file into dict name -> np.ndarray (validating it fully).

    Raises SafetensorsError on malformed files, OSError if unreadable."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SafetensorsError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER:
        raise SafetensorsError(f"{path}: absurd header length {n}")
    if n > len(raw) - 8:
        raise SafetensorsError(f"{path}: header length {n} exceeds the file size (truncated?)")

    def no_dups(pairs):
        d = {}
        for k, v in pairs:
            if k in d:
                raise SafetensorsError(f"{path}: duplicate key {k!r}")
            d[k] = v
        return d

    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=no_dups)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: invalid JSON header: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    ranges = []
    for name, e in header.items():
        try:
            dt = _DTYPES[e["dtype"]]
            shape = tuple(int(d) for d in e["shape"])
            begin, end = (int(x) for x in e["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{path}: bad entry for tensor {name!r}") from None
        if any(d < 0 for d in shape) or not 0 <= begin <= end <= len(data):
            raise SafetensorsError(f"{path}: tensor {name!r} has invalid shape/offsets")
        if end - begin != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise SafetensorsError(f"{path}: tensor {name!r} size does not match its shape")
        out[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape).copy()
        if end > begin:
            ranges.append((begin, end, name))
    cursor = 0
    for begin, end, name in sorted(ranges):
        if begin != cursor:
            raise SafetensorsError(f"{path}: tensor {name!r} overlaps or leaves a gap")
        cursor = end
    if cursor != len(data):
        raise SafetensorsError(f"{path}: {len(data) - cursor} unindexed trailing bytes")
    return (out, meta) if with_metadata else out
