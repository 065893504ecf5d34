"""The "Show the PyTorch code" script against the engine: test accuracy per seed, both ways, on the same idx files.

    .venv/bin/python benchmarks/pytorch_script.py [--seeds 8] [--recipe fast] [--model mlp-64x3] [--epochs 4]
        [--train-size 3000] [--lr 0.003]

The bundled sample is written as a folder of idx files (its 4,000 training digits gzip-compressed, its 1,000 test
digits plain); for each seed, the engine trains the config on that folder as `python -m mnist_core train --dataset
FOLDER` does (one CPU thread), then the generated script runs as a process of its own on the same folder (one
thread). Prints each seed's two accuracies, then each side's mean, standard deviation and range, and the largest
difference between the two at the same seed, then one JSON line. The defaults are tests/test_pytorch_script.py's
SMALL run, whose tolerance is the engine's seed-to-seed spread measured here. A benchmark: nothing is asserted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

import torch  # noqa: E402

from mnist_core.data.sources import load_folder, load_sample  # noqa: E402
from mnist_core.learning.pytorch_script import RESULT_PREFIX, pytorch_script  # noqa: E402
from mnist_core.learning.recipes import recipe_config  # noqa: E402
from mnist_core.runs.train import train_and_save  # noqa: E402


def write_idx(path: Path, values: torch.Tensor) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, values.dim()) + struct.pack(f">{values.dim()}I", *values.shape)
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as f:
        f.write(header + values.to(torch.uint8).numpy().tobytes())


def summary(values: list[float]) -> dict:
    return {
        "mean": round(statistics.mean(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--model", default="mlp-64x3")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=0.003)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sample = load_sample()
    engine, script = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_idx(folder / "train-images-idx3-ubyte.gz", sample.train.images)
        write_idx(folder / "train-labels-idx1-ubyte.gz", sample.train.labels)
        write_idx(folder / "t10k-images-idx3-ubyte", sample.test.images)
        write_idx(folder / "t10k-labels-idx1-ubyte", sample.test.labels)
        source = load_folder(folder)
        for seed in range(args.seeds):
            config = recipe_config(
                args.recipe, model=args.model, epochs=args.epochs, train_size=args.train_size, lr=args.lr, seed=seed
            )
            engine.append(train_and_save(config, source, save=False).report.accuracy)
            path = folder / "run.py"
            path.write_text(pytorch_script(config), encoding="utf-8")
            proc = subprocess.run(
                [sys.executable, str(path), "--data-dir", str(folder)],
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
                check=True,
            )
            script.append(float(proc.stdout.strip().splitlines()[-1].removeprefix(RESULT_PREFIX)))
            print(f"seed {seed}: engine {engine[-1]:.4f}  script {script[-1]:.4f}", flush=True)
    result = {
        "config": {k: v for k, v in vars(args).items() if k != "seeds"},
        "seeds": args.seeds,
        "engine": summary(engine),
        "script": summary(script),
        "max_difference_same_seed": round(max(abs(a - b) for a, b in zip(engine, script)), 4),
    }
    for side in ("engine", "script"):
        s = result[side]
        print(f"{side}: mean {s['mean']:.4f}, sd {s['sd']:.4f}, range {s['min']:.4f}-{s['max']:.4f}")
    print(f"largest difference at the same seed: {result['max_difference_same_seed']:.4f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
