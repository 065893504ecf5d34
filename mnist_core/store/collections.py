"""My digits: people's own drawings kept as labelled images, one folder per named collection.

A collection is torchvision's ImageFolder layout, `<root>/<collection>/<digit>/<id>.png`, holding the original
drawing (the 28x28 version is derived when it is read), so a collection is a dataset everywhere: data.load_source
reads any folder in that layout.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from mnist_core.data.preprocess import ImageError, load_image
from mnist_core.data.sources import IMAGE_SUFFIXES, REPO_ROOT
from mnist_core.i18n import _
from mnist_core.store.owners import Person, may_manage

NAME_RULE = re.compile(r"^\w[\w .-]{0,39}$")  # letters of any script, digits, space, dot, dash, underscore
DEFAULT_NAME = "my-digits"
# An upload is a digit collection, not an archive of anything: these bound what one zip may make us read or write.
MAX_ZIP_BYTES = 50_000_000
MAX_ZIP_FILES = 5_000
MAX_IMAGE_BYTES = 5_000_000  # one image, uncompressed
MAX_UNPACKED_BYTES = 200_000_000
# Pixels, read from each image's header before it is decoded: a blank 7000x7000 PNG is 47 KB but 49 megapixels
# of decoding. A drawing is 280x280 (0.08 megapixels), so the budget holds an exported collection of 2,500.
MAX_IMAGE_PIXELS = 4_000_000
MAX_ZIP_PIXELS = 200_000_000
OWNER_FILE = ".owner.json"  # who started a collection (a dot file: no dataset reader takes it for an image)


class CollectionError(Exception):
    """A collection name, drawing or archive that cannot be used; the message says why in one line."""


def default_root() -> Path:
    """Where collections live: $DIGIT_LAB_MY_DIGITS, else ./my_digits in the repo."""
    return Path(os.environ.get("DIGIT_LAB_MY_DIGITS", REPO_ROOT / "my_digits"))


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_RULE.match(name) or ".." in name:
        raise CollectionError(
            _(
                "a collection name is 1-40 letters, digits, spaces, dots, dashes or underscores, starting with a "
                "letter or digit (got {name})"
            ).format(name=repr(name[:60]))
        )
    return name


def collection_names(root: str | Path | None = None) -> list[str]:
    root = Path(root) if root else default_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME_RULE.match(p.name))


@dataclass(frozen=True)
class ZipAdded:
    """What a zip added: how many drawings, and one line for each image left out because of its size."""

    count: int
    skipped: list[str]


@dataclass(frozen=True)
class Drawing:
    path: Path
    digit: int


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def _new_file_name() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S-%f}-{secrets.token_hex(2)}.png"  # sorts by when it was kept


def _png(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keep-", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)  # a reader never sees half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Collection:
    """One person's labelled drawings on disk."""

    def __init__(self, name: str, root: str | Path | None = None):
        self.name = check_name(name)
        self.path = (Path(root) if root else default_root()) / self.name

    def owner(self) -> Person | None:
        """Who started this collection (the first to keep a drawing in it), or None when nobody is on record."""
        try:
            data = json.loads((self.path / OWNER_FILE).read_text())
            return Person(str(data["id"]), str(data.get("name") or ""))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def may_change(self, by: Person | None) -> bool:
        """Whether `by` may add to or delete from this collection (anyone may look at it and train on it): it is
        theirs or nobody's yet, or they are the host. None stands for the command line, which may change anything."""
        owner = self.owner()
        return by is None or owner is None or may_manage(by, owner.id)

    def check_may_change(self, by: Person | None) -> None:
        """Refuse, with one line, a change `may_change` does not allow."""
        if self.may_change(by):
            return
        owner = self.owner()
        raise CollectionError(
            _("{name} is {owner}'s collection: you can look at it and use it, but not change it").format(
                name=self.name, owner=owner.name or _("someone else")
            )
        )

    def _claim(self, by: Person | None) -> None:
        if by is not None and by.id and self.owner() is None:
            _write_atomic(self.path / OWNER_FILE, json.dumps({"id": by.id, "name": by.name}).encode())

    def keep(self, image: np.ndarray, digit: int, by: Person | None = None) -> Path:
        """Save a drawing (any grayscale/RGB/RGBA uint8 array) as an example of `digit`; `by`, when given, must be
        the collection's owner (or the host), and becomes its owner if it has none."""
        self.check_may_change(by)
        if not (isinstance(digit, (int, np.integer)) and 0 <= int(digit) <= 9):
            raise CollectionError(_("a digit is 0-9 (got {digit})").format(digit=repr(digit)))
        a = np.asarray(image)
        if a.dtype != np.uint8 or a.ndim not in (2, 3) or min(a.shape[:2]) < 8:
            raise CollectionError(
                _("expected a uint8 image of at least 8x8 pixels, got {dtype} {shape}").format(
                    dtype=a.dtype, shape=a.shape
                )
            )
        path = self.path / str(int(digit)) / _new_file_name()
        _write_atomic(path, _png(a))
        self._claim(by)
        return path

    def drawings(self) -> list[Drawing]:
        """Every image in a digit folder, oldest first (file names start with the time they were kept)."""
        found = []
        for d in range(10):
            folder = self.path / str(d)
            if folder.is_dir():
                found += [Drawing(p, d) for p in folder.iterdir() if p.is_file() and _is_image_name(p.name)]
        return sorted(found, key=lambda x: (x.path.name, x.digit))

    def counts(self) -> list[int]:
        per_digit = [0] * 10
        for drawing in self.drawings():
            per_digit[drawing.digit] += 1
        return per_digit

    def delete(self, path: str | Path, by: Person | None = None) -> None:
        """Remove one drawing; only a file inside this collection's digit folders, and only by its owner."""
        self.check_may_change(by)
        path = Path(path)
        if path.parent.parent.resolve() != self.path.resolve() or path.parent.name not in [str(d) for d in range(10)]:
            raise CollectionError(
                _("{file} is not a drawing of collection {name}").format(file=path.name, name=self.name)
            )
        path.unlink(missing_ok=True)

    def to_zip(self) -> bytes:
        """The whole collection as a zip in the same layout (`<name>/<digit>/<file>`)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for drawing in self.drawings():
                z.write(drawing.path, f"{self.name}/{drawing.digit}/{drawing.path.name}")
        return buffer.getvalue()

    def add_zip(self, data: bytes, by: Person | None = None, room: int | None = None) -> ZipAdded:
        """Add the images in a zip's digit folders (`[any/]<digit>/<file>`), at most `room` of them (None: all);
        says how many were added and which images were left out for their size (over MAX_IMAGE_PIXELS, or past the
        zip's MAX_ZIP_PIXELS) or for want of room.

        Everything is checked before anything is written, so a refused archive leaves the collection as it was.
        Files outside digit folders and files that are not images are skipped; an archive with paths leaving
        the collection, too many files or absurd sizes is refused whole.
        """
        self.check_may_change(by)
        images, skipped = _images_in_zip(data, room)
        for digit, content in images:
            _write_atomic(self.path / str(digit) / _new_file_name(), content)
        if images:
            self._claim(by)
        return ZipAdded(len(images), skipped)

    def remove(self, by: Person | None = None) -> None:
        """Delete the whole collection."""
        self.check_may_change(by)
        shutil.rmtree(self.path, ignore_errors=True)


def _pixels(content: bytes) -> tuple[int, int] | None:
    """An image's width and height from its header alone (Pillow decodes nothing until asked); None if unreadable."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError):
        return None


def _images_in_zip(data: bytes, room: int | None = None) -> tuple[list[tuple[int, bytes]], list[str]]:
    """(digit, PNG bytes) for each image in a digit folder of the zip, after checking the whole archive, and a line
    for each image left out for its size."""
    if len(data) > MAX_ZIP_BYTES:
        raise CollectionError(
            _("the archive is {size:.0f} MB; the limit is {limit:.0f} MB").format(
                size=len(data) / 1e6, limit=MAX_ZIP_BYTES / 1e6
            )
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise CollectionError(_("this file is not a zip archive")) from None
    if len(members) > MAX_ZIP_FILES:
        raise CollectionError(
            _("the archive holds {n:,} files; the limit is {limit:,}").format(n=len(members), limit=MAX_ZIP_FILES)
        )
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise CollectionError(
            _("the archive unpacks to more than {limit:.0f} MB; refused").format(limit=MAX_UNPACKED_BYTES / 1e6)
        )
    wanted = []
    for m in members:
        path = PurePosixPath(m.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise CollectionError(
                _("the archive has a path outside the collection ({path}); refused").format(path=m.filename[:80])
            )
        if m.is_dir() or len(path.parts) < 2 or path.parent.name not in [str(d) for d in range(10)]:
            continue  # only images in digit folders are taken
        if not _is_image_name(path.name):
            continue
        if m.file_size > MAX_IMAGE_BYTES:
            raise CollectionError(
                _("{file} is {size:.0f} MB; one image may be at most 5 MB").format(
                    file=m.filename[:80], size=m.file_size / 1e6
                )
            )
        wanted.append((int(path.parent.name), m))
    images, skipped, budget = [], [], MAX_ZIP_PIXELS
    for digit, m in wanted:
        if room is not None and len(images) >= room:
            skipped.append(
                _("{file} and the images after it: only {room:,} more drawings fit in what you may keep").format(
                    file=m.filename[:80], room=room
                )
            )
            break
        try:
            content = archive.read(m)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            continue  # a damaged file in a digit folder is skipped, like any other non-image
        size = _pixels(content)
        if size is None:
            continue
        width, height = size
        if width * height > MAX_IMAGE_PIXELS:
            skipped.append(
                _("{file} is {width}x{height} pixels; one image may have at most {limit:,} pixels").format(
                    file=m.filename[:80], width=width, height=height, limit=MAX_IMAGE_PIXELS
                )
            )
            continue
        if width * height > budget:
            skipped.append(
                _("{file} and the images after it: one zip may hold at most {limit:,} pixels in all").format(
                    file=m.filename[:80], limit=MAX_ZIP_PIXELS
                )
            )
            break
        budget -= width * height
        try:
            rgba = load_image(content)
        except ImageError:
            continue
        images.append((digit, _png(rgba)))  # stored as PNG whatever it came as
    if not images:
        raise CollectionError(
            "; ".join(skipped) or _("the archive has no images in digit folders (0/ to 9/), so nothing was added")
        )
    return images, skipped
