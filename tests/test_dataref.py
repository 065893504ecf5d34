"""A run's dataset travels to this computer's workers as a small reference, read there once and kept (the last
two), and whole where a worker could not read the same: a copy with other arrays, a My digits collection, a lab
cluster. A worker that reads files no longer holding what the app read fails the run with a clear message."""

import pickle
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch

from mnist_core.classroom import dataref
from mnist_core.classroom.cluster import Cluster, ClusterSettings
from mnist_core.classroom.dataref import CACHED, CHANGED, DataRef, for_worker, resolve
from mnist_core.classroom.jobs import JobQueue, Status
from mnist_core.data.sources import DataError, load_folder, load_source
from mnist_core.learning.recipes import recipe_config


def write_idx(folder, images: np.ndarray, labels: np.ndarray, prefix: str = "t10k") -> None:
    """MNIST's idx format: a magic number, the sizes, then the bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 0x803, len(images), 28, 28) + images.tobytes()
    )
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, len(labels)) + labels.tobytes())


def digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


@pytest.fixture(autouse=True)
def fresh_cache():
    dataref._cache.clear()
    yield
    dataref._cache.clear()


def test_the_apps_own_dataset_travels_as_a_small_reference_that_reads_back_the_same_arrays(sample):
    sent = for_worker(sample, shares_files=True)
    assert isinstance(sent, DataRef)
    assert len(pickle.dumps(sent)) < 2_000 < len(pickle.dumps(sample)) // 1000  # bytes, not megabytes
    read = resolve(pickle.loads(pickle.dumps(sent)))
    assert (read.key, read.title, read.classes) == (sample.key, sample.title, sample.classes)
    for ours, theirs in [(sample.train, read.train), (sample.test, read.test)]:
        assert torch.equal(ours.images, theirs.images) and torch.equal(ours.labels, theirs.labels)
        assert ours.name == theirs.name
    assert resolve(sent) is read  # read once per worker process, then kept


def test_what_a_worker_could_not_read_the_same_travels_whole(sample, bubble_digits):
    assert for_worker(sample, shares_files=False) is sample  # a lab cluster's computers may not hold the files
    fewer = replace(sample, train=sample.train.subset(torch.arange(100)))  # other arrays, the same origin
    assert for_worker(fewer, shares_files=True) is fewer
    collection = load_source(str(bubble_digits))  # My digits: changes while the server runs
    assert for_worker(collection, shares_files=True) is collection
    assert resolve(collection) is collection


def test_a_worker_keeps_only_the_last_datasets_it_read(tmp_path):
    refs = []
    for i in range(CACHED + 1):
        write_idx(tmp_path / str(i), *digits(20, i))
        refs.append(for_worker(load_folder(tmp_path / str(i)), shares_files=True))
    read = [resolve(ref) for ref in refs]
    assert list(dataref._cache) == refs[1:]  # the oldest was let go
    assert resolve(refs[-1]) is read[-1] and resolve(refs[0]) is not read[0]  # read again when needed again


def test_files_that_changed_since_the_app_read_them_fail_the_run_with_a_clear_message(tmp_path):
    write_idx(tmp_path, *digits(20, 0))
    sent = for_worker(load_folder(tmp_path), shares_files=True)
    write_idx(tmp_path, *digits(20, 1))  # replaced on disk while the server runs
    with pytest.raises(DataError, match="files changed on this computer after the app read them"):
        resolve(sent)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).unlink()
    with pytest.raises(DataError) as gone:
        resolve(sent)
    assert str(gone.value) == CHANGED


def test_runs_on_the_embedded_cluster_read_the_dataset_once_per_worker(sample, bubble_digits, tmp_path):
    from mnist_core.classroom.worker import warm_up

    def cached() -> list[str]:
        return [ref.key for ref in dataref._cache]

    cluster = Cluster(ClusterSettings(workers=1))
    try:
        cluster.wait_for_workers(timeout=240)
        cluster.client.run(warm_up)
        queue = JobQueue(tmp_path, cluster=cluster)
        config = recipe_config("fast", epochs=1, train_size=800, val_size=200)
        jobs = []
        for source in (sample, sample, load_source(str(bubble_digits))):
            jobs.append(queue.submit(config, source, split=source.training_split))
            assert queue.wait(jobs[-1], 180) and jobs[-1].status == Status.DONE, jobs[-1].error
        assert jobs[0].summary.accuracy == jobs[1].summary.accuracy  # the same data, the same seed
        assert jobs[0].summary.n_train == 800 and jobs[2].summary.n_train > 0
        [kept] = cluster.client.run(cached).values()
        assert kept == ["mnist-sample"]  # the sample once; the collection came whole and was not kept
    finally:
        cluster.close()
