"""Which device a run uses (cuda, then mps, then cpu) and how many CPU threads it may take."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """auto = cuda, then mps, then cpu. Asking for a device that is not there is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' was asked for but Apple's MPS is not available")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def set_cpu_threads(requested: int = 0) -> int:
    """Intra-op threads for the *calling* thread (OpenMP settings are per thread): 0 = $DIGIT_LAB_CPU_THREADS if set
    (a small machine can keep a core for the browser and the app), else one per core."""
    n = requested or _threads_from_environment() or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def _threads_from_environment() -> int:
    text = os.environ.get("DIGIT_LAB_CPU_THREADS", "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"DIGIT_LAB_CPU_THREADS must be a whole number of threads (0 = one per core), not {text!r}")
    return int(text)


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX): there bf16 inference is about 1.4x
    faster than float32 (docs/performance.md); elsewhere it is emulated and slower. Linux only; other systems: False."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags
