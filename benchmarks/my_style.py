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

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from bench_measure import _has_mnist_test_set, shared_raw_dir  # noqa: E402

from mnist_core.data.sources import Split, load_folder, load_source  # noqa: E402

SIZE = 112  # drawing size in pixels, like a small canvas


def source_digits() -> Split:
    if _has_mnist_test_set():
        return load_folder(shared_raw_dir(), "MNIST").split("test")
    return load_source("mnist-sample").split("train")


def restyle(digit28: np.ndarray, style: str) -> np.ndarray:
    """One 28x28 MNIST digit -> an RGB drawing of it in `style`, dark ink on white paper."""
    big = np.asarray(Image.fromarray(digit28).resize((SIZE, SIZE), Image.BILINEAR)) > 90
    if style == "outline":
        thick = ndimage.binary_dilation(big, iterations=5)
        ink = thick & ~ndimage.binary_erosion(thick, iterations=4)
    elif style == "slanted":
        shear = np.array([[1.0, 0.0], [0.7, 1.0]])  # the column read moves with the row: strongly italic
        ink = ndimage.affine_transform(big.astype(np.float32), shear, offset=(0, -0.35 * SIZE), order=1) > 0.5
    else:
        raise ValueError(f"unknown style {style!r}")
    paper = np.full((SIZE, SIZE), 245, np.uint8)
    paper[ink] = 30
    return np.repeat(paper[:, :, None], 3, axis=2)


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
