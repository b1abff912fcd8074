"""Deterministic, atomic safetensors writing.

The safetensors library stores metadata in a hash map, so two runs can write the same tensors and metadata
in different byte orders. Banks and shards are written here instead, with sorted keys, so that identical
content gives identical bytes (a resumed extraction is checked bit for bit). Files are read with the
safetensors library as usual.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.safetensors"
    >>> write_safetensors(p, {"a": np.zeros(3, np.float32)}, {"note": "hi"})
    >>> from safetensors.numpy import load_file
    >>> load_file(str(p))["a"].tolist()
    [0.0, 0.0, 0.0]
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.atomic import atomic_file

_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.float16): "F16",
           np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


def write_safetensors(path: str | Path, tensors: dict[str, np.ndarray[Any, Any]],
                      metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` and string ``metadata`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in sorted(metadata.items())}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        if arr.dtype not in _DTYPES:
            raise TypeError(f"tensor {name!r} has unsupported dtype {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    head += b" " * (-len(head) % 8)
    with atomic_file(path, binary=True) as fh:
        fh.write(struct.pack("<Q", len(head)))
        fh.write(head)
        for b in blobs:
            fh.write(b)
