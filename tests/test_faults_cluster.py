"""Faults of the cluster under a run, on real processes started here and ended by their pids: a worker process
killed -9 (as an out-of-memory kill would), before and after its run's first epoch, a worker process frozen
(SIGSTOP, as a hung one is), the embedded cluster's whole `dask worker` process killed, a lab computer's worker
killed, the lab scheduler stopped mid-run, a cluster that no worker joins, and a lab computer with another copy of
the engine joining while a run waits. Each run fails once with a message that says what happened, keeps the model
of its last epoch, and the next run trains."""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from harness import lab_cluster
from mnist_core.classroom import jobs
from mnist_core.classroom.cluster import SILENT_S, Cluster, ClusterError, ClusterSettings
from mnist_core.classroom.jobs import KILLED, KILLED_SAVED, LOST, JobQueue, Status
from mnist_core.classroom.keys import make_keys
from mnist_core.learning.evaluation import evaluate
from mnist_core.learning.recipes import recipe_config
from mnist_core.store.checkpoints import list_checkpoints, load_checkpoint

REPO = Path(__file__).resolve().parent.parent


def tiny(**kw):
    return recipe_config("fast", **{"epochs": 1, "train_size": 400, "val_size": 100, **kw})


def long_run(**kw):
    return recipe_config("fast", **{"epochs": 50, "batch_size": 8, "val_size": 100, **kw})


def until(condition, timeout: float = 120, what: str = "the state") -> None:
    end = time.time() + timeout
    while not condition():
        assert time.time() < end, f"{what} was not reached within {timeout} s"
        time.sleep(0.05)


def learning(job) -> bool:
    assert job.active, job.error
    return bool(job.history) and job.history[-1].step >= 3


def worker_pid(cluster) -> int:
    [address] = [w for w, keys in cluster.client.processing().items() if keys]
    return cluster.client.run(os.getpid, workers=[address])[address]


def killed(job) -> bool:
    """Failed as a dead worker fails a run: nothing saved if it died in its first epoch, else its last epoch's model
    (a fast machine may finish an epoch before the kill lands)."""
    return job.status == Status.FAILED and job.error in (KILLED, KILLED_SAVED)


def lab_connect(settings):
    """The app's client once the lab worker has joined (it imports the engine's dependencies first), else None."""
    try:
        return Cluster(settings)
    except ClusterError as e:
        if "no workers yet" in str(e) or "cannot reach" in str(e):
            return None
        raise


@pytest.fixture(scope="module")
def embedded():
    """One worker process, as a learner's computer runs it (DIGIT_LAB_WORKERS=1): a kill leaves no other."""
    c = Cluster(ClusterSettings(workers=1))
    c.wait_for_workers(timeout=240)
    yield c
    c.close()


def test_a_killed_worker_fails_its_run_once_and_the_next_run_trains(sample, tmp_path, embedded):
    queue = JobQueue(tmp_path, cluster=embedded)
    job = queue.submit(long_run(), sample)
    until(lambda: learning(job))
    os.kill(worker_pid(embedded), signal.SIGKILL)
    assert queue.wait(job, 60) and killed(job), job.error
    assert "stopped (out of memory?)" in job.error
    after = queue.submit(tiny(), sample)  # Dask's nanny starts the worker again
    assert queue.wait(after, 180) and after.status == Status.DONE, after.error
    assert job.future is None and after.future is None  # released: Dask holds neither task nor result


def test_the_embedded_workers_come_back_when_their_whole_process_is_killed(sample, tmp_path, embedded):
    queue = JobQueue(tmp_path, cluster=embedded)
    job = queue.submit(long_run(), sample)
    until(lambda: learning(job))
    before = embedded.restarts
    os.killpg(embedded._workers.pid, signal.SIGKILL)  # the `dask worker` process, its nanny and worker
    assert queue.wait(job, 60) and killed(job), job.error
    after = queue.submit(tiny(), sample)  # not "number 1 in line" forever: the app starts them again
    assert queue.wait(after, 180) and after.status == Status.DONE, after.error
    assert embedded.restarts == before + 1


def test_a_run_killed_after_an_epoch_keeps_the_model_of_that_epoch(sample, tmp_path, embedded):
    queue = JobQueue(tmp_path, cluster=embedded)
    job = queue.submit(long_run(train_size=800), sample)  # 100 steps an epoch, 50 epochs
    until(lambda: job.active and any(e.kind == "epoch" and e.epoch >= 1 for e in job.history), what="epoch 1")
    os.kill(worker_pid(embedded), signal.SIGKILL)
    assert queue.wait(job, 60) and job.status == Status.FAILED and job.error == KILLED_SAVED, job.error
    epoch = job.error_fields["epoch"]
    assert epoch >= 1 and f"the model after epoch {epoch} of 50 was saved" in job.error_text
    [saved] = list_checkpoints(tmp_path)
    assert saved.record.metrics.cut_short and saved.record.metrics.epochs_done == epoch
    assert saved.name.endswith(f"(cut short after epoch {epoch})")
    model, _ = load_checkpoint(saved.path)
    report = evaluate(model, sample.test, saved.config, "cpu", sample.classes)
    assert report.n == 1000 and report.accuracy > 0.5  # it learned: a fresh model guesses one digit in ten


def test_a_hung_worker_fails_its_run_and_is_replaced_so_the_next_run_trains(sample, tmp_path, embedded, monkeypatch):
    queue = JobQueue(tmp_path, cluster=embedded)
    job = queue.submit(long_run(), sample)
    until(lambda: learning(job))
    # A short bound once the run streams its steps (a few a second), yet seconds longer than a niced worker on a
    # busy machine may wait for a core; a fresh worker takes longer than that to import torch before its first word.
    monkeypatch.setattr(embedded, "settings", replace(embedded.settings, silent_s=10.0))
    pid = worker_pid(embedded)
    os.kill(pid, signal.SIGSTOP)  # the process hangs: no event, no heartbeat, no answer to Dask
    try:
        assert queue.wait(job, 120) and job.status == Status.FAILED, job.error
        assert "the computer training this run has sent nothing for 10 seconds (it has hung)" in job.error_text
        monkeypatch.setattr(embedded, "settings", replace(embedded.settings, silent_s=SILENT_S))
        after = queue.submit(tiny(), sample)  # not to the frozen process: the nanny replaced it
        assert queue.wait(after, 180) and after.status == Status.DONE, after.error
        assert after.summary.checkpoint in [str(c.path) for c in list_checkpoints(tmp_path)]
    finally:
        for sig in (signal.SIGCONT, signal.SIGKILL):  # if the nanny has not ended it, end it here
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


class NoWorkers:
    """A real Dask scheduler that no worker ever joins, as a lab cluster whose computers never started."""

    def __init__(self):
        self._local = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None)
        self.client = Client(self._local, set_as_default=False)
        self.settings = ClusterSettings(address=self._local.scheduler_address)

    def connected(self) -> bool:
        return True

    def close(self) -> None:
        self.client.close()
        self._local.close()


def test_a_run_waiting_for_a_worker_that_never_joins_says_so_and_what_to_check(sample, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "NO_WORKERS_S", 1.0)
    cluster = NoWorkers()
    try:
        queue = JobQueue(tmp_path, cluster=cluster)
        job = queue.submit(tiny(), sample)
        assert queue.no_workers_note() is None  # not at once: workers take seconds to join
        until(lambda: queue.no_workers_note() is not None, timeout=30, what="the note")
        assert job.status == Status.QUEUED
        note = queue.no_workers_note()
        assert "No computer has joined the Dask cluster at tcp://127.0.0.1:" in note
        assert "Check that the workers are running" in note
        queue.shutdown(timeout=5)
        assert job.status == Status.STOPPED
    finally:
        cluster.close()


def test_a_lab_worker_killed_fails_its_run_once_and_a_lost_scheduler_fails_it_and_the_next_start_works(
    sample, tmp_path, tmp_path_factory
):
    logs, keys = tmp_path_factory.mktemp("lab-logs"), tmp_path_factory.mktemp("lab-keys")
    make_keys(keys)
    address, scheduler = lab_cluster.start_scheduler(keys, logs / "scheduler.log")
    port = int(address.rsplit(":", 1)[1])
    started = [scheduler, lab_cluster.start_worker(address, keys, logs / "worker.log", DIGIT_LAB_CPU_THREADS="1")]
    settings = ClusterSettings(address, 1, keys)
    cluster = None
    try:
        until(lambda: (cluster := lab_connect(settings)) is not None and cluster.close() is None, 120, "the lab worker")
        cluster = Cluster(settings)
        queue = JobQueue(tmp_path, cluster=cluster)
        # A lab computer's worker killed: the run fails once, not started again from scratch three times.
        job = queue.submit(long_run(), sample)
        until(lambda: learning(job))
        os.kill(worker_pid(cluster), signal.SIGKILL)
        assert queue.wait(job, 60) and killed(job), job.error
        # The scheduler stopped mid-run: the run fails saying so, not "stopped" with nothing saved.
        job = queue.submit(long_run(), sample)
        until(lambda: learning(job), 180)
        scheduler.kill()
        scheduler.wait()
        assert queue.wait(job, 60) and job.status == Status.FAILED and job.error == LOST, job.error
        assert "lost the connection to the cluster" in job.error
        # The teacher starts the scheduler and the lab computer's worker again (a worker does not rejoin a new
        # scheduler by itself): the app's client is rebuilt and the next Start works.
        lab_cluster.end(started[1])
        _, scheduler = lab_cluster.start_scheduler(keys, logs / "scheduler-2.log", port=port)
        started.append(scheduler)
        started.append(lab_cluster.start_worker(address, keys, logs / "worker-2.log", DIGIT_LAB_CPU_THREADS="1"))

        def submitted():
            try:
                return queue.submit(tiny(), sample)
            except ClusterError as e:
                assert "no workers yet" in str(e) or "cannot reach" in str(e), str(e)
                time.sleep(1)
                return None

        until(lambda: submitted() is not None, 120, "a new client")
        [after] = [j for j in queue.jobs() if j.active]
        assert queue.wait(after, 180) and after.status == Status.DONE, after.error
    finally:
        if cluster is not None:
            cluster.close()
        lab_cluster.end(*started)


def test_a_lab_computer_with_another_copy_of_the_engine_is_refused_when_it_joins_and_the_run_waits_for_the_good_one(
    sample, tmp_path, tmp_path_factory
):
    logs, keys, elsewhere = (tmp_path_factory.mktemp(name) for name in ("lab-logs", "lab-keys", "stale-copy"))
    make_keys(keys)
    address, scheduler = lab_cluster.start_scheduler(keys, logs / "scheduler.log")
    started = [scheduler, lab_cluster.start_worker(address, keys, logs / "worker.log", DIGIT_LAB_CPU_THREADS="1")]
    # A lab computer that kept an older copy of Digit Lab: one file of the engine differs.
    shutil.copytree(REPO / "mnist_core", elsewhere / "mnist_core", ignore=shutil.ignore_patterns("__pycache__"))
    with open(elsewhere / "mnist_core" / "learning" / "models.py", "a") as f:
        f.write("\n# last term's copy\n")
    settings = ClusterSettings(address, 1, keys)
    cluster = None
    try:
        until(lambda: (cluster := lab_connect(settings)) is not None and cluster.close() is None, 120, "the lab worker")
        cluster = Cluster(settings)
        queue = JobQueue(tmp_path, cluster=cluster)
        first = queue.submit(long_run(), sample)
        until(lambda: learning(first))
        waiting = queue.submit(tiny(), sample)  # the one worker is busy: it waits
        assert queue.refused_note() is None
        stale = lab_cluster.start_worker(
            address, keys, logs / "stale.log", PYTHONPATH=str(elsewhere), DIGIT_LAB_CPU_THREADS="1"
        )
        started.append(stale)
        until(lambda: queue.refused_note() is not None, 120, "the refusal")
        note = queue.refused_note()
        assert note.startswith("The computer tls://127.0.0.1:") and "was refused" in note, note
        assert "mnist_core " in note and "(this app: " in note and "start its worker again" in note, note
        assert stale.wait(60) is not None  # it left with its nanny: it does not come back by itself
        assert cluster.workers() == 1 and first.active and waiting.status == Status.QUEUED, waiting.error
        queue.stop(first.id)
        assert queue.wait(first, 120) and first.status == Status.STOPPED, first.error
        assert queue.wait(waiting, 180) and waiting.status == Status.DONE, waiting.error  # on the good worker
    finally:
        if cluster is not None:
            cluster.close()
        lab_cluster.end(*started)
