"""The app shell: home page, navigation to every page, the shared sidebar."""

import time
from pathlib import Path

import pytest
import tomllib

from conftest import open_page
from mnist_core.classroom.jobs import Status
from ui import server


def test_home_explains_the_app_and_links_every_page(app):
    app.run()
    assert not app.exception
    assert "Digit Lab" in app.title[0].value
    text = " ".join(m.value for m in app.markdown)
    assert "train" in text.lower() and "draw" in text.lower()


def test_sidebar_shows_dataset_choice_and_device(app):
    app.run()
    box = app.sidebar.selectbox(key="dataset")
    assert set(box.options) >= {"MNIST (70,000 handwritten digits)", "MNIST sample (5,000 real digits, works offline)"}
    device_line = next(c.value for c in app.sidebar.caption if "Computing on" in c.value)
    assert "bfloat16 (" in device_line or "float32 (" in device_line  # the precision training uses, and why


def test_every_page_opens_without_exception(app):
    for page in ("explore", "train", "evaluate", "draw"):
        open_page(app, page)


def sidebar_text(at) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_sidebar_names_the_data_in_use_when_mnist_falls_back_to_the_sample(app, monkeypatch, tmp_path):
    from torchvision.datasets import MNIST

    monkeypatch.setenv("DIGIT_LAB_DATA", str(tmp_path / "no-data"))  # no MNIST files here
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # and its download refused at once (closed port)
    app.session_state["dataset"] = "mnist"
    at = open_page(app, "explore")
    assert "Full MNIST is not on this computer" in " ".join(i.value for i in at.info)
    assert "In use instead: **MNIST sample**, 5,000 images (MNIST could not be loaded)" in sidebar_text(at)
    at.sidebar.selectbox(key="dataset").set_value("mnist-sample").run()  # what the box names is what is used
    assert "In use" not in sidebar_text(at)


def wait_for_first_step(job, timeout: float = 120) -> None:
    """A run stopped before its first step saves nothing, by design: stop it only once it has learned a little."""
    deadline = time.time() + timeout
    while job.progress() == 0 and job.active and time.time() < deadline:
        time.sleep(0.05)
    assert job.status == Status.RUNNING and job.progress() > 0, job.status


def test_sidebar_says_how_the_last_run_ended_stopped_or_failed(app, sample, monkeypatch, tmp_path):
    from mnist_core.learning.recipes import recipe_config
    from ui import runs

    app.run()
    queue = runs.job_queue()  # the server's queue: a run started from any page or session
    job = queue.submit(recipe_config("fast", epochs=30, train_size=800, val_size=200), sample)
    wait_for_first_step(job)
    queue.stop(job.id)
    assert queue.wait(job, 120) and job.status == Status.STOPPED
    app.run()
    assert not app.exception
    assert f"Last run: stopped early, {job.summary.accuracy:.2%} test accuracy" in sidebar_text(app)

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DIGIT_LAB_MODELS", str(blocker / "models"))  # its checkpoint cannot be saved
    failed = queue.submit(recipe_config("fast", epochs=1, train_size=500, val_size=0), sample)
    assert queue.wait(failed, 120) and failed.status == Status.FAILED
    app.run()
    assert not app.exception
    assert "Last run failed: could not save the checkpoint in" in sidebar_text(app)
    assert "stopped early" not in sidebar_text(app)  # only the latest run is described


def test_every_upload_has_a_limit_within_the_servers_cap(app, models_dir):
    """Each page's uploader names its own limit; the server's cap (.streamlit/config.toml) is the largest of them, so
    no page's limit is cut short by it and nothing bigger reaches the server."""
    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == max(server.PHOTO_MB, server.MODEL_MB, server.ZIP_MB)
    assert config["server"]["address"] == "localhost"  # this computer only, unless the host says otherwise
    # The pages whose uploader shows without a saved model; Draw's photo limit is checked in a real browser
    # (tests/test_browser_draw.py), with the refusal a user sees.
    pages = ("evaluate", "my_digits")
    limits = {name: [u.proto.max_upload_size_mb for u in open_page(app, name).get("file_uploader")] for name in pages}
    assert limits == {"evaluate": [server.MODEL_MB], "my_digits": [server.ZIP_MB]}


@pytest.mark.parametrize(
    "address, setting, shared, line",
    [
        ("localhost", None, False, "On this computer only"),
        ("127.0.0.1", "1", True, "Shared server"),  # a reverse proxy in front of 127.0.0.1
        ("0.0.0.0", None, True, "Shared server"),
        ("127.0.0.2", None, True, "Shared server"),  # loopback, but not this computer's usual address
        ("0.0.0.0", "0", False, "Not shared (DIGIT_LAB_SHARED=0)"),  # the host's own devices only
        ("localhost", "yes", True, "Shared server"),  # a value it does not know errs on the safe side
    ],
)
def test_shared_mode_follows_the_address_unless_the_host_says(address, setting, shared, line, monkeypatch):
    from streamlit import config

    before = config.get_option("server.address")
    if setting is None:
        monkeypatch.delenv(server.SHARED_ENV, raising=False)
    else:
        monkeypatch.setenv(server.SHARED_ENV, setting)
    config.set_option("server.address", address)
    try:
        assert server.shared_server() is shared and line in server.mode_line()
    finally:
        config.set_option("server.address", before)
