"""Handwriting in a style MNIST lacks, made from real MNIST digits: a stand-in for one person's own digits
(benchmarks/my_style.py writes folders of it; the fine-tuning tests learn from it)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

SIZE = 112  # drawing size in pixels, like a small canvas


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
