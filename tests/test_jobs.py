"""The app's training queue on a real Dask cluster (an embedded LocalCluster of two worker processes, and a
`dask scheduler` + `dask worker` started here on 127.0.0.1 over TLS), and the chart curves built from its events."""

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from harness import lab_cluster
from mnist_core.classroom.cluster import Cluster, ClusterError, ClusterSettings
from mnist_core.classroom.jobs import KILLED, KILLED_SAVED, BusyError, Job, JobQueue, NotYoursError, Status
from mnist_core.classroom.keys import make_keys
from mnist_core.learning.recipes import recipe_config
from mnist_core.store.checkpoints import OwnerRecord, list_checkpoints, load_checkpoint, pack_folder, save_packed
from mnist_core.store.owners import Person
from ui.history import curves, format_eta

REPO = Path(__file__).resolve().parent.parent


def tiny(**kw):
    return recipe_config("fast", **{"epochs": 2, "train_size": 800, "val_size": 200, **kw})


def long_run(**kw):
    """A run only Stop ends on any machine: the most epochs at the smallest batch (its tests stop it early)."""
    return recipe_config("fast", **{"epochs": 50, "batch_size": 8, "val_size": 200, **kw})


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on this computer: two runs at once, as with DIGIT_LAB_WORKERS=2. Both are up, with the
    engine loaded, before the first test (as the app warms its cluster up), so the tests' waits are for runs."""
    from mnist_core.classroom.worker import warm_up

    c = Cluster(ClusterSettings(workers=2))
    c.wait_for_workers(timeout=240)
    c.client.run(warm_up)
    yield c
    c.close()


def until(condition, timeout: float = 120) -> None:
    """Wait for a state the queue reaches (a run's first steps, a worker's restart)."""
    end = time.time() + timeout
    while not condition():
        assert time.time() < end, "the state was not reached"
        time.sleep(0.05)


def test_two_runs_train_at_once_a_third_waits_and_all_are_saved_with_their_events_in_order(sample, tmp_path, cluster):
    queue = JobQueue(tmp_path, cluster=cluster)
    # Two runs only Stop ends fill both workers, so the third must wait, on a machine of any speed.
    jobs = [queue.submit(long_run(seed=i), sample, owner=f"student-{i}", owner_name=f"S{i}") for i in range(2)]
    jobs.append(queue.submit(tiny(epochs=3), sample, owner="student-2", owner_name="S2"))
    until(lambda: all(j.history and j.history[-1].step >= 3 for j in jobs[:2]))  # learning: a stop saves
    assert jobs[2].status == Status.QUEUED, [(j.status, j.error) for j in jobs]
    assert queue.position(jobs[2]) == 1 and len(queue.running_jobs()) == 2
    for j in jobs[:2]:
        queue.stop(j.id)
    assert all(queue.wait(j, 120) for j in jobs)  # the third started by itself once a worker was free
    assert [j.status for j in jobs] == [Status.STOPPED, Status.STOPPED, Status.DONE], [j.error for j in jobs]
    assert {str(c.path) for c in list_checkpoints(tmp_path)} == {j.summary.checkpoint for j in jobs}
    assert [e.epoch for e in jobs[2].history if e.kind == "epoch"] == [0, 1, 2, 3]
    for j in jobs:
        steps = [e.step for e in j.history if e.kind == "step"]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        assert j.snapshot().owner == j.owner
        _model, saved = load_checkpoint(j.summary.checkpoint)
        assert saved.record.owner == OwnerRecord(j.owner, j.owner_name)  # the model is its maker's


_writes: list[tuple[str, str]] | None = None  # what this process writes while seen_writes() is on


def _audit(event: str, args: tuple) -> None:
    if _writes is None:
        return
    if event == "open" and not isinstance(args[0], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        _writes.append((event, str(args[0])))
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree", "shutil.copyfile"):
        _writes.append((event, str(args[0])))


sys.addaudithook(_audit)  # an audit hook cannot be removed: _writes switches it on and off


@contextmanager
def seen_writes():
    """Every file this process opens for writing, and every folder it makes, renames or removes, while inside."""
    global _writes
    _writes = []
    try:
        yield _writes
    finally:
        _writes = None


class FakeWorker:
    """What worker.run asks of Dask's get_worker(): somewhere to send its events."""

    def __init__(self):
        self.messages = []

    def log_event(self, topic, message):
        self.messages.append(message)


def test_a_finished_run_is_serialised_once_the_worker_writes_nothing_and_the_app_writes_one_folder(
    sample, trained_checkpoint, bubble_digits, tmp_path, monkeypatch, one_cpu_thread
):
    import distributed

    from mnist_core.classroom import worker
    from mnist_core.data.sources import load_source

    monkeypatch.setattr(distributed, "get_worker", FakeWorker)  # worker.run here, in this process, to watch it
    monkeypatch.setattr("mnist_core.classroom.cluster.prepare_worker_process", lambda: None)
    models = tmp_path / "models"
    parent = pack_folder(trained_checkpoint)  # what the queue sends to fine-tune: read, not written
    for request, source in [
        (worker.RunRequest("train-1", tiny(epochs=1)), sample),
        (worker.RunRequest("tune-1", tiny(epochs=1), parent=parent), load_source(str(bubble_digits))),
    ]:
        with seen_writes() as on_worker:
            result = worker.run(request, source)
        assert on_worker == [] and result.checkpoint is not None  # not even a temporary file
        with seen_writes() as in_app:
            folder = save_packed(result.checkpoint, models, OwnerRecord("alice", "Alice"))
        assert sorted(Path(path).name for event, path in in_app if event == "open")[-1] == "weights.safetensors"
        assert len([path for event, path in in_app if event == "open"]) == 2  # the weights, then the record
        assert (folder / "weights.safetensors").read_bytes() == result.checkpoint.weights  # as sent, byte for byte
        _model, saved = load_checkpoint(folder)
        assert saved.record.owner == OwnerRecord("alice", "Alice")
    tuned = load_checkpoint(folder)[1].record.finetune
    assert tuned.parent == trained_checkpoint.name and result.finetune.personal_after == tuned.personal_after
    assert len(list_checkpoints(models)) == 2 and len(os.listdir(models)) == 2  # one folder each, nothing left over


def test_one_session_has_one_run_at_a_time(sample, tmp_path, cluster):
    queue = JobQueue(tmp_path, cluster=cluster)
    first = queue.submit(tiny(epochs=1), sample, owner="alice")
    with pytest.raises(BusyError, match="already have a run"):
        queue.submit(tiny(epochs=1), sample, owner="alice")
    other = queue.submit(tiny(epochs=1), sample, owner="bob")  # someone else may
    assert queue.wait(first, 120) and queue.wait(other, 120)
    again = queue.submit(tiny(epochs=1), sample, owner="alice")  # and alice again, once hers is over
    assert queue.wait(again, 120) and again.status == Status.DONE, again.error


def test_only_whoever_started_a_run_or_the_host_may_stop_it(sample, tmp_path):
    """The rule holds in the queue itself, not only on the page: a waiting run (no cluster needed) is refused to
    another student and stopped by its owner; the host's admin token, or the host's own code (by=None), stops any."""
    queue = JobQueue(tmp_path, cluster=object())  # never reached: these runs are not sent to a worker
    runs = {}
    for owner in ("alice", "bob", ""):
        runs[owner] = Job(tiny(), sample, owner=owner, owner_name=owner.title())
        queue._jobs[runs[owner].id] = runs[owner]
    alice, bob, host = Person("alice"), Person("bob"), Person("teacher", admin=True)
    with pytest.raises(NotYoursError, match="only the person who started this run, or the teacher, can stop it"):
        queue.stop(runs["alice"].id, by=bob)
    assert runs["alice"].status == Status.QUEUED and not runs["alice"].stop_flag.is_set()  # untouched
    with pytest.raises(NotYoursError):
        queue.stop(runs[""].id, by=alice)  # a run without an owner is the host's
    queue.stop(runs["alice"].id, by=alice)
    queue.stop(runs["bob"].id, by=host)
    queue.stop(runs[""].id)
    assert all(j.status == Status.STOPPED for j in runs.values())
    assert runs["alice"].may_stop(alice) and not runs["alice"].may_stop(bob) and runs["alice"].may_stop(None)


def test_stop_ends_a_running_run_early_and_saves_it_and_a_waiting_one_never_starts(sample, tmp_path, cluster):
    queue = JobQueue(tmp_path, cluster=cluster)
    running = [queue.submit(long_run(seed=i), sample) for i in range(2)]
    waiting = queue.submit(tiny(), sample)
    until(lambda: all(j.history and j.history[-1].step >= 3 for j in running))
    queue.stop(waiting.id)
    assert waiting.status == Status.STOPPED and waiting.summary is None  # never started
    queue.stop(running[0].id)
    assert running[0].stopping  # what the Train page shows at once: "Stopped", saving
    assert queue.wait(running[0], 60) and running[0].status == Status.STOPPED and running[0].summary.stopped
    assert running[0].history[-1].step < running[0].history[-1].total_steps  # it ended early
    queue.stop(running[1].id)
    assert queue.wait(running[1], 60)
    # stopped runs are evaluated and saved, marked as stopped; the waiting one saved nothing
    saved = list_checkpoints(tmp_path)
    assert len(saved) == 2 and all(c.meta["metrics"]["stopped"] is True and "(stopped)" in c.name for c in saved)


@pytest.mark.skipif(sys.platform == "darwin", reason="Apple's MPS may exist there")
def test_failing_runs_report_their_error_and_the_queue_keeps_working(sample, tmp_path, cluster):
    queue = JobQueue(tmp_path, cluster=cluster)
    on_worker = queue.submit(tiny(epochs=1, device="mps"), sample)  # fails inside the worker
    assert queue.wait(on_worker, 120) and on_worker.status == Status.FAILED and "MPS" in on_worker.error
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    broken = JobQueue(blocker / "models", cluster=cluster)  # the app cannot save what the worker sends back
    job = broken.submit(tiny(epochs=1), sample)
    assert broken.wait(job, 120) and job.status == Status.FAILED and "could not save" in job.error
    after = queue.submit(tiny(epochs=1), sample)
    assert queue.wait(after, 120) and after.status == Status.DONE


def test_a_killed_worker_fails_its_run_damages_nothing_and_the_queue_goes_on(
    sample, trained_checkpoint, tmp_path, cluster
):
    models = tmp_path / "models"
    shutil.copytree(trained_checkpoint, models / "kept")
    queue = JobQueue(models, cluster=cluster)
    job = queue.submit(long_run(), sample)
    until(lambda: job.history and job.history[-1].step >= 3)
    [address] = [w for w, keys in cluster.client.processing().items() if keys]
    pid = cluster.client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)
    # A fast machine may finish an epoch before the kill lands: then that epoch's model is saved too.
    assert queue.wait(job, 60) and job.status == Status.FAILED and job.error in (KILLED, KILLED_SAVED), job.error
    saved = list_checkpoints(models)  # nothing half-written, the earlier model intact
    assert len(saved) == (1 if job.error == KILLED else 2) and "kept" in [c.path.name for c in saved]
    for checkpoint in saved:
        load_checkpoint(checkpoint.path)
    after = queue.submit(tiny(epochs=1), sample)  # the nanny starts a new worker; the queue goes on
    assert queue.wait(after, 180) and after.status == Status.DONE, after.error


APP = """
import sys
import time
from distributed import wait
from mnist_core.classroom.cluster import Cluster, ClusterSettings


def train_for_a_long_time():
    end = time.time() + 300
    while time.time() < end:
        pass


cluster = Cluster(ClusterSettings(workers=1))
cluster.wait_for_workers()
run = cluster.client.submit(train_for_a_long_time)
while not cluster.client.processing()[next(iter(cluster.client.processing()))]:
    time.sleep(0.1)
print(cluster._workers.pid, flush=True)
sys.stdin.read()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its parent to read its end has ended too
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_an_embedded_clusters_workers_end_with_an_app_killed_without_closing_them():
    app = subprocess.Popen(
        [sys.executable, "-c", APP], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        workers = int(app.stdout.readline())
        assert alive(workers)
        app.kill()
        app.wait()
        # Dask alone keeps a worker whose run is going until the run ends; the app watch ends them within a second.
        until(lambda: not alive(workers), timeout=30)
    finally:
        app.kill()


def test_curves_from_a_real_history(sample, tmp_path, cluster):
    queue = JobQueue(tmp_path, cluster=cluster)
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


def test_bad_cluster_settings_get_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGIT_LAB_WORKERS", "two")
    with pytest.raises(ClusterError, match="DIGIT_LAB_WORKERS must be a whole number"):
        ClusterSettings.from_environment()
    monkeypatch.setenv("DIGIT_LAB_WORKERS", "2")
    monkeypatch.setenv("DIGIT_LAB_CLUSTER", "tls://127.0.0.1:9")
    monkeypatch.setenv("DIGIT_LAB_CLUSTER_KEYS", str(tmp_path))
    make_keys(tmp_path)
    settings = ClusterSettings.from_environment()
    assert settings == ClusterSettings("tls://127.0.0.1:9", 2, tmp_path)
    monkeypatch.setattr("mnist_core.classroom.cluster.CONNECT_TIMEOUT_S", 2)
    with pytest.raises(ClusterError, match=r"cannot reach the Dask cluster at tls://127.0.0.1:9 \(DIGIT_LAB_CLUSTER\)"):
        Cluster(settings)


@pytest.fixture(scope="module")
def dask_cluster_on_loopback(tmp_path_factory):
    """`dask scheduler` and one `dask worker --nthreads 1`, as a teacher starts them with the class's keys (TLS), on
    127.0.0.1; ended by pid. Yields the address, the logs' folder and the keys' folder."""
    logs, keys = tmp_path_factory.mktemp("dask"), tmp_path_factory.mktemp("keys")
    make_keys(keys)
    address, scheduler = lab_cluster.start_scheduler(keys, logs / "scheduler.log")
    started = [scheduler]
    try:
        started.append(lab_cluster.start_worker(address, keys, logs / "worker.log", DIGIT_LAB_CPU_THREADS="1"))
        yield address, logs, keys
    finally:
        lab_cluster.end(*started)


def test_a_run_through_a_dask_scheduler_and_worker_named_by_digit_lab_cluster(
    sample, tmp_path, dask_cluster_on_loopback, monkeypatch
):
    address, logs, keys = dask_cluster_on_loopback
    monkeypatch.setenv("DIGIT_LAB_CLUSTER", address)
    monkeypatch.setenv("DIGIT_LAB_CLUSTER_KEYS", str(keys))
    end = time.time() + 120
    while True:  # the worker joins once it has started (it imports the engine's dependencies first)
        try:
            cluster = Cluster()
            if cluster.workers():
                break
            cluster.close()
        except ClusterError as e:
            if "no workers yet" not in str(e) and "cannot reach" not in str(e):
                raise
        assert time.time() < end, f"the Dask worker never joined: {(logs / 'worker.log').read_text()[-2000:]}"
        time.sleep(1)
    try:
        queue = JobQueue(tmp_path, cluster=cluster)
        job = queue.submit(tiny(epochs=2), sample, owner="teacher")
        assert queue.wait(job, 180) and job.status == Status.DONE, job.error
        assert [e.epoch for e in job.history if e.kind == "epoch"] == [0, 1, 2]  # streamed back from the worker
        [saved] = list_checkpoints(tmp_path)  # written by the app, from the bytes the worker sent
        assert str(saved.path) == job.summary.checkpoint and load_checkpoint(saved.path)
    finally:
        cluster.close()
    # A worker whose engine differs from the app's is named, with what differs.
    monkeypatch.setattr(
        "mnist_core.classroom.cluster.engine_versions", lambda: {"python": "3.0", "torch": "0.1", "mnist_core": "other"}
    )
    with pytest.raises(ClusterError, match=r"do not match this app.*torch 2\.\S+ \(this app: 0\.1\)"):
        Cluster()


def test_format_eta():
    assert format_eta(None) == "—"
    assert format_eta(42.4) == "42s"
    assert format_eta(125) == "2m 05s"


def test_a_status_is_also_its_text():
    """Benchmarks log a job's status and ui/runs.py compares it with plain strings: a StrEnum keeps both right."""
    assert Status.FAILED == "failed" and f"{Status.DONE}" == "done" and Status("queued") is Status.QUEUED
