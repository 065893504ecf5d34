"""A run's dataset on its way to a worker: a small reference (DataRef) when the worker can read the same files
itself, the whole Source otherwise; and, in each worker process, the last few datasets it read, so a class's
thirty runs on full MNIST read it once instead of carrying 55 MB in every submit (docs/performance.md).

A reference is only sent to the embedded cluster's workers, which share this computer's files, and only for a
source read from files (the bundled sample, MNIST, Fashion-MNIST, a folder of idx files) whose arrays are still
what was read; the worker checks the content hash of what it reads. My digits collections and any source made in
memory travel whole (they are small and change while the server runs), and so does everything sent to a lab
cluster, whose computers may not hold the files.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from mnist_core.data.sources import DataError, Origin, Source, content_digest, load_folder, load_sample
from mnist_core.i18n import N_

CACHED = 2  # datasets each worker process keeps: enough for a class training on one while a few use another
CHANGED = N_(  # raised in a worker (no interface language): the page translates it where it shows the error
    "The dataset's files changed on this computer after the app read them, so this run could not use them. "
    "Restart the app to read them again, then press Start."
)


@dataclass(frozen=True)
class DataRef:
    """What a worker needs to read a source again exactly as the app read it (load_folder's arguments, or the
    bundled sample), and the hash its arrays must have."""

    key: str
    title: str
    classes: tuple[str, ...]
    origin: Origin


_checked: dict[int, tuple[weakref.ref, bool]] = {}  # id(source) -> (the source, its arrays are as they were read)
_checked_lock = threading.Lock()


def for_worker(source: Source, shares_files: bool) -> Source | DataRef:
    """What to send a worker for `source`: a DataRef when the worker shares this computer's files and the source's
    arrays are still those its files held, else the Source itself."""
    if not shares_files or source.origin is None or not _unchanged(source):
        return source
    return DataRef(source.key, source.title, tuple(source.classes), source.origin)


def _unchanged(source: Source) -> bool:
    """Whether the arrays are still the ones read (not a copy made with other splits), hashed once per source."""
    with _checked_lock:
        seen = _checked.get(id(source))
        if seen is not None and seen[0]() is source:
            return seen[1]
    same = content_digest(source.train, source.test) == source.origin.digest
    with _checked_lock:
        _checked[id(source)] = (weakref.ref(source, lambda _ref, key=id(source): _checked.pop(key, None)), same)
    return same


# ----- in a worker process -----

_cache: OrderedDict[DataRef, Source] = OrderedDict()  # the last CACHED datasets read here, latest last
_cache_lock = threading.Lock()


def resolve(data: Source | DataRef) -> Source:
    """The Source a run trains on: `data` itself, or the dataset it names, read here once and kept (the last
    CACHED of them); a DataError when the files no longer hold what the app read."""
    if isinstance(data, Source):
        return data
    with _cache_lock:
        if data in _cache:
            _cache.move_to_end(data)
            return _cache[data]
        source = _read(data)
        _cache[data] = source
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
        return source


def _read(ref: DataRef) -> Source:
    try:
        if ref.origin.folder is None:
            source = load_sample()
        else:
            source = load_folder(ref.origin.folder, ref.title, list(ref.classes), ref.key)
    except (DataError, OSError):
        raise DataError(CHANGED) from None
    if source.origin is None or source.origin.digest != ref.origin.digest:
        raise DataError(CHANGED)
    return source
