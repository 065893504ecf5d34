"""A handwriting style MNIST lacks, made from real MNIST digits: a stand-in for one person's own digits.

    .venv/bin/python benchmarks/my_style.py OUT_FOLDER [--per-digit 20] [--style outline] [--seed 0]

Each digit is scaled up to drawing size and re-drawn in the chosen style, dark ink on light paper (as a photo of
paper would be), then saved as `<OUT_FOLDER>/<digit>/<n>.png`: the My digits layout, readable as a dataset
(`--dataset OUT_FOLDER`). Styles:
- outline: hollow "bubble" strokes, the outline of a thick pen line;
- slanted: strongly italic (sheared by 0.7: about 35 degrees).
The digits come from the MNIST test set beside the checkout (../shared/data/MNIST/raw) when it is there, else
from the bundled sample's training part: in both cases images the benchmark's parent model trained on (in their
usual style), never its held-out reference images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.handwriting import restyle  # noqa: E402
from harness.shared_data import TEST_SET_RAW, has_test_set  # noqa: E402
from mnist_core.data.sources import Split, load_folder, load_source  # noqa: E402


def source_digits() -> Split:
    if has_test_set():
        return load_folder(TEST_SET_RAW, "MNIST").split("test")
    return load_source("mnist-sample").split("train")


def write(out: Path, per_digit: int, style: str, seed: int) -> int:
    digits = source_digits()
    order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(seed))
    written = [0] * 10
    for i in order.tolist():
        d = int(digits.labels[i])
        if written[d] >= per_digit:
            continue
        (out / str(d)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(restyle(digits.images[i].numpy(), style)).save(out / str(d) / f"{written[d]:03d}.png")
        written[d] += 1
        if min(written) >= per_digit:
            break
    return sum(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-digit", type=int, default=20)
    parser.add_argument("--style", choices=("outline", "slanted"), default="outline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = write(args.out, args.per_digit, args.style, args.seed)
    print(f"{n} {args.style} drawings in {args.out}")


if __name__ == "__main__":
    main()
