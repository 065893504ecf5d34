"""My digits: drawings kept on disk as labelled images (torchvision's ImageFolder layout), read back as a dataset
by every part of the engine, and moved in and out as zip archives that cannot write outside their collection."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import keep_some
from mnist_core.data.sources import DataError, load_source
from mnist_core.store import collections as my_digits
from mnist_core.store.collections import Collection, CollectionError, collection_names


def png_bytes(digit: int = 3) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40), 30 * digit, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


def test_kept_drawings_are_labelled_images_in_digit_folders(tmp_path):
    c = Collection("Ana", tmp_path)
    first = c.keep(np.zeros((280, 280, 4), np.uint8), 7)
    c.keep(np.full((50, 60), 200, np.uint8), 7)
    c.keep(np.zeros((100, 100, 3), np.uint8), 0)
    assert first.parent == tmp_path / "Ana" / "7" and first.suffix == ".png"
    assert Image.open(first).size == (280, 280)  # the original drawing, not the 28x28 version
    assert c.counts() == [1, 0, 0, 0, 0, 0, 0, 2, 0, 0]
    assert [d.digit for d in c.drawings()] == [7, 7, 0]  # oldest first
    c.delete(first)
    assert c.counts()[7] == 1 and not first.exists()
    assert collection_names(tmp_path) == ["Ana"]


def test_names_digits_and_paths_outside_the_collection_are_refused(tmp_path):
    for bad in ("", "../up", "a/b", ".hidden", "x" * 41, "a..b"):
        with pytest.raises(CollectionError, match="collection name"):
            Collection(bad, tmp_path)
    assert Collection("小明的数字", tmp_path).name == "小明的数字"  # any script's letters
    c = Collection("mine", tmp_path)
    with pytest.raises(CollectionError, match="0-9"):
        c.keep(np.zeros((28, 28), np.uint8), 10)
    with pytest.raises(CollectionError, match="uint8"):
        c.keep(np.zeros((28, 28), np.float32), 1)
    other = Collection("other", tmp_path).keep(np.zeros((28, 28), np.uint8), 1)
    with pytest.raises(CollectionError, match="not a drawing of collection mine"):
        c.delete(other)
    assert other.exists()


def test_a_collection_is_a_dataset_read_like_drawings(tmp_path, sample, trained_checkpoint):
    from mnist_core.learning.evaluation import evaluate
    from mnist_core.store.checkpoints import load_checkpoint

    c = Collection("real", tmp_path)
    labels = keep_some(c, sample, per_digit=5)
    (c.path / "4" / "notes.png").write_text("not an image")  # a damaged file is left out, with a notice
    (c.path / "README.txt").write_text("files outside digit folders are not images of digits")
    source = load_source(str(c.path))
    split = source.split("all")
    assert len(split) == len(labels) == 50 and sorted(split.labels.tolist()) == sorted(labels)
    assert split.images.shape[1:] == (28, 28) and split.images.dtype == torch.uint8
    assert source.test is None and "1 of 51 images" in source.notice
    model, ckpt = load_checkpoint(trained_checkpoint)
    assert evaluate(model, split, ckpt.config, "cpu").accuracy >= 0.8  # MNIST digits, once prepared, read as MNIST


def test_folders_without_digit_folders_or_readable_images_are_refused(tmp_path):
    (tmp_path / "empty" / "3").mkdir(parents=True)
    with pytest.raises(DataError, match="no readable images"):
        load_source(str(tmp_path / "empty"))
    (tmp_path / "cats").mkdir()
    with pytest.raises(DataError, match="no MNIST idx files"):  # not digit folders: read as an idx folder
        load_source(str(tmp_path / "cats"))


def test_zip_round_trip(tmp_path, sample):
    a = Collection("a", tmp_path)
    keep_some(a, sample, per_digit=2)
    archive = a.to_zip()
    assert sorted(zipfile.ZipFile(io.BytesIO(archive)).namelist())[0].startswith("a/0/")
    b = Collection("b", tmp_path)
    assert b.add_zip(archive).count == 20
    assert b.counts() == a.counts() == [2] * 10


def test_only_images_in_digit_folders_are_taken(tmp_path):
    c = Collection("c", tmp_path)
    added = c.add_zip(
        zip_of(
            {
                "mine/3/a.png": png_bytes(3),
                "3/b.png": png_bytes(3),  # digit folders at the top level too
                "mine/cats/c.png": png_bytes(),
                "mine/3/notes.txt": b"hello",
                "mine/3/fake.png": b"not an image",
                "readme.png": png_bytes(),
            }
        )
    )
    assert added.count == 2 and added.skipped == [] and c.counts()[3] == 2 and sum(c.counts()) == 2


@pytest.mark.parametrize(
    "archive, message",
    [
        (b"PK\x03\x04 this is not really a zip", "not a zip"),
        (b"plain text", "not a zip"),
        (zip_of({"../../evil/3/a.png": png_bytes()}), "outside the collection"),
        (zip_of({"/etc/3/a.png": png_bytes()}), "outside the collection"),
        (zip_of({"C:/x/3/a.png": png_bytes()}), "outside the collection"),
        (zip_of({"mine/cats/a.png": png_bytes()}), "no images in digit folders"),
        (zip_of({f"3/{i}.png": png_bytes() for i in range(6)}), "holds 6 files; the limit is 5"),
        (zip_of({"3/big.png": bytes(2_000)}), "one image may be at most"),
    ],
)
def test_bad_archives_are_refused_and_nothing_is_written(tmp_path, monkeypatch, archive, message):
    monkeypatch.setattr(my_digits, "MAX_ZIP_FILES", 5)
    monkeypatch.setattr(my_digits, "MAX_IMAGE_BYTES", 1_000)
    c = Collection("c", tmp_path)
    c.keep(np.zeros((28, 28), np.uint8), 1)
    with pytest.raises(CollectionError, match=message):
        c.add_zip(archive)
    assert c.counts() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_dir()) == ["1", "c"]


def test_an_absurdly_large_archive_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    monkeypatch.setattr(my_digits, "MAX_ZIP_BYTES", 100)
    with pytest.raises(CollectionError, match="the limit is"):
        Collection("c", tmp_path).add_zip(zip_of({"3/a.png": png_bytes()}))
    monkeypatch.setattr(my_digits, "MAX_ZIP_BYTES", 50_000_000)
    monkeypatch.setattr(my_digits, "MAX_UNPACKED_BYTES", 10)
    with pytest.raises(CollectionError, match="unpacks to more than"):
        Collection("c", tmp_path).add_zip(zip_of({"3/a.png": png_bytes()}))


def blank_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """A blank 7000x7000 PNG: 49 megapixels of decoding in 47 KB."""
    return blank_png(7000, 7000)


def test_an_image_too_big_to_decode_is_left_out_by_its_header_and_the_rest_added(tmp_path, huge_png, monkeypatch):
    assert len(huge_png) < 60_000
    decoded = []
    monkeypatch.setattr(my_digits, "load_image", lambda data: decoded.append(data) or np.zeros((40, 40), np.uint8))
    c = Collection("c", tmp_path)
    added = c.add_zip(zip_of({"3/a.png": png_bytes(3), "3/huge.png": huge_png, "4/b.png": png_bytes(4)}))
    assert added.count == 2 and c.counts()[3] == 1 and c.counts()[4] == 1
    assert added.skipped == ["3/huge.png is 7000x7000 pixels; one image may have at most 4,000,000 pixels"]
    assert huge_png not in decoded  # refused from its header: never decoded

    with pytest.raises(CollectionError, match=r"3/huge.png is 7000x7000 pixels; one image may have at most 4,000"):
        Collection("d", tmp_path).add_zip(zip_of({"3/huge.png": huge_png}))  # nothing else: nothing added, and why
    assert not (tmp_path / "d").exists()


def test_a_zip_has_a_pixel_budget_and_a_room_for_the_students_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(my_digits, "MAX_ZIP_PIXELS", 2 * 40 * 40)
    files = {f"{d}/{d}.png": png_bytes(d) for d in range(4)}
    added = Collection("c", tmp_path).add_zip(zip_of(files))
    assert added.count == 2
    assert added.skipped == ["2/2.png and the images after it: one zip may hold at most 3,200 pixels in all"]

    monkeypatch.setattr(my_digits, "MAX_ZIP_PIXELS", 10**9)
    added = Collection("d", tmp_path).add_zip(zip_of(files), room=3)
    assert added.count == 3 and Collection("d", tmp_path).counts()[:4] == [1, 1, 1, 0]
    assert added.skipped == ["3/3.png and the images after it: only 3 more drawings fit in what you may keep"]
