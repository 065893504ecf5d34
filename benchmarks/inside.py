"""What the Inside page costs: everything it computes for one drawing, and the robustness curves of one model.

    .venv/bin/python benchmarks/inside.py [--checkpoint DIR] [--rounds 30] [--architectures] [--while-training]

1. One drawing: a 280x280 RGBA canvas (real digits, scaled up and placed off-centre, as in bench.py) through
   all that the page computes for it with the default `fast` model: the preprocessing steps, the naive resize
   and its answer, every layer's output, both attribution methods for the top three digits, and the pictures
   made of them (feature maps, filters, heatmaps). Median and p95 over `--rounds` drawings, and each part's
   median. Preparing the model once (explain.Explainer: the page keeps one per model) is reported apart.
2. Robustness: robustness.robustness for the same model on the real 10,000-image MNIST test set
   (../shared/data/MNIST/raw, else the 1,000 test images of the bundled sample), in seconds.
   --architectures adds every registry architecture (untrained: the time does not depend on the weights).

--while-training measures both while a training run goes on through the app's job queue (mnist_core.classroom.jobs), as
when a learner opens Inside during a run: how responsive the page stays.

The model is --checkpoint, else the fast recipe trained for 3 epochs on the bundled sample (as in the tests).
Prints the figures, then one JSON line. A benchmark, not a test: nothing is asserted; targets (issue 12) are
printed beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from bench_measure import canvases, shared_raw_dir  # noqa: E402

from mnist_core.data.sources import load_folder, load_source  # noqa: E402
from mnist_core.insight import explain, robustness  # noqa: E402
from mnist_core.learning.models import MODELS, build_model  # noqa: E402
from mnist_core.store.checkpoints import load_checkpoint  # noqa: E402
from ui import pictures  # noqa: E402

TARGET_DRAWING_MS = 150
TARGET_ROBUSTNESS_S = 10


def log(message: str) -> None:
    print(f"[inside] {message}", file=sys.stderr, flush=True)


def trained_checkpoint(folder: Path) -> Path:
    from mnist_core.learning.recipes import recipe_config
    from mnist_core.runs.train import train_and_save

    log("training the fast recipe for 3 epochs on the bundled sample…")
    return train_and_save(recipe_config("fast", epochs=3), load_source("mnist-sample"), models_dir=folder).checkpoint


def page_work(explainer: explain.Explainer, filters: explain.Filters, canvas: np.ndarray) -> dict[str, float]:
    """The Inside page's computations for one drawing, part by part, in ms."""
    times, t = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        times[name] = (now - t) * 1000
        t = now

    inside = explainer.look(canvas)
    lap("look (steps, naive answer, layers, attributions)")
    [pictures.ink_picture(a) for a in (inside.steps.ink, inside.steps.crop, inside.steps.small, inside.image28)]
    [pictures.feature_maps_picture(layer) for layer in inside.layers if layer.kind == "conv"]
    pictures.filters_picture(filters)
    [pictures.heatmap(m, inside.image28) for a in inside.attributions for m in a.maps.values()]
    lap("pictures")
    return times


def measure_drawing(explainer: explain.Explainer, rounds: int) -> dict:
    drawings = [c for c, _ in canvases(load_source("mnist-sample").test, count=max(rounds, 10))][:rounds]
    filters = explain.first_filters(explainer.model)
    for canvas in drawings[:3]:  # captum's import and first calls
        page_work(explainer, filters, canvas)
    parts = [page_work(explainer, filters, canvas) for canvas in drawings]
    totals = [sum(p.values()) for p in parts]
    return {
        "median_ms": statistics.median(totals),
        "p95_ms": float(np.percentile(totals, 95)),
        "rounds": rounds,
        "parts_median_ms": {k: statistics.median(p[k] for p in parts) for k in parts[0]},
    }


def measure_split():
    raw = shared_raw_dir()
    if (raw / "t10k-images-idx3-ubyte.gz").is_file():
        return load_folder(raw, "MNIST").test
    log(f"real MNIST test set not found at {raw}: using the bundled sample's test images")
    return load_source("mnist-sample").test


def measure_robustness(model, config, split) -> dict:
    result = robustness.robustness(model, split, config)
    points = len(result.shifts) + len(result.angles) - (0 in result.shifts and 0 in result.angles)
    return {
        "seconds": round(result.seconds, 2),
        "images": result.images,
        "points": points,
        "bf16": result.bf16,
        "shift_accuracy": dict(zip(result.shifts, result.shift_accuracy.round(4).tolist())),
        "angle_accuracy": dict(zip(result.angles, result.angle_accuracy.round(4).tolist())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/inside.py", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a saved fast model (default: train one for 3 epochs on the sample)")
    parser.add_argument("--rounds", type=int, default=30, help="drawings to time")
    parser.add_argument("--architectures", action="store_true", help="also time robustness for every architecture")
    parser.add_argument("--while-training", action="store_true", help="measure while a training run goes on")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.checkpoint) if args.checkpoint else trained_checkpoint(Path(tmp))
        model, ckpt = load_checkpoint(path)
        with training_going(Path(tmp)) if args.while_training else contextlib.nullcontext():
            return measure_and_print(args, path, model, ckpt)


@contextlib.contextmanager
def training_going(folder: Path):
    """A long run of the default recipe on the sample, through the app's job queue, until the block ends."""
    from mnist_core.classroom.jobs import JobQueue
    from mnist_core.learning.recipes import recipe_config

    queue = JobQueue(models_dir=folder)
    job = queue.submit(recipe_config("fast", epochs=50), load_source("mnist-sample"))
    while job.active and not job.snapshot().history:
        time.sleep(0.1)
    log(f"a training run is going ({job.status})")
    try:
        yield
    finally:
        queue.stop(job.id)
        queue.wait(job, timeout=60)
        log(f"the training run ended: {job.status}")


def measure_and_print(args, path, model, ckpt) -> int:
    started = time.perf_counter()
    explainer = explain.Explainer(model, ckpt.config)
    prepare_ms = (time.perf_counter() - started) * 1000
    log(f"timing {args.rounds} drawings…")
    drawing = measure_drawing(explainer, args.rounds)
    split = measure_split()
    log(f"robustness curves on {len(split):,} images…")
    robust = {ckpt.record.architecture: measure_robustness(model, ckpt.config, split)}
    if args.architectures:
        for name in MODELS:
            if name != ckpt.record.architecture:
                robust[name] = measure_robustness(build_model(name).eval(), ckpt.config, split)

    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    if args.while_training:
        print("measured while a training run of the fast recipe went on in the app's job queue (a Dask worker process)")
    print(f"model: {ckpt.record.architecture} ({path.name})")
    print(
        f"one drawing, everything the Inside page computes: median {drawing['median_ms']:.1f} ms, "
        f"p95 {drawing['p95_ms']:.1f} ms over {drawing['rounds']} drawings "
        f"(target: median <= {TARGET_DRAWING_MS} ms)"
    )
    for part, ms in drawing["parts_median_ms"].items():
        print(f"  {part}: median {ms:.1f} ms")
    print(f"  preparing the model once (Explainer, kept by the page): {prepare_ms:.1f} ms")
    for name, r in robust.items():
        print(
            f"robustness curves, {name}: {r['seconds']:.2f} s for {r['points']} points x {r['images']:,} images"
            + (" in bfloat16" if r["bf16"] else " in float32")
            + (f" (target: <= {TARGET_ROBUSTNESS_S} s)" if name == ckpt.record.architecture else "")
        )
        print(f"  accuracy moved by {r['shift_accuracy']} px; turned by {r['angle_accuracy']} degrees")
    print(json.dumps({"drawing": drawing, "prepare_ms": prepare_ms, "robustness": robust}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
