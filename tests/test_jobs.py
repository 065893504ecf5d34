"""The app's background training queue and the chart curves built from its events."""

import numpy as np

from mnist_core.checkpoints import list_checkpoints
from mnist_core.history import curves, format_eta
from mnist_core.jobs import JobQueue
from mnist_core.recipes import recipe_config


def tiny(**kw):
    return recipe_config("fast", **{"epochs": 2, "train_size": 800, "val_size": 200, **kw})


def test_jobs_run_one_at_a_time_in_order_and_save_checkpoints(sample, tmp_path):
    queue = JobQueue(tmp_path)
    first = queue.submit(tiny(), sample, owner="alice")
    second = queue.submit(tiny(seed=1), sample, owner="bob")
    assert second.status == "queued" and queue.position(second) >= 1
    assert queue.wait(second, 120)
    assert (first.status, second.status) == ("done", "done")
    assert first.finished <= second.finished
    saved = {str(c.path) for c in list_checkpoints(tmp_path)}
    assert {first.summary.checkpoint, second.summary.checkpoint} == saved
    # each owner sees only their own run's numbers
    assert first.snapshot().owner == "alice" and second.snapshot().owner == "bob"
    assert first.summary.accuracy > 0.5


def test_stop_running_job_and_drop_queued_one(sample, tmp_path):
    queue = JobQueue(tmp_path)
    running = queue.submit(tiny(epochs=30, train_size=0), sample)
    waiting = queue.submit(tiny(), sample)
    while not running.history or running.history[-1].step < 3:
        queue.wait(running, 0.05)
    queue.stop(waiting.id)
    assert waiting.status == "stopped"  # never started
    queue.stop(running.id)
    assert queue.wait(running, 10)
    assert running.status == "stopped" and running.summary.stopped
    # a stopped run is still evaluated and saved, marked as stopped
    (ckpt,) = list_checkpoints(tmp_path)
    assert ckpt.meta["metrics"]["stopped"] is True and "(stopped)" in ckpt.name


def test_a_failing_job_reports_its_error_and_the_queue_keeps_working(sample, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    broken = JobQueue(blocker / "models")  # saving cannot work: the parent is a file
    job = broken.submit(tiny(epochs=1), sample)
    broken.wait(job, 60)
    assert job.status == "failed" and "could not save" in job.error
    after = broken.submit(tiny(epochs=1), sample)
    broken.wait(after, 60)
    assert after.status == "failed"  # the worker survived and ran the next job


def test_curves_from_a_real_history(sample, tmp_path):
    queue = JobQueue(tmp_path)
    job = queue.submit(tiny(epochs=3), sample)
    queue.wait(job, 120)
    c = curves(job.snapshot().history)
    assert list(c.epoch) == [0, 1, 2, 3]
    assert np.isnan(c.train_acc[0]) and 0.0 < c.val_acc[0] < 0.3  # before training: about chance
    assert c.val_acc[-1] > c.val_acc[0] + 0.4  # it learned
    assert c.epoch_loss[1] > c.epoch_loss[3]  # loss goes down epoch to epoch
    assert len(c.step) == len(c.loss) == len(c.loss_smooth) and c.step[-1] == c.epoch_step[-1]
    thin = curves(job.snapshot().history, max_points=5)
    assert len(thin.step) <= 5 and thin.step[-1] == c.step[-1]


def test_format_eta():
    assert format_eta(None) == "—"
    assert format_eta(42.4) == "42s"
    assert format_eta(125) == "2m 05s"
