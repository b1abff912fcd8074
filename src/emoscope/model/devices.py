"""Choosing where a model runs and in which float type: devices, dtypes, device maps and memory limits.

``device="auto"`` picks CUDA if torch sees a GPU, else Apple's MPS, else the CPU. ``dtype="auto"`` picks
bfloat16 where the device computes it natively (CUDA compute capability 8.0 or newer; CPUs whose
``/proc/cpuinfo`` flags include AVX512-BF16 or AMX-BF16), float16 on other GPUs, float32 otherwise.
A device map (``"auto"``, ``"balanced"``, a dict or a JSON file) is handed to accelerate as is.

Example:
    >>> resolve_device("cpu"), resolve_dtype("float32", "cpu")
    ('cpu', 'float32')
    >>> parse_max_memory("0=20GiB, 1=20GiB, cpu=64GiB")
    {0: '20GiB', 1: '20GiB', 'cpu': '64GiB'}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from emoscope.model.errors import ModelError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
MAP_STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")
_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}
CPUINFO = Path("/proc/cpuinfo")

DeviceMap = str | dict[str, Any]


def cpu_flags(cpuinfo: Path | None = None) -> set[str]:
    """The CPU feature flags listed in ``/proc/cpuinfo`` (empty where there is no such file)."""
    try:
        text = (cpuinfo or CPUINFO).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def cpu_computes_bf16(cpuinfo: Path | None = None) -> bool:
    """Whether the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags(cpuinfo) & _BF16_CPU_FLAGS)


def mps_available() -> bool:
    """Whether Apple's Metal backend is usable."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str) -> str:
    """A concrete device name for ``device`` (``auto`` -> ``cuda``, ``mps`` or ``cpu``); errors name the fix.

    Example:
        >>> resolve_device("auto") in ("cuda", "mps", "cpu")
        True
    """
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "mps":
        if not mps_available():
            raise ModelError("device 'mps' is not available here (no Apple GPU seen by torch); pass --device auto")
        return "mps"
    m = re.fullmatch(r"cuda(?::(\d+))?", name)
    if m is None:
        raise ModelError(f"unknown device {device!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but torch sees no CUDA GPU (CPU-only build or no driver); "
                         "install a CUDA build of torch or pass --device cpu")
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise ModelError(f"device {device!r} does not exist: torch sees {torch.cuda.device_count()} CUDA GPU(s); "
                         "pass cuda:0 ... or --device-map auto")
    return name


def resolve_dtype(dtype: str, device: str) -> str:
    """A concrete dtype name for ``dtype`` on a resolved ``device`` (``auto`` picks what it computes natively).

    Example:
        >>> resolve_dtype("bfloat16", "cuda")
        'bfloat16'
    """
    name = dtype.strip().lower()
    if name in DTYPES:
        return name
    if name != "auto":
        raise ModelError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_CHOICES)}")
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        major, _minor = torch.cuda.get_device_capability(index)
        return "bfloat16" if major >= 8 else "float16"
    if device == "mps":
        return "float16"
    return "bfloat16" if cpu_computes_bf16() else "float32"


def parse_device_map(device_map: DeviceMap | Path) -> DeviceMap:
    """A device map accelerate understands: a strategy name, a dict, or the dict in a JSON file.

    Values in a dict may be ``"cpu"``, ``"disk"``, ``"mps"``, ``"cuda:N"`` or a GPU index.

    Example:
        >>> parse_device_map("balanced"), parse_device_map({"model.layers.0": 0})
        ('balanced', {'model.layers.0': 0})
    """
    if isinstance(device_map, dict):
        raw: Any = device_map
    elif str(device_map) in MAP_STRATEGIES:
        return str(device_map)
    else:
        path = Path(device_map)
        if not path.is_file():
            raise ModelError(f"device map {str(device_map)!r} is neither {', '.join(MAP_STRATEGIES)} nor a JSON file; "
                             "give one of those")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"device map file {path} is not valid JSON ({exc}); fix the file") from None
    if not isinstance(raw, dict) or not raw:
        raise ModelError("a device map must be a non-empty JSON object {module name: device}; fix the map")
    out: dict[str, Any] = {}
    for module, dev in raw.items():
        if isinstance(dev, int) and not isinstance(dev, bool):
            out[str(module)] = dev
        elif isinstance(dev, str) and re.fullmatch(r"cpu|disk|mps|meta|cuda(:\d+)?|\d+", dev):
            out[str(module)] = int(dev) if dev.isdigit() else dev
        else:
            raise ModelError(f"device map entry {module!r}: {dev!r} is not a device (cpu, disk, mps, cuda:N or a GPU "
                             "index); fix the map")
    return out


def parse_max_memory(text: str | dict[Any, Any] | None) -> dict[int | str, str] | None:
    """Per-device memory limits for accelerate from ``"0=20GiB,1=20GiB,cpu=64GiB"`` (or a dict, passed through).

    Example:
        >>> parse_max_memory({"cuda:1": "10GB"})
        {1: '10GB'}
    """
    if text is None:
        return None
    items = list(text.items()) if isinstance(text, dict) else [
        tuple(part.split("=", 1)) for part in text.split(",") if part.strip()]
    out: dict[int | str, str] = {}
    for item in items:
        if len(item) != 2:
            raise ModelError(f"max memory {text!r}: write DEVICE=SIZE pairs, e.g. 0=20GiB,1=20GiB,cpu=64GiB")
        key, size = str(item[0]).strip().lower(), str(item[1]).strip()
        key = key.removeprefix("cuda:")
        if not re.fullmatch(r"\d+(\.\d+)?\s*([kmgt]i?b)?", size, flags=re.IGNORECASE):
            raise ModelError(f"max memory for {key!r}: {size!r} is not a size like 20GiB; fix the value")
        if key.isdigit():
            out[int(key)] = size
        elif key in ("cpu", "mps", "disk"):
            out[key] = size
        else:
            raise ModelError(f"max memory: {key!r} is not a device (a GPU index, cpu or mps); fix the key")
    return out


def uses_disk(device_map: DeviceMap) -> bool:
    """Whether an explicit device map offloads some modules to disk."""
    return isinstance(device_map, dict) and "disk" in device_map.values()


def execution_device(device_map: dict[str, Any]) -> torch.device:
    """Where inputs of a dispatched model go: its first GPU (accelerate's main device), else the CPU.

    Example:
        >>> execution_device({"model.embed_tokens": "cpu", "model.layers.0": "disk"})
        device(type='cpu')
    """
    for dev in device_map.values():
        if isinstance(dev, int):
            return torch.device("cuda", dev)
        if isinstance(dev, str) and dev not in ("cpu", "disk", "meta"):
            return torch.device(dev)
    return torch.device("cpu")


def map_device(device_map: DeviceMap, device: str) -> str:
    """The device whose arithmetic ``dtype="auto"`` follows for a dispatched model: the map's first GPU.

    For a strategy (``auto``, ``balanced``...) that is ``cuda`` when torch sees a GPU, else ``device`` resolved.

    Example:
        >>> map_device({"model.embed_tokens": "cpu", "model.layers.0": "disk"}, "auto")
        'cpu'
    """
    if isinstance(device_map, dict):
        dev = execution_device(device_map)
        return "cpu" if dev.type == "cpu" else str(dev)
    return "cuda" if torch.cuda.is_available() else resolve_device(device)


def set_torch_threads(n: int) -> None:
    """Torch's intra-op CPU threads for this process (a Ray worker sets the CPUs it reserved)."""
    import torch

    torch.set_num_threads(max(1, int(n)))
