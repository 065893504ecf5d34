"""Faults of the cluster under a run, on real processes started here and ended by their pids: a worker process
killed -9 (as an out-of-memory kill would), the embedded cluster's whole `dask worker` process killed, a lab
computer's worker killed, the lab scheduler stopped mid-run, and a cluster that no worker joins. Each run fails
once with a message that says what happened, and the next run trains."""

from __future__ import annotations

import os
import signal
import time

import pytest
from distributed import Client, LocalCluster

from harness import lab_cluster
from mnist_core.classroom import jobs
from mnist_core.classroom.cluster import Cluster, ClusterError, ClusterSettings
from mnist_core.classroom.jobs import KILLED, LOST, JobQueue, Status
from mnist_core.classroom.keys import make_keys
from mnist_core.learning.recipes import recipe_config


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
    assert queue.wait(job, 60) and job.status == Status.FAILED and job.error == KILLED
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
    assert queue.wait(job, 60) and job.status == Status.FAILED and job.error == KILLED
    after = queue.submit(tiny(), sample)  # not "number 1 in line" forever: the app starts them again
    assert queue.wait(after, 180) and after.status == Status.DONE, after.error
    assert embedded.restarts == before + 1


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

    def connect():
        try:
            cluster = Cluster(settings)
        except ClusterError as e:
            if "no workers yet" in str(e) or "cannot reach" in str(e):
                return None
            raise
        return cluster

    cluster = None
    try:
        until(lambda: (cluster := connect()) is not None and cluster.close() is None, 120, "the lab worker")
        cluster = Cluster(settings)
        queue = JobQueue(tmp_path, cluster=cluster)
        # A lab computer's worker killed: the run fails once, not started again from scratch three times.
        job = queue.submit(long_run(), sample)
        until(lambda: learning(job))
        os.kill(worker_pid(cluster), signal.SIGKILL)
        assert queue.wait(job, 60) and job.status == Status.FAILED and job.error == KILLED
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
