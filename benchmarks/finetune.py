"""Teaching the default model one person's handwriting: personal accuracy gained, reference accuracy kept, time.

    .venv/bin/python benchmarks/finetune.py [--checkpoint DIR] [--seeds 3] [--per-digit 20] [--style outline]

1. The parent: --checkpoint, else the `fast` recipe trained as bench.py's accuracy figure is (MNIST test set ->
   scored on the bundled sample; without ../shared, the sample's own split), saved in a temporary folder.
2. The handwriting: --per-digit drawings of each digit in a style MNIST lacks (benchmarks/my_style.py).
3. `python -m mnist_core finetune`'s engine (mnist_core.runs.finetune) once per seed: a seeded 25% of the drawings is
   held out for the personal score; the reference score is on the parent's own held-out images.

Prints each seed's figures, then the medians with their spread beside the targets (issue 13: +25 points personal,
at most 0.5 points lost on the reference, at most 30 s), then one JSON line. A benchmark: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import my_style  # noqa: E402
from bench_measure import accuracy_split  # noqa: E402

from mnist_core.data.sources import load_source  # noqa: E402
from mnist_core.learning.recipes import recipe_config  # noqa: E402
from mnist_core.runs.finetune import finetune  # noqa: E402
from mnist_core.runs.train import train_and_save  # noqa: E402


def train_parent(models_dir: Path) -> Path:
    train_src, eval_src, described = accuracy_split()
    split, eval_split = ("test", "all") if train_src is not eval_src else ("train", "test")
    print(f"parent: fast recipe, {described}", flush=True)
    outcome = train_and_save(
        recipe_config("fast"), train_src, split, eval_source=eval_src, eval_split=eval_split, models_dir=models_dir
    )
    print(f"parent: {outcome.report.accuracy:.2%} in {outcome.result.seconds:.1f} s", flush=True)
    return outcome.checkpoint


def spread(values: list[float], scale: float = 100.0, unit: str = "") -> str:
    return f"{statistics.median(values) * scale:.1f}{unit} ({min(values) * scale:.1f}-{max(values) * scale:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--per-digit", type=int, default=20)
    parser.add_argument("--style", choices=("outline", "slanted"), default="outline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parent = args.checkpoint or train_parent(tmp / "models")
        n = my_style.write(tmp / "drawings", args.per_digit, args.style, seed=0)
        drawings = load_source(str(tmp / "drawings"))
        print(f"handwriting: {n} {args.style} drawings", flush=True)
        runs = []
        for seed in range(args.seeds):
            s = finetune(parent, drawings, seed=seed, models_dir=tmp / "models", save=False)
            runs.append(s)
            print(
                f"seed {seed}: personal {s.personal_before:.1%} -> {s.personal_after:.1%} "
                f"({s.n_personal_eval} held-out drawings); reference {s.reference_before:.2%} -> "
                f"{s.reference_after:.2%} ({s.reference}); {s.seconds:.1f} s",
                flush=True,
            )
    gain = [s.personal_after - s.personal_before for s in runs]
    loss = [s.reference_before - s.reference_after for s in runs]
    seconds = [s.seconds for s in runs]
    print(f"personal gain, points: {spread(gain)}   target >= 25")
    print(f"reference lost, points: {spread(loss)}   target <= 0.5")
    print(f"seconds: {spread(seconds, 1.0)}   target <= 30")
    print(json.dumps({"style": args.style, "runs": [r.to_dict() | {"reference": r.reference} for r in runs]}))


if __name__ == "__main__":
    main()
