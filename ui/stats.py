"""Dataset statistics for the Explore page: class counts, image grids, mean images, pixel histograms, 2-D maps.

Plain functions on the uint8 image tensors (N, 28, 28) and int64 label tensors of `mnist_core.data.sources`; they
return numpy arrays or pandas frames ready to plot. Nothing here imports streamlit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

CHUNK = 10_000  # images per step where a whole-dataset pass would otherwise copy every pixel at once


def class_counts(splits: dict[str, torch.Tensor], classes: list[str]) -> pd.DataFrame:
    """Images per class in each split: one row per (split, class) with count and share of that split.

    `splits` maps a split name ("train", "test") to its label tensor.
    """
    rows = []
    for name, labels in splits.items():
        counts = torch.bincount(labels.long(), minlength=len(classes)).numpy()[: len(classes)]
        total = max(int(counts.sum()), 1)
        for label, (cls, count) in enumerate(zip(classes, counts)):
            rows.append((name, label, cls, int(count), count / total))
    return pd.DataFrame(rows, columns=["split", "label", "class", "count", "share"])


def sample_indices(labels: torch.Tensor, n: int, seed: int, label: int | None = None) -> np.ndarray:
    """Up to n random image positions (a seeded draw), only of class `label` when it is given."""
    pool = torch.arange(len(labels)) if label is None else torch.nonzero(labels == label).flatten()
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n]
    return pool[order].numpy()


def enlarge(images: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel becomes a factor x factor block, so small images stay crisp when shown large."""
    return np.repeat(np.repeat(images, factor, axis=-2), factor, axis=-1)


def mean_images(images: torch.Tensor, labels: torch.Tensor, n_classes: int = 10) -> np.ndarray:
    """The average image of each class, float32 (n_classes, 28, 28) in 0-255; all zeros for an empty class."""
    out = np.zeros((n_classes, *images.shape[1:]), dtype=np.float32)
    for c in range(n_classes):
        picked = images[labels == c]
        if len(picked):
            out[c] = (picked.sum(0, dtype=torch.float64) / len(picked)).numpy()
    return out


def pixel_histogram(images: torch.Tensor, bin_width: int = 8, skip_zero: bool = False) -> pd.DataFrame:
    """How many pixels have each brightness (0 = black background, 255 = full ink), in bins of bin_width.

    With skip_zero the pure-black pixels (value exactly 0) are left out, so the ink shows. Columns: low,
    high (inclusive bounds of the bin), count and share (of the pixels counted).
    """
    if 256 % bin_width:
        raise ValueError("bin_width must divide 256")
    counts = torch.zeros(256, dtype=torch.int64)
    for start in range(0, len(images), CHUNK):
        counts += torch.bincount(images[start : start + CHUNK].flatten(), minlength=256)
    if skip_zero:
        counts[0] = 0
    binned = counts.view(-1, bin_width).sum(1).numpy()
    low = np.arange(0, 256, bin_width)
    return pd.DataFrame(
        {"low": low, "high": low + bin_width - 1, "count": binned, "share": binned / max(int(binned.sum()), 1)}
    )


def blank_share(images: torch.Tensor) -> float:
    """The fraction of all pixels that are pure black (value 0)."""
    zeros = sum(int((images[s : s + CHUNK] == 0).sum()) for s in range(0, len(images), CHUNK))
    return zeros / max(images.numel(), 1)


def _flat(images: torch.Tensor, idx: np.ndarray) -> np.ndarray:
    return images[torch.from_numpy(idx)].reshape(len(idx), -1).numpy().astype(np.float32) / 255.0


def _frame(xy: np.ndarray, labels: torch.Tensor, idx: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": xy[:, 0].astype(np.float32),
            "y": xy[:, 1].astype(np.float32),
            "label": labels[torch.from_numpy(idx)].numpy(),
            "index": idx,
        }
    )


def pca_map(
    images: torch.Tensor, labels: torch.Tensor, n: int = 2000, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Up to n random images projected onto their 2 main directions of variation (PCA).

    Returns a frame (x, y, label, index: position in the split) and the share of the pixel variance each
    of the two axes explains.
    """
    from sklearn.decomposition import PCA

    idx = sample_indices(labels, n, seed)
    pca = PCA(n_components=2, random_state=seed)
    xy = pca.fit_transform(_flat(images, idx))
    return _frame(xy, labels, idx), pca.explained_variance_ratio_.astype(np.float64)


def tsne_map(
    images: torch.Tensor,
    labels: torch.Tensor,
    n: int = 1500,
    seed: int = 0,
    perplexity: float = 30.0,
    max_iter: int = 500,
) -> pd.DataFrame:
    """Up to n random images laid out by t-SNE (similar images end up close): frame x, y, label, index.

    The pixels are first reduced to 50 PCA components, and t-SNE runs on one thread: on a shared 2-core
    machine more threads made it several times slower. ~1,500 images take a few seconds.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    idx = sample_indices(labels, n, seed)
    x = _flat(images, idx)
    with threadpool_limits(1):
        reduced = PCA(n_components=min(50, *x.shape), random_state=seed).fit_transform(x)
        xy = TSNE(
            n_components=2,
            perplexity=min(perplexity, max(1.0, (len(idx) - 1) / 3)),
            init="pca",
            max_iter=max_iter,
            random_state=seed,
        ).fit_transform(reduced)
    return _frame(xy, labels, idx)
