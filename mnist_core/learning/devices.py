"""Which device a run uses (cuda, then mps, then cpu) and how many CPU threads it may take."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from mnist_core.i18n import _


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
        return _("GPU: {name}").format(name=torch.cuda.get_device_name(device))
    if device.type == "mps":
        return _("Apple GPU (MPS)")
    return _("CPU ({n} threads)").format(n=torch.get_num_threads())


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


# The CPU features that decide how fast bfloat16 runs: in hardware with AVX-512 BF16 or AMX, emulated without.
BF16_FEATURES = ("avx512f", "avx512_bf16", "amx_bf16")


@functools.cache
def cpu_features() -> tuple[str, ...]:
    """Which of BF16_FEATURES this CPU reports (Linux's /proc/cpuinfo; other systems: none known)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return tuple(f for f in BF16_FEATURES if f in flags)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX): there bf16 inference is faster than
    float32 and training as fast or a little faster (docs/performance.md); elsewhere bf16 is emulated and slower."""
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_features()))


def _bf16_setting() -> bool | None:
    """$DIGIT_LAB_BF16 as a choice: "1" on, "0" off, anything else (unset included) leaves it to the hardware."""
    value = os.environ.get("DIGIT_LAB_BF16", "").strip()
    return value == "1" if value in ("0", "1") else None


def use_bf16(device: torch.device) -> bool:
    """Whether training and scoring on `device` run in bfloat16 autocast: on a CUDA GPU that supports it, and on
    a CPU with bf16 in hardware. $DIGIT_LAB_BF16=0 or 1 overrides the choice (e.g. to compare the two)."""
    forced = _bf16_setting()
    if forced is not None:
        return forced
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_bf16()


def describe_precision(device: torch.device) -> str:
    """The number format training uses on `device`, and why, in a few words for the app and `bench`."""
    forced = _bf16_setting() is not None
    if use_bf16(device):
        if forced:
            return _("bfloat16 (set by DIGIT_LAB_BF16)")
        if device.type == "cuda":
            return _("bfloat16 (GPU)")
        hardware = "AMX" if "amx_bf16" in cpu_features() else "AVX-512 BF16"
        return _("bfloat16 (this CPU has {hardware})").format(hardware=hardware)
    if forced:
        return _("float32 (set by DIGIT_LAB_BF16)")
    return _("float32 (this CPU has neither AVX-512 BF16 nor AMX)") if device.type == "cpu" else "float32"
