"""Writes fixture files read by tests/fixture.c: named float32 / int64 tensors.

Format (little-endian): b"DYFX0001", uint32 count, then per tensor: uint32 name length, name (utf-8),
uint32 dtype (0 float32, 1 int64), uint32 ndim, int64 dims[ndim], raw data.
"""
import struct

import numpy as np


def write_fixture(path, tensors):
    """tensors: dict name -> array-like (torch tensors are detached and moved to numpy)."""
    with open(path, "wb") as f:
        f.write(b"DYFX0001")
        f.write(struct.pack("<I", len(tensors)))
        for name, value in tensors.items():
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            a = np.asarray(value)
            if a.dtype.kind in "iub":
                a, dtype = a.astype("<i8"), 1
            else:
                a, dtype = a.astype("<f4"), 0
            raw = name.encode()
            f.write(struct.pack("<I", len(raw)))
            f.write(raw)
            f.write(struct.pack("<II", dtype, a.ndim))
            for d in a.shape:
                f.write(struct.pack("<q", d))
            f.write(np.ascontiguousarray(a).tobytes())
