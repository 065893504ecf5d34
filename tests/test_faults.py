"""Faults on the real app under `streamlit run`: the server stopped with Ctrl-C mid-run, the browser tab refreshed
mid-run (closed mid-run: tests/test_fresh_install.py), a models folder that holds things that are not models. Nothing may be lost,
nothing half-written may be listed, and the next start lists every complete model."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

import pytest
import torch
from playwright.sync_api import expect

from harness.browser import (
    CONNECTED,
    LONG_RUN,
    LOSS_POINTS,
    Server,
    assert_no_exception,
    goto,
    new_page,
    run_id,
)
from mnist_core.classroom.jobs import JobQueue, Status
from mnist_core.learning.recipes import recipe_config
from mnist_core.store.checkpoints import list_checkpoints, load_checkpoint, rename_checkpoint, skipped_entries

RUNNING = "[data-testid=stMain] [data-testid=stProgress]"
TEST_ACCURACY = "[data-testid=stMetric]:has-text('Test accuracy') [data-testid=stMetricValue]"
FOREIGN = ("notes.txt", "holiday-photos", "half-copied")


def weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0].state_dict()


def start_run(page, server: Server, settings: str) -> str:
    """Open Train with `settings` in the link, press Start, wait until the run is live; its URL (?run=<id>)."""
    goto(page, server, f"train?{settings}")
    page.locator(".st-key-train_start button").first.click()
    expect(page.locator(RUNNING)).to_contain_text("images/s", timeout=120_000)
    assert run_id(page.url)
    return page.url


def model_picker(page) -> list[str]:
    """The names in Evaluate's "Saved model" picker, as a user sees them when opening it."""
    page.locator(".st-key-eval_model").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    names = [label.rsplit(" · ", 1)[0] for label in options.all_inner_texts()]  # "<name> · <created>"
    page.keyboard.press("Escape")
    return names


def test_a_queue_shut_down_mid_run_stops_the_run_and_saves_what_it_learned(sample, tmp_path, one_cpu_thread):
    """What the app's job queue does at interpreter exit (Ctrl-C, SIGTERM), on the engine alone."""
    queue = JobQueue(tmp_path)
    job = queue.submit(recipe_config("fast", epochs=30), sample)
    while job.progress() == 0:  # until its first step (a run stopped before it saves nothing); a failed run ends it
        assert job.active, job.error
        time.sleep(0.05)
    assert job.status == Status.RUNNING
    queue.shutdown()
    assert job.status == Status.STOPPED
    [saved] = list_checkpoints(tmp_path)
    assert saved.meta["metrics"]["stopped"] is True and str(saved.path) == job.summary.checkpoint
    load_checkpoint(saved.path)
    with pytest.raises(RuntimeError, match="shutting down"):
        queue.submit(recipe_config("fast", epochs=1), sample)


@pytest.fixture(scope="module")
def after_ctrl_c(tmp_path_factory, trained_checkpoint, browser):
    """Two complete models; a server on them stopped with Ctrl-C (SIGINT) in the middle of a training run
    started in the browser (and refreshed there once, mid-run); then foreign things put in the folder and a
    fresh server started on it."""
    models = tmp_path_factory.mktemp("ctrl-c") / "models"
    for name in ("first-model", "second-model"):
        shutil.copytree(trained_checkpoint, models / name)
        rename_checkpoint(models / name, f"kept {name}")
    before = {c.run_id: weights(c.path) for c in list_checkpoints(models)}
    assert len(before) == 2

    server = Server(models)
    page = new_page(browser)
    try:
        url = start_run(page, server, LONG_RUN)  # only Ctrl-C ends it
        page.reload()  # a refresh mid-run finds the run again through its link, live
        page.wait_for_selector(CONNECTED, timeout=120_000)
        expect(page.locator(RUNNING)).to_contain_text("images/s", timeout=120_000)
        page.wait_for_function(f"({LOSS_POINTS})() > 0", timeout=120_000)  # the model is learning
        refreshed = {"same_run": run_id(page.url) == run_id(url), "finished": page.locator(TEST_ACCURACY).count() > 0}
        server.proc.send_signal(signal.SIGINT)
        try:
            exit_code = server.proc.wait(120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not stop within 120 s of Ctrl-C: {server.output()}")
    finally:
        page.context.close()
        server.stop()
    facts = {
        "models": models,
        "before": before,
        "exit_code": exit_code,
        "log": server.output(),
        "after_ctrl_c": sorted(p.name for p in models.iterdir()),
        "refreshed": refreshed,
    }

    # Things a user or another program may leave in the folder, and what a crash mid-save leaves behind.
    (models / "notes.txt").write_text("buy milk\n")
    (models / "holiday-photos").mkdir()
    (models / "holiday-photos" / "beach.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    (models / "half-copied").mkdir()
    shutil.copy(models / "first-model" / "meta.json", models / "half-copied" / "meta.json")
    (models / ".saving-x1y2z3").mkdir()
    (models / ".saving-x1y2z3" / "weights.safetensors").write_bytes(b"\0" * 100)
    restarted = Server(models)
    yield {**facts, "server": restarted}
    restarted.stop()


@pytest.mark.browser
def test_ctrl_c_mid_run_stops_it_cleanly_loses_nothing_and_the_next_start_lists_every_model(after_ctrl_c, page):
    models, before = after_ctrl_c["models"], after_ctrl_c["before"]
    assert after_ctrl_c["refreshed"] == {"same_run": True, "finished": False}  # live again after a refresh
    # A clean exit, not an abort of the process with the run's thread inside torch (exit code 134).
    assert after_ctrl_c["exit_code"] == 0, after_ctrl_c["log"]
    assert "terminate called" not in after_ctrl_c["log"]
    # The run was stopped like the Stop button does: what it learned is saved as one more complete model,
    # marked as stopped. Nothing else is in the folder: no half-written or temporary checkpoint.
    listed = {c.run_id: c for c in list_checkpoints(models)}
    [new] = set(listed) - set(before)
    assert after_ctrl_c["after_ctrl_c"] == sorted(listed)
    assert listed[new].meta["metrics"]["stopped"] is True and listed[new].name.endswith("(stopped)")
    assert listed[new].config.epochs == 30 and listed[new].meta["metrics"]["epochs_done"] < 30
    load_checkpoint(listed[new].path)
    for name, tensors in before.items():  # the earlier models: the very same weights
        again = weights(models / name)
        assert again.keys() == tensors.keys() and all(torch.equal(again[k], tensors[k]) for k in tensors)

    # A fresh server on the same folder (now also holding foreign things) lists exactly the complete models.
    goto(page, after_ctrl_c["server"], "evaluate")
    assert_no_exception(page)
    expect(page.locator("[data-testid=stMetric]", has_text="Accuracy")).to_be_visible(timeout=120_000)
    assert sorted(model_picker(page)) == sorted(c.name for c in listed.values())
    assert {"kept first-model", "kept second-model"} < set(model_picker(page))
    assert_no_exception(page)


@pytest.mark.browser
def test_foreign_things_in_the_models_folder_get_a_note(after_ctrl_c, page):
    assert sorted(skipped_entries(after_ctrl_c["models"])) == sorted(FOREIGN)
    goto(page, after_ctrl_c["server"], "evaluate")
    expect(page.locator("[data-testid=stMetric]", has_text="Accuracy")).to_be_visible(timeout=120_000)
    text = page.locator("[data-testid=stApp]").inner_text()
    assert all(name in text for name in FOREIGN), "no note names the folder entries that were skipped"
