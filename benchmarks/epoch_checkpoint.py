"""What a training run's per-epoch checkpoint costs (issue 29: a run whose worker dies keeps what it learned).

    .venv/bin/python benchmarks/epoch_checkpoint.py [--rounds 20] [--sample]

At each epoch's end a Dask worker packs the model and its record (checkpoints.pack) and sends them to the app,
which keeps the last one per run. For the default recipe (`fast`) and the PyTorch example's CNN (`pytorch-example`,
the registry's largest model): one real epoch on full MNIST (../shared/data/mnist-full, else the bundled sample, or
with --sample), timing the pack inside the run; then the median of --rounds packs of that model with the record as
it was, and with the most history a record holds (2,000 step events after thinning: a long run's later epochs).
Prints the figures, then one JSON line. A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from mnist_core.data.sources import load_folder, load_source  # noqa: E402
from mnist_core.learning.events import Event, EventKind  # noqa: E402
from mnist_core.learning.recipes import recipe_config  # noqa: E402
from mnist_core.runs.train import train_and_save  # noqa: E402
from mnist_core.store.checkpoints import pack  # noqa: E402

FULL = REPO.parent / "shared" / "data" / "mnist-full" / "MNIST" / "raw"


def median_ms(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def measure(recipe: str, source, rounds: int) -> dict:
    config = recipe_config(recipe, epochs=1, cpu_threads=0)
    kept = []

    def on_checkpoint(model, record) -> None:
        t0 = time.perf_counter()
        packed = pack(model, record)
        kept.append((model, record, packed, time.perf_counter() - t0))

    t0 = time.perf_counter()
    outcome = train_and_save(config, source, on_checkpoint=on_checkpoint, save=False)
    run_s = time.perf_counter() - t0
    [(model, record, packed, in_run_s)] = kept
    steps = [e for e in record.history if e.kind == EventKind.STEP]
    longest = [replace(steps[i % len(steps)], step=i + 1) for i in range(2000)] + [
        Event(EventKind.EPOCH, 2000, 2000, 1, 1, val_acc=0.99)
    ]
    long_record = record.model_copy(update={"history": longest})
    long_packed = pack(model, long_record)
    return {
        "recipe": recipe,
        "model": config.model,
        "parameters": record.parameters,
        "epoch_s": round(outcome.result.seconds, 2),
        "run_s": round(run_s, 2),
        "weights_bytes": len(packed.weights),
        "meta_bytes": len(packed.meta.encode()),
        "pack_in_run_ms": round(1000 * in_run_s, 2),
        "pack_ms": round(median_ms(lambda: pack(model, record), rounds), 2),
        "long_meta_bytes": len(long_packed.meta.encode()),
        "long_pack_ms": round(median_ms(lambda: pack(model, long_record), rounds), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sample", action="store_true", help="the bundled 4,000-image sample, not full MNIST")
    args = parser.parse_args()
    source = load_source("mnist-sample") if args.sample or not FULL.is_dir() else load_folder(FULL)
    print(f"data: {source.title}, {len(source.split('train')):,} training images")
    results = []
    for recipe in ("fast", "pytorch-example"):
        r = measure(recipe, source, args.rounds)
        results.append(r)
        share = r["pack_ms"] / 10 / r["epoch_s"]
        print(
            f"{r['recipe']} ({r['model']}, {r['parameters']:,} parameters): epoch {r['epoch_s']} s; checkpoint "
            f"{r['weights_bytes'] / 1e6:.2f} MB weights + {r['meta_bytes'] / 1e3:.0f} kB record; pack "
            f"{r['pack_ms']} ms median ({r['pack_in_run_ms']} ms in the run), {share:.2f}% of the epoch; with "
            f"2,000 history events {r['long_meta_bytes'] / 1e3:.0f} kB record, pack {r['long_pack_ms']} ms"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
