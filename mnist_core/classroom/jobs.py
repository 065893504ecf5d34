"""Training runs for the app: a process-wide queue whose runs go to Dask workers (mnist_core.classroom.cluster): an
embedded cluster on this computer by default, a class's cluster by one setting.

Streamlit stops a script run on every click, page switch or refresh, so runs live here and pages only read
snapshots. Each worker process trains one run at a time ($DIGIT_LAB_WORKERS of them on this computer); a run
waits in line until a worker is free and its page says where it is. The events a worker streams back fill in
each job's history; the finished model comes back serialised once, and only this process checks it and writes
it to `models/`.
Nothing here calls Streamlit.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from mnist_core.data.sources import Source
from mnist_core.i18n import N_, _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event
from mnist_core.runs.finetune import FinetuneSummary
from mnist_core.runs.train import RunSummary, thin_history
from mnist_core.store.checkpoints import CheckpointError, OwnerRecord, PackedCheckpoint, pack_folder, save_packed
from mnist_core.store.owners import Person, may_manage

_ids = itertools.count(1)
_registry: weakref.WeakValueDictionary[str, Job] = weakref.WeakValueDictionary()  # job id -> job, for events
_listening: weakref.WeakSet = weakref.WeakSet()  # Dask clients whose run events _on_message receives
EXIT_WAIT_S = 40.0  # at interpreter exit, how long a stopped run may take to finish its batch, score and save
KILLED = N_(  # set in a Dask thread (no interface language): the page translates it where it shows job.error
    "the worker training this run stopped (out of memory?), so the run ended; nothing was saved. "
    "Press Start to try again."
)
LOST = N_(
    "the app lost the connection to the cluster (its scheduler stopped or the network failed), so the run ended; "
    "nothing was saved. Press Start to try again once the cluster is back."
)
SILENT = N_(
    "the computer training this run has sent nothing for {seconds} seconds (it has hung), so the run ended; nothing "
    "was saved. Press Start to try again."
)
# The same three faults after at least one epoch: the last epoch's checkpoint the worker sent is saved as the model.
KILLED_SAVED = N_(
    "the worker training this run stopped (out of memory?), so the run ended; the model after epoch {epoch} of "
    "{epochs} was saved (open Evaluate or Draw to use it). Press Start to train again."
)
LOST_SAVED = N_(
    "the app lost the connection to the cluster (its scheduler stopped or the network failed), so the run ended; the "
    "model after epoch {epoch} of {epochs} was saved (open Evaluate or Draw to use it). Press Start to train again "
    "once the cluster is back."
)
SILENT_SAVED = N_(
    "the computer training this run has sent nothing for {seconds} seconds (it has hung), so the run ended; the model "
    "after epoch {epoch} of {epochs} was saved (open Evaluate or Draw to use it). Press Start to train again."
)
WATCH_EVERY_S = 5.0  # how often the watchdog looks for silent runs (more often when the bound itself is short)
REFUSED = N_(
    "The computer {worker} tried to join {cluster} and was refused: its copy of Digit Lab differs from this app's "
    "({details}). Install the same version there (this server's mnist_core folder and torch) and start its worker "
    "again."
)
NO_WORKERS_S = 60.0  # how long runs may wait with no worker at all before the page says what to check
NO_WORKERS = N_(
    "No computer has joined {cluster} for {seconds} seconds, so no run can start. Check that the workers are "
    "running and reach the scheduler (the server's log names errors); the run starts by itself once one joins."
)


class Status(StrEnum):
    """Where a job is. A StrEnum: it equals its text, which benchmarks log and older callers compare with."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


ACTIVE = (Status.QUEUED, Status.RUNNING)


class BusyError(ValueError):
    """One browser session has at most one run waiting or training, so a class shares the computers fairly."""


class NotYoursError(ValueError):
    """On a shared server a run is stopped only by whoever started it, or the host: a shared link shows it, read-only."""


@dataclass(frozen=True)
class JobSnapshot:
    """A job as it was at one moment, for a page to render while the trainer goes on."""

    id: str
    status: Status
    history: list[Event]  # step and epoch events so far
    last: Event | None  # the latest event of any kind
    summary: RunSummary | None
    error: str | None
    config: TrainConfig
    dataset: str  # the source's title
    owner: str
    finetune: FinetuneSummary | None = None  # a fine-tuning run's before and after, once it has ended
    error_fields: dict | None = None  # the fields of `error`, a message marked N_

    @property
    def error_text(self) -> str | None:
        return _error_text(self.error, self.error_fields)


@dataclass
class Job:
    config: TrainConfig
    source: Source
    split: str = "train"
    owner: str = ""  # whoever started it: the app passes their browser's id (owners.browser_id)
    owner_name: str = ""  # the name they typed, saved with the model
    parent: str | None = None  # a saved model's folder: fine-tune it on `source` instead of training afresh
    id: str = field(default_factory=lambda: f"{time.strftime('%H%M%S')}-{next(_ids)}{secrets.token_hex(2)}")
    status: Status = Status.QUEUED
    history: list[Event] = field(default_factory=list)  # step and epoch events
    last: Event | None = None  # the latest event of any kind
    summary: RunSummary | None = None  # once finished
    finetune: FinetuneSummary | None = None  # once a fine-tuning run has finished
    error: str | None = None  # an N_ message (KILLED, ...) or an error's own text, in English
    error_fields: dict | None = None  # the fields `error` is formatted with once translated
    created: float = field(default_factory=time.time)
    finished: float | None = None
    stop_flag: threading.Event = field(default_factory=threading.Event)  # Stop was pressed
    ended: threading.Event = field(default_factory=threading.Event)  # set once the status is final
    future: Any = field(default=None, repr=False)  # the Dask future of the worker's task, while it is out
    sent: bool = False  # given to a worker (its future is released once it ends, with what the worker held)
    request: Any = field(default=None, repr=False)  # what is sent to a worker, kept here until one is free
    finishing: bool = False  # _finish has begun saving its result
    heard: float = field(default_factory=time.time)  # the last word from its worker (or while no worker holds it)
    checkpoint: PackedCheckpoint | None = field(default=None, repr=False)  # its latest epoch's, while it trains
    checkpoint_epoch: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def may_stop(self, person: Person | None) -> bool:
        """Whether `person` may stop this run (owners.may_manage, the rule for models); None stands for the host's
        own code (the command line, tests, the server's shutdown)."""
        return person is None or may_manage(person, self.owner)

    def owner_record(self) -> OwnerRecord | None:
        """Who the saved model belongs to: None for a run started without an owner (the command line, tests)."""
        return OwnerRecord(self.owner, self.owner_name) if self.owner else None

    @property
    def stopping(self) -> bool:
        """Stop was pressed and the run is saving what it learned."""
        return self.active and self.stop_flag.is_set()

    def on_event(self, event: Event) -> None:
        with self.lock:
            if not self.active:  # a late event of a run already ended (its full history came with its result)
                return
            self.status = Status.RUNNING
            if event.kind in ("step", "epoch"):
                self.history.append(event)
            self.last = event

    def keep_checkpoint(self, packed: PackedCheckpoint, epoch: int) -> None:
        """The model after `epoch`, as its worker sent it: only the latest is kept, and only while the run goes on."""
        with self.lock:
            if self.active and epoch >= self.checkpoint_epoch:
                self.checkpoint, self.checkpoint_epoch = packed, epoch

    def end(self, status: Status, error: str | None = None, fields: dict | None = None) -> None:
        with self.lock:
            if self.active:
                self.status, self.error, self.error_fields, self.finished = status, error, fields, time.time()
            self.checkpoint = None  # the run's own result, or the saved copy of it, is what counts now
        self.ended.set()

    @property
    def error_text(self) -> str | None:
        """Why it failed, in the reader's language."""
        return _error_text(self.error, self.error_fields)

    def snapshot(self) -> JobSnapshot:
        """A consistent copy for a page to render, taken without blocking the trainer for long."""
        with self.lock:
            return JobSnapshot(
                self.id,
                self.status,
                list(self.history),
                self.last,
                self.summary,
                self.error,
                replace(self.config),
                self.source.title,
                self.owner,
                self.finetune,
                None if self.error_fields is None else dict(self.error_fields),
            )

    def progress(self) -> float:
        if self.status == Status.DONE:
            return 1.0
        last = self.last
        return min(1.0, last.step / last.total_steps) if last is not None and last.total_steps else 0.0


class JobQueue:
    """Sends submitted runs to a Dask cluster and follows them: `cluster` is an open mnist_core.classroom.cluster.Cluster
    (tests, benchmarks), else this process's own (shared_cluster())."""

    def __init__(self, models_dir: str | Path | None = None, keep: int = 50, cluster=None):
        self.models_dir = models_dir
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._cluster = cluster
        self._closing = False
        self._look_again: threading.Timer | None = None  # one pending look for a worker at a time
        self._no_workers_since: float | None = None  # runs were waiting and the cluster had no worker
        self._watchdog: threading.Thread | None = None  # fails silent runs while any run is active
        _queues.add(self)

    # ----- the cluster -----

    def warm(self) -> None:
        """Start the cluster and load the engine in its workers in the background, so the first run starts
        soon after Start is pressed (a worker process takes about ten seconds to import torch)."""
        if self._cluster is None and _shared is None and _warming.acquire(blocking=False):
            threading.Thread(target=_warm, name="digit-lab-cluster", daemon=True).start()

    def cluster(self):
        """The open cluster, connecting first if needed; a ClusterError says in one line why it cannot be used."""
        cluster = self._cluster or shared_cluster()
        with _shared_lock:
            if not cluster.connected():  # the scheduler was lost: a new client, or a ClusterError saying so
                cluster.reconnect()
            if cluster.client not in _listening:  # one subscription per client: a second would replace the first
                from mnist_core.classroom.cluster import TOPIC

                cluster.client.subscribe_topic(TOPIC, functools.partial(_on_message, cluster=cluster))
                _listening.add(cluster.client)
        self._watch()
        return cluster

    def no_workers_note(self) -> str | None:
        """What a waiting run's page says when the cluster has had no worker for NO_WORKERS_S: what to check."""
        since = self._no_workers_since
        if since is None or time.time() - since < NO_WORKERS_S:
            return None
        return _(NO_WORKERS).format(cluster=self.describe(), seconds=int(NO_WORKERS_S))

    def refused_note(self) -> str | None:
        """What a waiting run's page says about lab computers refused as they joined: which, and what differs."""
        refused = getattr(self._cluster or _shared, "refused", {})  # a stand-in cluster of a test may have none
        if not refused:
            return None
        return " ".join(
            _(REFUSED).format(worker=r.address, cluster=self.describe(), details="; ".join(r.wrong))
            for r in sorted(refused.values(), key=lambda r: r.at)
        )

    def describe(self) -> str:
        from mnist_core.classroom.cluster import ClusterSettings

        cluster = self._cluster or _shared
        settings = cluster.settings if cluster is not None else ClusterSettings.from_environment()
        return settings.describe()

    # ----- runs -----

    def submit(
        self,
        config: TrainConfig,
        source: Source,
        split: str = "train",
        owner: str = "",
        parent: str | None = None,
        owner_name: str = "",
        replay_folders: tuple[str, ...] | None = None,
    ) -> Job:
        """Queue a run: training `config` on `source`'s `split`, or, given a `parent` checkpoint folder,
        fine-tuning it on all of `source` for `config.epochs` epochs with `config.seed` (mnist_core.runs.finetune),
        replaying the parent's data only from the app's own datasets or `replay_folders` (None: any folder)."""
        from mnist_core.classroom.worker import RunRequest

        if self._closing:
            raise RuntimeError(_("the server is shutting down; no new training runs"))
        config.validate()
        source.split(split)  # fail now, in the caller's thread, if the split does not exist
        if owner and any(j.active and j.owner == owner for j in self.jobs()):
            raise BusyError(
                _("you already have a run waiting or training: stop it, or wait for it to end, before starting another")
            )
        try:
            packed_parent = None if parent is None else pack_folder(parent)
        except CheckpointError as e:
            raise ValueError(str(e)) from None
        self.cluster()  # reached, or a clear error, before the run is queued
        job = Job(config, source, split, owner, owner_name, parent)
        job.request = RunRequest(job.id, replace(config), split, packed_parent, replay_folders)
        with self._lock:
            self._jobs[job.id] = job
            _registry[job.id] = job
            self._forget_old()
        self._dispatch()
        return job

    def _dispatch(self) -> None:
        """Send waiting runs to Dask while a worker is free, oldest first. Dask itself would hand a run to a busy
        worker when every worker is busy (a handful of tasks is not "root-ish" enough for its own queue), and
        that run then waits behind one that may train for an hour even after another worker is free."""
        from mnist_core.classroom.dataref import for_worker
        from mnist_core.classroom.worker import run

        cluster = self.cluster()
        client = cluster.client
        joined = sum(client.nthreads().values())  # the workers that have joined so far
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.created)
            free = joined - sum(1 for j in jobs if j.sent and not j.ended.is_set())
            waiting = [j for j in jobs if not j.sent and j.status == Status.QUEUED]
            if not waiting or joined:
                self._no_workers_since = None
            elif self._no_workers_since is None:
                self._no_workers_since = time.time()
            for job in waiting[: max(0, free)]:
                # The app's own datasets go to this computer's workers by reference, read there once, not in
                # every submit: full MNIST in each one held memory in the scheduler and the worker (dataref).
                data = for_worker(job.source, shares_files=cluster.embedded)
                job.future = client.submit(run, job.request, data, pure=False, key=f"digit-lab-run-{job.id}")
                job.sent = True
                job.future.add_done_callback(lambda future, j=job: self._finish(j, future))
            # Runs still waiting: look again shortly, not only when a run ends, since a worker that is still
            # starting (or a lab computer that joins later) frees a place without any run ending.
            if len(waiting) > max(0, free) and not self._closing and self._look_again is None:
                self._look_again = threading.Timer(0.5, self._dispatch_again)
                self._look_again.daemon = True
                self._look_again.start()

    def _finish(self, job: Job, future) -> None:
        """The worker's task ended (called in a thread of Dask's): save its checkpoint here, then end the job."""
        from distributed.scheduler import KilledWorker

        with job.lock:
            if job.finishing:  # Dask's callback and shutdown() may both get here
                return
            job.finishing = True
        try:
            result = future.result()
            folder = (
                None
                if result.checkpoint is None
                else str(save_packed(result.checkpoint, self.models_dir, job.owner_record()))
            )
            with job.lock:
                # The whole story, whatever events were still on their way, thinned as the saved record is (every
                # epoch, at most ~2,000 steps): 50 finished jobs of 10 epochs on full MNIST held 2 MB of steps each.
                job.history = thin_history(result.history)
                job.summary = replace(result.summary, checkpoint=folder)
                job.finetune = None if result.finetune is None else replace(result.finetune, checkpoint=folder)
            job.end(Status.STOPPED if result.summary.stopped else Status.DONE)
        except KilledWorker:
            self._end_failed(job, KILLED, KILLED_SAVED)
        except Exception as e:  # a failed run must not stop the others; the page shows the message
            if future.cancelled() or type(e).__name__ == "CancelledError":
                # Only Stop cancels a run here; any other cancel is Dask's, on losing the scheduler.
                job.end(Status.STOPPED) if job.stop_flag.is_set() else self._end_failed(job, LOST, LOST_SAVED)
            else:
                job.end(Status.FAILED, str(e) or type(e).__name__)
        finally:
            job.future = None  # the task, its dataset's reference and its result leave Dask's memory
        self._dispatch_quietly()  # a worker is free: the next run in line goes to it

    def _end_failed(self, job: Job, message: str, saved_message: str, **fields) -> None:
        """End a run its worker or the cluster failed: with a checkpoint of one of its epochs, saved as its model
        (marked cut short by the worker) and `saved_message` says after which epoch; else `message`."""
        with job.lock:
            packed, epoch = job.checkpoint, job.checkpoint_epoch
        if packed is not None:
            try:
                save_packed(packed, self.models_dir, job.owner_record())
                message, fields = saved_message, {**fields, "epoch": epoch, "epochs": job.config.epochs}
            except CheckpointError as e:  # the models folder is full or not writable: the run is lost after all
                logging.getLogger(__name__).warning("could not save run %s after epoch %d: %s", job.id, epoch, e)
        job.end(Status.FAILED, message, fields or None)

    # ----- the watchdog -----

    def _watch(self) -> None:
        """Start the watchdog unless it is running: one thread per queue, for as long as any run is active."""
        with self._lock:
            if self._watchdog is None and not self._closing:
                self._watchdog = threading.Thread(target=self._watch_silence, name="digit-lab-watchdog", daemon=True)
                self._watchdog.start()

    def _watch_silence(self) -> None:
        """Fail each run that a worker is training and that has sent nothing for the cluster's silent_s (its worker
        sends a heartbeat while it trains, so only a hung worker process is this silent). A run is being trained once
        it said so, or while it is the one task its worker holds (a worker may hang before it says so); one waiting
        at the scheduler, or on a worker behind another run, is not silent."""
        while True:
            cluster = self._cluster or _shared
            limit = cluster.settings.silent_s
            time.sleep(min(WATCH_EVERY_S, limit / 4))
            with self._lock:
                if self._closing or not any(j.active for j in self._jobs.values()):
                    self._watchdog = None
                    return
                out = [j for j in self._jobs.values() if j.sent and not j.ended.is_set()]
            if not out:
                continue
            try:
                processing = cluster.client.processing()
            except Exception:  # the cluster is gone: _finish ends its runs
                continue
            held = {key: (worker, len(keys)) for worker, keys in processing.items() for key in keys}
            now = time.time()
            for job in out:
                worker, tasks = held.get(getattr(job.future, "key", None), (None, 0))
                if worker is None or (job.status == Status.QUEUED and tasks > 1):
                    job.heard = now
                elif now - job.heard > limit:
                    self._fail_silent(job, cluster, worker, limit)

    def _fail_silent(self, job: Job, cluster, worker: str, limit: float) -> None:
        with job.lock:
            if job.finishing:  # its result is being saved after all
                return
            job.finishing = True
        future = job.future
        if future is not None:
            future.cancel()  # the run is over, whatever the worker's removal then does to its task
        try:  # before the run ends: the next Start must not go to the hung worker
            cluster.set_aside(worker)
        except Exception as e:  # the cluster keeps it: Dask's own time to live removes it later
            logging.getLogger(__name__).warning("could not set aside the hung worker %s: %s", worker, e)
        self._end_failed(job, SILENT, SILENT_SAVED, seconds=int(limit))
        job.future = None
        self._dispatch_quietly()

    def _dispatch_again(self) -> None:
        with self._lock:
            self._look_again = None
        self._dispatch_quietly()

    def _dispatch_quietly(self) -> None:
        """_dispatch from a callback or timer thread, where an error has nobody to go to."""
        if self._closing:
            return
        try:
            self._dispatch()
        except Exception:  # the cluster is gone: the waiting runs end at shutdown
            pass

    def get(self, job_id: str | None) -> Job | None:
        return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[Job]:
        with self._lock:  # page threads read while submit() may be adding: copy under the lock
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def running(self) -> Job | None:
        return next(iter(self.running_jobs()), None)

    def running_jobs(self) -> list[Job]:
        return [j for j in self.jobs() if j.status == Status.RUNNING]

    def last_ended(self) -> Job | None:
        """The run that ended most recently (done, stopped or failed), if any."""
        ended = [j for j in self.jobs() if not j.active and j.finished is not None]
        return max(ended, key=lambda j: j.finished, default=None)

    def position(self, job: Job) -> int:
        """0 = running now (or over); n = number n in line for the next free worker."""
        if job.status != Status.QUEUED:
            return 0
        return 1 + sum(j.status == Status.QUEUED and j.created < job.created for j in self.jobs())

    def stop(self, job_id: str, by: Person | None = None) -> None:
        """A running run ends after its current batch and is saved, marked stopped; a waiting one never starts.
        `by`, when given, must be whoever started it or the host (Job.may_stop); None is the host's own code."""
        job = self._jobs.get(job_id)
        if job is None or not job.active:
            return
        if not job.may_stop(by):
            raise NotYoursError(_("only the person who started this run, or the teacher, can stop it"))
        job.stop_flag.set()
        with self._lock:  # _dispatch sends waiting runs under this lock: this one is sent now or never
            sent, future = job.sent, job.future
            if job.status == Status.QUEUED:
                if future is not None:
                    future.cancel()
                job.end(Status.STOPPED)
        if sent:  # a run never sent to a worker has no worker to tell
            threading.Thread(target=self._tell_workers, args=(job.id,), daemon=True).start()

    def _tell_workers(self, job_id: str) -> None:
        from mnist_core.classroom.worker import stop

        try:
            self.cluster().client.run(stop, job_id, on_error="ignore")
        except Exception:  # the cluster is gone: so is the run, and _finish says so
            pass

    def shutdown(self, timeout: float = EXIT_WAIT_S) -> None:
        """Stop every run and let the running ones end cleanly: each stops after its current batch and is saved
        like a run stopped with the Stop button. Runs at interpreter exit (Ctrl-C or SIGTERM on the server)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        active = [j for j in self.jobs() if j.active]
        for job in active:
            if job.status == Status.QUEUED:
                self.stop(job.id)
        if active and (self._cluster or _shared) is not None:
            from mnist_core.classroom.worker import stop

            for job in active:
                job.stop_flag.set()
                try:
                    self.cluster().client.run(stop, job.id, on_error="ignore")
                except Exception:  # the cluster is gone: so are the runs
                    pass
        end = time.time() + timeout
        for job in active:
            future = job.future
            if future is None or job.ended.is_set():
                continue
            try:
                future.result(timeout=max(0.0, end - time.time()))
            except Exception:  # failed, cancelled or still going: _finish says which
                pass
            if future.done():  # finished here: at interpreter exit Dask's callback thread can no longer start
                self._finish(job, future)
            job.ended.wait(max(0.0, end - time.time()))  # Dask's callback may be the one saving it

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        return job.ended.wait(timeout)

    def _forget_old(self) -> None:  # called with the lock held
        done = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.created)
        for j in done[: max(0, len(done) - self.keep)]:
            del self._jobs[j.id]


# ----- this process's cluster -----

_shared = None  # the cluster the environment names (embedded by default), opened the first time a run needs it
_shared_lock = threading.Lock()
_warming = threading.Lock()
_queues: weakref.WeakSet = weakref.WeakSet()  # every live queue, for the exit hook


def shared_cluster():
    global _shared
    with _shared_lock:
        if _shared is None:
            from mnist_core.classroom.cluster import Cluster

            _shared = Cluster()
            atexit.register(_close_at_exit)  # registered after distributed's own exit hooks, so it runs before them
        return _shared


def _warm() -> None:
    try:
        from mnist_core.classroom.worker import warm_up

        cluster = shared_cluster()
        cluster.wait_for_workers()
        cluster.client.run(warm_up)
    except Exception:  # submit() connects again and tells the user what is wrong
        pass
    finally:
        _warming.release()


def _close_at_exit() -> None:
    """Ctrl-C or SIGTERM on the server: every run stops and is saved like a run stopped with Stop, then the
    workers end."""
    for queue in list(_queues):
        queue.shutdown()
    if _shared is not None:
        _shared.close()


def _error_text(error: str | None, fields: dict | None) -> str | None:
    if error is None:
        return None
    return _(error).format(**fields) if fields else _(error)  # an error's own text may hold braces: not formatted


def _on_message(message: tuple[float, dict], cluster=None) -> None:
    """A worker's word (Dask event topic cluster.TOPIC) about a run, or about itself as it joined `cluster`, called
    in the Dask client's thread."""
    _, msg = message
    if cluster is not None and ("refused" in msg or "accepted" in msg):
        cluster.note_worker(msg)
        return
    job = _registry.get(msg.get("job", ""))
    if job is None:
        return
    job.heard = time.time()
    for event in msg.get("events", ()):
        job.on_event(Event(**event))
    if "checkpoint" in msg:
        sent = msg["checkpoint"]
        job.keep_checkpoint(PackedCheckpoint(bytes(sent["weights"]), str(sent["meta"])), int(sent["epoch"]))
    if msg.get("running"):
        with job.lock:
            if job.status == Status.QUEUED:
                job.status = Status.RUNNING
