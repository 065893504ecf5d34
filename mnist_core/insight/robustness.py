"""How a model's accuracy holds up on moved or turned test digits: the Inside page's robustness curves.

Apart from explain.py, which looks at one image, because these score a whole test split and keep server-wide state
(a store measuring on threads of its own, closed at exit). They move digits with explain's helpers, so both mean the
same by "moved by 2 pixels"; explain never imports this module. Nothing here imports Streamlit.
"""

from __future__ import annotations

import atexit
import copy
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.data.sources import Split
from mnist_core.i18n import N_, _
from mnist_core.insight.explain import _for_inference, _shift, _turn_matrix, cpu_threads
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import cpu_has_bf16

SHIFTS = (0, 2, 4, 6)  # pixels; each point costs one pass over the test images (see robustness)
ANGLES = (0, 15, 30, 45)  # degrees
ROBUSTNESS_BATCH = 256  # images per forward pass: larger batches fall out of a CPU's cache and run slower


@dataclass
class Robustness:
    shifts: tuple[int, ...]
    shift_accuracy: np.ndarray  # accuracy per shift, in [0, 1]
    angles: tuple[float, ...]
    angle_accuracy: np.ndarray
    images: int  # test images scored at each point
    seconds: float
    bf16: bool  # scored in bfloat16 (a CPU that has it in hardware): curves close to float32's (docs/performance.md)


@torch.no_grad()
def robustness(
    model: nn.Module,
    split: Split,
    config: TrainConfig,
    shifts: tuple[int, ...] = SHIFTS,
    angles: tuple[float, ...] = ANGLES,
    on_progress: Callable[[float], None] | None = None,
    seed: int = 0,
) -> Robustness:
    """Accuracy on all the split's images moved by each of `shifts` pixels (up, down, left or right: one direction
    per image, drawn once) and turned by each of `angles` degrees (clockwise or anticlockwise, likewise).

    Each point scores every image, so the curves compare like with like (and two models see the same moved
    images); moved by 0 and turned by 0 are one pass. on_progress(fraction done) is called after each batch.
    Runs on one thread (see cpu_threads), in bfloat16 where the CPU has it in hardware.
    """
    if len(split) == 0:
        raise ValueError(_("no images to measure robustness on"))
    bf16 = cpu_has_bf16()
    with cpu_threads(1), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return _robustness(model, split, config, shifts, angles, on_progress, seed, bf16)


def _robustness(model, split, config, shifts, angles, on_progress, seed, bf16) -> Robustness:
    started = time.perf_counter()
    fast = _for_inference(model)
    g = torch.Generator().manual_seed(seed)
    n = len(split)
    direction = torch.randint(0, 4, (n,), generator=g)
    unit_x = torch.tensor([1, -1, 0, 0])[direction]
    unit_y = torch.tensor([0, 0, 1, -1])[direction]
    clockwise = torch.randint(0, 2, (n,), generator=g).bool()
    points = [("shift", float(s)) for s in shifts] + [("angle", float(a)) for a in angles if a or 0 not in shifts]
    total, done, correct = len(points) * n, 0, {}
    for kind, amount in points:
        # Two sampling grids per angle, made once: building one per image costs several times the turn itself.
        if kind == "angle":
            turn = [F.affine_grid(_turn_matrix(a), [1, 1, 28, 28], align_corners=False) for a in (amount, -amount)]
        right = 0
        for i in range(0, n, ROBUSTNESS_BATCH):
            k = slice(i, i + ROBUSTNESS_BATCH)
            x = split.images[k].float().div_(255)[:, None]
            if amount and kind == "shift":
                x = _shift(x, unit_x[k] * int(amount), unit_y[k] * int(amount))
            elif amount:
                grid = torch.where(clockwise[k, None, None, None], turn[1], turn[0])
                x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
            x = ((x - config.norm_mean) / config.norm_std).contiguous(memory_format=torch.channels_last)
            right += int((fast(x).argmax(1) == split.labels[k]).sum())
            done += len(x)
            if on_progress is not None:
                on_progress(done / total)
        correct[(kind, amount)] = right / n
    unmoved = correct.get(("shift", 0.0), correct.get(("angle", 0.0)))
    return Robustness(
        tuple(shifts),
        np.array([correct[("shift", float(s))] for s in shifts]),
        tuple(angles),
        np.array([unmoved if a == 0 and unmoved is not None else correct[("angle", float(a))] for a in angles]),
        n,
        time.perf_counter() - started,
        bf16,
    )


@dataclass
class Measuring:
    """One model's robustness curves as they are measured: `done` grows to 1, then `result` or `error` is set."""

    done: float = 0.0
    result: Robustness | None = None
    error: str | None = None  # in English (set in a thread with no interface language): shown with _()

    @property
    def over(self) -> bool:
        return self.result is not None or self.error is not None


class RobustnessStore:
    """Robustness curves for a whole server, measured on threads of their own, one at a time, so that a page
    never waits for them; only the `keep` most recently used finished ones are kept."""

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._entries: OrderedDict[Hashable, Measuring] = OrderedDict()
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()  # two at once would only share the same cores and both end later
        self._threads: set[threading.Thread] = set()
        self._closing = threading.Event()
        _stores.add(self)

    def get(self, key: Hashable) -> Measuring | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def start(self, key: Hashable, model: nn.Module, split: Split, config: TrainConfig) -> Measuring:
        """Begin measuring `model` under `key`, unless it is measured or being measured already (a failed
        measurement starts again)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.error is None:
                return entry
            entry = self._entries[key] = Measuring()
            self._entries.move_to_end(key)
            finished = [k for k, e in self._entries.items() if e.over]  # oldest first; unfinished ones stay
            for old in finished[: max(0, len(finished) - self.keep)]:
                del self._entries[old]
        model = copy.deepcopy(model)  # copied in the caller's thread: the page goes on using its model meanwhile
        thread = threading.Thread(
            target=self._measure, args=(entry, model, split, config), name="digit-lab-robustness", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return entry

    def _measure(self, entry: Measuring, model: nn.Module, split: Split, config: TrainConfig) -> None:
        def progress(fraction: float) -> None:
            if self._closing.is_set():
                raise _Closing
            entry.done = fraction

        try:
            with self._one_at_a_time:
                entry.result = robustness(model, split, config, on_progress=progress)
        except _Closing:
            entry.error = N_("the server is shutting down")
        except Exception as e:  # nobody to raise to in this thread: the page shows it
            entry.error = str(e) or type(e).__name__
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def close(self, timeout: float = 5.0) -> None:
        """Stop what is being measured, each after its current batch (at interpreter exit: a daemon thread killed
        inside torch would abort the process)."""
        self._closing.set()
        end = time.time() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, end - time.time()))


class _Closing(Exception):
    pass


_stores: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_stores() -> None:
    for store in list(_stores):
        store.close()
