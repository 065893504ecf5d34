"""MNIST's idx files read straight into numpy, plain or gzipped, with the unzipped bytes of a .gz kept in a cache
folder, so a later run reads them back instead of unzipping 10 MB again. torchvision's own reader would do, but
importing torchvision costs seconds before the first training step (docs/performance.md)."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np

from mnist_core.i18n import _

DIMENSIONS = {"images": 3, "labels": 1}  # (N, rows, cols) and (N,)
UNSIGNED_BYTE = 0x08  # the idx type code of every MNIST-format file; others (floats, ints) are not images of digits


class IdxError(ValueError):
    """Not an idx file of the expected kind; the message says what is wrong."""


def parse(data: bytes, kind: str) -> np.ndarray:
    """An idx file's bytes as a uint8 array: a magic number (two zero bytes, the type, the number of dimensions),
    each dimension as a big-endian int32, then exactly that many bytes."""
    ndim = DIMENSIONS[kind]
    if len(data) < 4 or data[0] or data[1]:
        raise IdxError(_("wrong magic number or truncated data"))
    if data[2] != UNSIGNED_BYTE or data[3] != ndim:
        raise IdxError(
            _("it holds other data than MNIST images")
            if kind == "images"
            else _("it holds other data than MNIST labels")
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(_("wrong magic number or truncated data"))
    shape = tuple(int(n) for n in np.frombuffer(data, ">i4", ndim, 4))
    if len(data) - header != int(np.prod(shape)):
        raise IdxError(
            _("{found:,} bytes of data where its header says {expected:,}").format(
                found=len(data) - header, expected=int(np.prod(shape))
            )
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read(path: Path, kind: str) -> np.ndarray:
    """The file at `path` as a writable uint8 array; a .gz is unzipped once and cached (cache_folder)."""
    if path.suffix != ".gz":
        return parse(path.read_bytes(), kind).copy()
    cached = _cache_file(path)
    if cached is not None:
        try:
            return np.load(cached, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # no cache yet, or one cut short by a full disk: unzip again
            pass
    try:
        with gzip.open(path, "rb") as f:
            array = parse(f.read(), kind).copy()
    except (OSError, EOFError, zlib.error) as e:  # gzip's own errors: not gzip, cut short, bad checksum
        raise IdxError(str(e).strip() or type(e).__name__) from None
    if cached is not None:
        _write(cached, array)
    return array


def cache_folder() -> Path:
    """$DIGIT_LAB_CACHE, else the user's cache folder: never beside the data, which may be shared or read-only."""
    chosen = os.environ.get("DIGIT_LAB_CACHE", "").strip()
    if chosen:
        return Path(chosen).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "") or Path.home() / ".cache") / "digit-lab"


def _cache_file(path: Path) -> Path | None:
    """The cache's name for this very file: its place, size and modification time, so a changed file is unzipped
    again."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_folder() / "idx" / f"{path.name.removesuffix('.gz')}-{key}.npy"


def _write(cached: Path, array: np.ndarray) -> None:
    """Written whole or not at all (a rename), and skipped quietly where the cache cannot be written."""
    tmp = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, cached)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
